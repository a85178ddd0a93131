"""The optimizer demo — notes 001, "Optimization → Adam, RMSProp, Adagrad": the same
network, data, initialization and learning rate, six update rules.

The deeplearning.ai "Optimization methods" assignment, reproduced: moons (its 300
training points, noise 0.2), [2, 5, 2, 1] ReLU-ReLU-sigmoid, He initialization,
α = 0.0007, mini-batches of 64, 10 000 epochs: mini-batch gradient descent 79.7 %,
momentum 79.7 %, Adam 94 % training accuracy.

:class:`ElapsedTime` logs ``time/elapsed`` (seconds since the start of training) against
the step, so that every loss curve can be drawn against wall time as well.

``dlnotes-report <sweep>`` adds the README's table and figure to the sweep's report.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Sampler

from dlnotes.data.base import collate_batch
from dlnotes.data.toy2d import MoonsDataModule
from dlnotes.experiments.common import (
    Run,
    fmt,
    markdown_table,
    read_scalars,
    save_png,
)
from dlnotes.training import plots
from dlnotes.training.callbacks import tensorboard_logger

PUBLISHED: dict[str, float] = {"gd": 0.797, "momentum": 0.797, "adam": 0.94}
"""The assignment's training accuracy after 10 000 epochs."""

VARIANTS = ("gd_full", "gd", "momentum", "rmsprop", "adagrad", "adam")
LABELS = {
    "gd_full": "batch GD (full batch)",
    "gd": "mini-batch GD",
    "momentum": "momentum β = 0.9",
    "rmsprop": "RMSProp",
    "adagrad": "Adagrad",
    "adam": "Adam",
}

STYLES: dict[str, dict[str, Any]] = {
    "gd_full": {"color": "k", "ls": "--"},
    "gd": {"color": "#ff7f0e", "ls": "-"},
    "momentum": {"color": "#2ca02c", "ls": ":", "lw": 1.8},
    "rmsprop": {"color": "#d62728", "ls": "-"},
    "adagrad": {"color": "#9467bd", "ls": "-"},
    "adam": {"color": "#8c564b", "ls": "-"},
}


class AssignmentMinibatches(Sampler[list[int]]):
    """The assignment's ``random_mini_batches``: at its e-th epoch (e = 1, 2, …) the
    ``m`` rows are shuffled by ``np.random.seed(seed + e); np.random.permutation(m)`` and
    cut in order into batches of ``batch_size`` (the last one smaller). ``seed`` = 10 as
    in the assignment's ``model``. Every ``iter()`` is one epoch."""

    def __init__(self, m: int, batch_size: int = 64, seed: int = 10) -> None:
        self.m, self.batch_size, self.seed = int(m), int(batch_size), int(seed)
        self.epoch = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        self.epoch += 1
        order = np.random.RandomState(self.seed + self.epoch).permutation(self.m)
        for k in range(0, self.m, self.batch_size):
            yield order[k : k + self.batch_size].tolist()

    def __len__(self) -> int:
        return -(-self.m // self.batch_size)


class AssignmentMoonsDataModule(MoonsDataModule):
    """:class:`~dlnotes.data.toy2d.MoonsDataModule` whose training batches come in the
    assignment's order (:class:`AssignmentMinibatches`); everything else unchanged.
    ``data._target_=dlnotes.experiments.optimizer.AssignmentMoonsDataModule``."""

    def train_dataloader(self) -> DataLoader:
        data = self.dataset("train")
        size = len(data) if self.batch_size == "full" else int(self.batch_size)
        return DataLoader(
            data,
            batch_sampler=AssignmentMinibatches(len(data), size),
            num_workers=self.num_workers,
            collate_fn=collate_batch,
        )


class ElapsedTime(Callback):
    """Log ``time/elapsed``: seconds since the start of training, every ``every_n_steps``
    optimizer steps (at the step count after the update) and once more at the end.

    Validation, checkpoints and the other callbacks' work are included: it is the time a
    person waits for the curve to get there.
    """

    def __init__(self, every_n_steps: int = 50) -> None:
        super().__init__()
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = int(every_n_steps)
        self._start: float | None = None
        self.last: tuple[int, float] | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()
        self._log(trainer, 0)

    def _log(self, trainer: pl.Trainer, step: int) -> None:
        if self._start is None:
            return
        elapsed = time.perf_counter() - self._start
        self.last = (step, elapsed)
        logger = tensorboard_logger(trainer)
        if logger is not None and trainer.is_global_zero:
            logger.experiment.add_scalar("time/elapsed", elapsed, step)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        step = trainer.global_step
        if step % self.every_n_steps == 0:
            self._log(trainer, step)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.last is None or self.last[0] != trainer.global_step:
            self._log(trainer, trainer.global_step)


# --------------------------------------------------------------------------- report
def variant_of(run: Run) -> str:
    return run.override("+experiment/optimizers") or run.override("experiment/optimizers") or "?"


def _order(run: Run) -> tuple[bool, int, str]:
    v = variant_of(run)
    numpy_draws = bool(run.get("callbacks.numpy_init.enabled", False))
    return (numpy_draws, VARIANTS.index(v) if v in VARIANTS else len(VARIANTS), run.path.name)


def curves(run: Run) -> dict[str, np.ndarray]:
    """``step``, ``epoch``, ``loss`` (the epoch's mean training cost) and ``seconds``
    (wall time at that step, interpolated from ``time/elapsed``)."""
    scalars = read_scalars(run.path, ["train/loss", "time/elapsed", "epoch"])
    loss = scalars.get("train/loss")
    if loss is None or not len(loss):
        return {}
    out = {"step": loss[:, 0], "loss": loss[:, 1]}
    elapsed = scalars.get("time/elapsed")
    if elapsed is not None and len(elapsed):
        out["seconds"] = np.interp(loss[:, 0], elapsed[:, 0], elapsed[:, 1])
    return out


def results_table(runs: Sequence[Run]) -> str:
    rows = []
    for run in sorted(runs, key=_order):
        v = variant_of(run)
        steps, seconds = run.metrics.get("steps") or 0, run.metrics.get("seconds") or 0.0
        batch = run.get("data.batch_size")
        numpy_draws = bool(run.get("callbacks.numpy_init.enabled", False))
        rows.append(
            [
                LABELS.get(v, v),
                "NumPy seed 3 (assignment)"
                if numpy_draws
                else f"dlnotes.init, seed {run.get('seed')}",
                "300 (full)" if batch == "full" else batch,
                fmt(PUBLISHED.get(v)),
                f"**{fmt(run.train_acc)}**",
                fmt(run.metrics.get("val_acc")),
                fmt((run.train_eval or {}).get("train_loss", run.metrics.get("train_loss")), 4),
                run.metrics.get("epochs"),
                steps,
                f"{seconds:.0f}",
                f"{1000 * seconds / max(steps, 1):.1f}",
            ]
        )
    headers = [
        "optimizer (α = 0.0007)",
        "He weights drawn by",
        "batch",
        "published train acc",
        "ours train acc",
        "val acc",
        "final cost",
        "epochs",
        "steps",
        "fit s",
        "ms / step",
    ]
    return markdown_table(headers, rows)


def figure(runs: Sequence[Run], path: str | Path) -> Path:
    """Training cost against optimizer steps and against wall time, one line per run."""
    fig = plots.new_figure((9.0, 3.2), dpi=90)
    ax_step, ax_time = fig.subplots(1, 2, sharey=True)
    for run in sorted(runs, key=_order):
        c = curves(run)
        if not c:
            continue
        v = variant_of(run)
        style = {"lw": 1.1, **STYLES.get(v, {}), "label": LABELS.get(v, v)}
        if run.get("callbacks.numpy_init.enabled", False):
            style.update(ls="--", lw=0.9, label=f"{style['label']} (NumPy draws)")
        ax_step.plot(c["step"] + 1, c["loss"], **style)
        if "seconds" in c:
            ax_time.plot(c["seconds"], c["loss"], **style)
    ax_step.set_xscale("log")
    ax_step.set_xlabel("optimizer steps + 1 (log)")
    ax_step.set_ylabel("training cost J (epoch mean)")
    ax_time.set_xlabel("wall time, s")
    ax_step.legend(fontsize=7)
    ax_step.set_title("cost against steps", fontsize=9)
    ax_time.set_title("cost against wall time", fontsize=9)
    return save_png(fig, path)


def report(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    """The README's table and figure."""
    runs = [*runs, *(reference or [])]
    figure(runs, out / "optimizer.png")
    return results_table(runs)
