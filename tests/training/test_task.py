"""The Task's epoch means: the running sums a step hands in, the batches of a diverged
run left out of them, and the sums a checkpoint carries."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from dlnotes.models import DeepMLP
from dlnotes.training.callbacks import DivergenceMonitor
from dlnotes.training.task import FOLD_EVERY, EpochSums, Task
from tests.training.test_callbacks import fit as callbacks_fit

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*does not have many workers.*"),
    pytest.mark.filterwarnings("ignore:.*smaller than the logging interval.*"),
    pytest.mark.filterwarnings("ignore:.*no `val_dataloader`.*"),
]


class Losses(L.Callback):
    """The loss and batch size of every training step, as the Task returned them."""

    def __init__(self) -> None:
        self.steps: list[tuple[float, int]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps.append((float(outputs["loss"]), batch[1].shape[0]))


def fit(lr: float, callbacks: list[L.Callback], epochs: int = 3) -> L.Trainer:
    torch.manual_seed(0)
    X, Y = torch.randn(70, 3), torch.randint(3, (70,))  # batches of 16, 16, 16, 16, 6
    model = DeepMLP(3, hidden=[16, 16], activation="identity", out_features=3)
    loader = DataLoader(TensorDataset(X, Y), batch_size=16)
    return callbacks_fit(
        None, model, None, callbacks, max_steps=-1, max_epochs=epochs, lr=lr, logger=False,
        train_dataloaders=loader,
    )  # fmt: skip


def test_train_loss_is_the_sample_weighted_mean_of_the_last_epoch():
    losses = Losses()
    trainer = fit(0.1, [losses])
    last = losses.steps[-5:]  # the last epoch's 5 batches, the last one of 6 samples
    expected = sum(J * m for J, m in last) / sum(m for _, m in last)
    assert float(trainer.callback_metrics["train/loss"]) == pytest.approx(expected, rel=1e-6)
    assert 0 <= float(trainer.callback_metrics["train/acc"]) <= 1


def test_a_diverged_run_stops_and_its_curve_ends_with_the_finite_batches():
    losses, monitor = Losses(), DivergenceMonitor()
    trainer = fit(1e6, [losses, monitor])
    # within the first epoch (5 batches), whose mean is then the last point of the curve
    assert monitor.diverged and trainer.global_step == monitor.diverged_step < 5
    finite = [(J, m) for J, m in losses.steps if math.isfinite(J)]
    assert 0 < len(finite) < len(losses.steps)  # the diverged batch is left out
    expected = sum(J * m for J, m in finite) / sum(m for _, m in finite)
    assert float(trainer.callback_metrics["train/loss"]) == pytest.approx(expected, rel=1e-6)


class HookNames(L.Callback):
    """The hook name Lightning has set on the module when the training batch starts."""

    def __init__(self) -> None:
        self.names: list[str | None] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.names.append(pl_module._current_fx_name)


def test_the_hook_name_is_a_plain_attribute_and_modules_still_register():
    task = Task(DeepMLP(3, hidden=[4], out_features=3), optimizer=torch.optim.SGD)
    task._current_fx_name = "training_step"  # Lightning's, around every hook call
    assert task.__dict__["_current_fx_name"] == "training_step"
    assert "_current_fx_name" not in task._modules and "_current_fx_name" not in task._buffers
    # every other attribute goes through nn.Module as before
    task.extra = torch.nn.Linear(2, 2)
    task.scale = torch.nn.Parameter(torch.ones(1))
    task.register_buffer("seen", torch.zeros(1))
    task.seen = torch.ones(1)
    assert task._modules["extra"] is task.extra and "scale" in dict(task.named_parameters())
    assert torch.equal(task._buffers["seen"], torch.ones(1)) and "seen" not in task.__dict__
    # and Lightning reads the name it set: the hook in progress
    names = HookNames()
    fit(0.1, [names], epochs=1)
    assert names.names and set(names.names) == {"on_train_batch_start"}


def test_epoch_sums_add_up_every_fold_every_steps_and_when_read():
    sums = EpochSums(finite_only=True)
    for i in range(2 * FOLD_EVERY + 3):
        J = torch.tensor(math.nan if i == 7 else 0.5)
        sums.add(J, 4, hits=torch.tensor(3), n=4)
        assert len(sums.pending) < FOLD_EVERY  # the tensors held stay bounded
    scored = 2 * FOLD_EVERY + 2  # all but the NaN batch
    assert sums.state() == {"loss": 0.5 * 4 * scored, "m": 4 * scored,
                            "correct": 3 * scored, "n": 4 * scored}  # fmt: skip
    assert sums.pending == []
    torch.testing.assert_close(
        sums.stacked(torch.device("cpu")),
        torch.tensor([2.0 * scored, 4 * scored, 3 * scored, 4 * scored], dtype=torch.float64),
    )


def test_epoch_sums_keep_non_finite_losses_outside_training():
    sums = EpochSums()  # validation and test: a NaN loss shows in the mean
    sums.add(torch.tensor(1.0), 2)
    sums.add(torch.tensor(math.inf), 2)
    assert sums.state() == {"loss": math.inf, "m": 4, "correct": 0, "n": 0}


def test_epoch_sums_restore_the_tensors_of_older_checkpoints():
    old = {"loss": torch.tensor(12.5), "m": 10, "correct": torch.tensor(7), "n": 10}
    sums = EpochSums.from_state(old, finite_only=True)
    assert sums.state() == {"loss": 12.5, "m": 10, "correct": 7, "n": 10} and sums.finite_only
    empty = EpochSums.from_state({"loss": None, "m": 0, "correct": None, "n": 0})
    assert empty.state() == {"loss": 0.0, "m": 0, "correct": 0, "n": 0}
