"""Section "lightning": the cost of our framework layer on one model and one data set.

The same deep MLP (784 → 64 → 64 → 10, hand-written backward) is trained for the same
200 SGD steps on the same in-memory batches (128 samples, served by the data loader of
``dlnotes-train``, one indexing operation a batch): by a plain PyTorch loop
(zero_grad, cost, backward, step), and by ``Trainer.fit`` of our
:class:`~dlnotes.training.task.Task` without a logger and with the TensorBoard logger of
``dlnotes-train`` (metrics logged every 10 steps). Every side computes the step as the
Task does (:meth:`~dlnotes.models.Model.cost`). Each sample is one fit; the time is that of
the fit alone (building the Trainer is left out), and the row reports the throughput in
samples per second and the time ratio to the plain loop. A fit of a bare LightningModule
(training_step returns the loss, nothing logged, no callback) separates Lightning's own
per-step cost from what our Task adds. Two more rows time LeNet-5 on MNIST-sized images
(50 steps, plain loop vs Task fit): Lightning's cost per step is about fixed, so a step
that computes more pays a smaller share of it (these rows have no target).

The Trainer is built as ``dlnotes-train`` builds it: with the settings of
``conf/trainer/default.yaml`` (read from that file) and, for the Task, the
:class:`~dlnotes.training.callbacks.DivergenceMonitor` of the default callbacks, which
takes part in every step. The other default callbacks are left out: the progress bar, the
model summary, the checkpoints and the figure callbacks.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import tempfile
import time
import warnings
from collections.abc import Iterator
from importlib import resources
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from dlnotes.bench import targets
from dlnotes.bench.models import MNIST, TINY_IMG
from dlnotes.bench.timing import time_interleaved
from dlnotes.data.base import TensorBatchDataset, collate_batch
from dlnotes.data.loader import ResumableDataLoader
from dlnotes.models import MODELS, DeepMLP, Model
from dlnotes.training.callbacks import DivergenceMonitor
from dlnotes.training.task import Task


def tensor_data(samples: int, shape: tuple[int, ...], classes: int) -> TensorBatchDataset:
    """X: (samples, *shape) standard normal and labels in [0, classes), from seed 0, as
    dlnotes-train holds its in-memory data: a batch is one indexing operation (a
    TensorDataset's per-sample lookups and stack would cost more than the step here)."""
    g = torch.Generator().manual_seed(0)
    X, Y = (
        torch.randn(samples, *shape, generator=g),
        torch.randint(classes, (samples,), generator=g),
    )
    return TensorBatchDataset(X, Y)


def _loader(samples: int, shape: tuple[int, ...], classes: int, batch: int) -> DataLoader:
    """The batches of :func:`tensor_data`, served as dlnotes-train serves them."""
    data = tensor_data(samples, shape, classes)
    return ResumableDataLoader(data, batch_size=batch, shuffle=False, collate_fn=collate_batch)


def plain_loop(model: Model, loader: DataLoader, epochs: int, lr: float) -> float:
    """Seconds of ``epochs`` passes of the textbook loop."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    start = time.perf_counter()
    for _ in range(epochs):
        for X, Y in loader:
            opt.zero_grad(set_to_none=True)
            model.cost(X, Y)[1].backward()
            opt.step()
    return time.perf_counter() - start


class BareModule(L.LightningModule):
    """The least a LightningModule can be: training_step returns the loss, nothing is
    logged. Its fit is Lightning's own cost; Task's on top of it is ours."""

    def __init__(self, model: Model, lr: float) -> None:
        super().__init__()
        self.model, self.lr = model, lr

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        X, Y = batch
        return self.model.cost(X, Y)[1]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.model.parameters(), lr=self.lr)


def lightning_fit(
    model: Model,
    loader: DataLoader,
    epochs: int,
    lr: float,
    log_dir: str | None,
    bare: bool = False,
) -> float:
    """Seconds of ``Trainer.fit`` of a Task (or of :class:`BareModule`) over the same
    batches; the Trainer is built before the clock starts."""
    optimizer = functools.partial(torch.optim.SGD, lr=lr)
    task = BareModule(model, lr) if bare else Task(model, optimizer=optimizer)
    logger = TensorBoardLogger(log_dir, name="", version="") if log_dir else False
    trainer = bench_trainer(epochs, logger, [] if bare else [DivergenceMonitor()])
    start = time.perf_counter()
    trainer.fit(task, train_dataloaders=loader)
    return time.perf_counter() - start


def bench_trainer(
    epochs: int, logger: Any, callbacks: list[L.Callback], **settings: Any
) -> L.Trainer:
    """A Trainer with the settings of :func:`trainer_settings` for ``epochs`` epochs,
    ``logger`` (or False) and ``callbacks`` only: no checkpoints, progress bar or model
    summary; ``settings`` add to them (devices, strategy)."""
    return L.Trainer(
        **{
            **trainer_settings(),
            "max_epochs": epochs,
            "logger": logger,
            "callbacks": callbacks,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            **settings,
        }
    )


def trainer_settings() -> dict[str, Any]:
    """The Trainer settings of ``conf/trainer/default.yaml``, which ``dlnotes-train`` runs
    with (deterministic algorithms, gradient clipping, precision, logging interval, …),
    less the run's length and output folder, which the benchmark sets itself."""
    path = resources.files("dlnotes.conf") / "trainer" / "default.yaml"
    settings = OmegaConf.to_container(OmegaConf.create(path.read_text()), resolve=False)
    assert isinstance(settings, dict)
    for key in ("_target_", "max_epochs", "max_steps", "default_root_dir"):
        settings.pop(key, None)
    return {str(k): v for k, v in settings.items()}


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Without Lightning's banner and advice, which it prints once per fit."""
    log = logging.getLogger("lightning.pytorch")
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for message in ("does not have many workers", "no `val_dataloader`",
                            "smaller than the logging interval", "treespec, LeafSpec"):  # fmt: skip
                warnings.filterwarnings("ignore", message=f".*{message}.*")
            yield
    finally:
        log.setLevel(level)


def run(repeats: int, tiny: bool = False, batch: int = 128) -> list[dict[str, Any]]:
    """Plain loop, fit without logger, fit with TensorBoard: interleaved fits."""
    # Trainer(deterministic=...) switches PyTorch's deterministic algorithms on for the
    # whole process; the sections that follow get the setting they started with
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        with quiet_lightning():
            return _run(repeats, tiny, batch)
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def _run(repeats: int, tiny: bool, batch: int) -> list[dict[str, Any]]:
    batches, epochs = (2, 2) if tiny else (50, 4)
    features, hidden = (12, [4]) if tiny else (784, [64, 64])
    loader = _loader(batches * batch, (features,), 10, batch)
    torch.manual_seed(0)
    base = DeepMLP(features, hidden=hidden, out_features=10)
    lr = 0.01
    with tempfile.TemporaryDirectory() as log_dir:
        fns = {
            "plain": lambda: plain_loop(copy.deepcopy(base), loader, epochs, lr),
            "fit, bare LightningModule": lambda: lightning_fit(
                copy.deepcopy(base), loader, epochs, lr, None, bare=True
            ),
            "fit": lambda: lightning_fit(copy.deepcopy(base), loader, epochs, lr, None),
            "fit + tensorboard": lambda: lightning_fit(
                copy.deepcopy(base), loader, epochs, lr, log_dir
            ),
        }
        stats = time_interleaved(fns, repeats, warmup=1, min_sample_s=0.0)
    # the target is for dlnotes' Task; the bare module shows Lightning's own share
    rows = _rows(stats, "plain", batches * epochs, batch, with_target=True)
    return rows + _lenet_rows(repeats, tiny, batch, lr)


def _lenet_rows(repeats: int, tiny: bool, batch: int, lr: float) -> list[dict[str, Any]]:
    """Plain loop vs Task fit of LeNet-5, 50 steps (no target: how the share scales)."""
    batches, epochs = (2, 1) if tiny else (25, 2)
    spec = TINY_IMG if tiny else MNIST
    shape = (spec.in_channels or 1, *(spec.image_size or (28, 28)))
    loader = _loader(batches * batch, shape, spec.out_features, batch)
    torch.manual_seed(0)
    base = MODELS["lenet"].from_data(spec)
    fns = {
        "plain, LeNet": lambda: plain_loop(copy.deepcopy(base), loader, epochs, lr),
        "fit, LeNet": lambda: lightning_fit(copy.deepcopy(base), loader, epochs, lr, None),
    }
    stats = time_interleaved(fns, repeats, warmup=1, min_sample_s=0.0)
    return _rows(stats, "plain, LeNet", batches * epochs, batch, with_target=False)


def _rows(
    stats: dict[str, Any], plain: str, steps: int, batch: int, with_target: bool
) -> list[dict[str, Any]]:
    """A row per timed loop: throughput, and the time ratio to the loop named ``plain``."""
    rows = []
    for name, s in stats.items():
        ratio = s.median / stats[plain].median
        fit = name.startswith("fit") and "bare" not in name
        target = targets.LIGHTNING if with_target and fit else None
        rows.append(
            {
                "loop": name,
                "steps": steps,
                "batch": batch,
                "seconds": s.as_dict(),
                "samples_per_s": steps * batch / s.median,
                "ms_per_step": 1e3 * s.median / steps,
                "ratio": ratio,
                "target": target,
                "time": targets.verdict(ratio, target),
            }
        )
    return rows
