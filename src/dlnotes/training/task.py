"""The one LightningModule of dlnotes: trains any :class:`dlnotes.models.Model`.

Thin glue: the maths (forward, loss, hand-written backward) is the model's; this class
only wires the Lightning loop, the logged metrics, and the optimizer/scheduler from config.
Logged tags: ``train/loss``, ``val/loss``, ``test/loss`` and ``…/acc`` for classification
(epoch means), ``train/loss_step`` every logging step.

Cost: for the notes' small networks the bookkeeping around a step can cost as much as the
step. A ``self.log`` call moves the logged value's state to the device and books it (more
than a small MLP's forward), a torchmetrics ``update`` runs its checks (~0.1 ms), and every
tensor op costs several microseconds however small its tensor. So a step only keeps its
loss J and its count of correct predictions (two 0-d tensors: no arithmetic on them, no
host-device sync); every few hundred steps and at the end of the epoch they are copied to
the host at once and added up — Σ J·m, Σ m, Σ correct — leaving out, in training, the
batches whose loss is NaN or ±Inf (a diverged step: the DivergenceMonitor stops the run,
the curves end with the last finite batch). The epoch means are formed from the sums once,
at the end of the epoch (summed over the processes under DDP); ``train/loss_step`` is
logged only on the steps the loggers write.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch

from dlnotes.models import Model

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]
STAGES = ("train", "val", "test")
HOOK_NAME = "_current_fx_name"
"""The LightningModule attribute where Lightning keeps the name of the hook it runs."""


class PlainHookName:
    """Mixin for a LightningModule: the name of the hook in progress as a plain attribute.

    Lightning sets ``_current_fx_name`` before and after every hook call, ~40 times a
    training step; nn.Module's ``__setattr__`` first searches the parameters, buffers and
    submodules for it (~2.5 µs a call on a small CPU). This one attribute is stored
    directly, as Lightning stores those of its own result objects; every other attribute
    goes through nn.Module as before.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == HOOK_NAME:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


class Task(PlainHookName, L.LightningModule):
    """Classification, regression and sequence training around ``model``.

    optimizer: a factory ``params → Optimizer`` (Hydra ``_partial_`` config).
    scheduler: optional factory ``optimizer → LRScheduler``; ``scheduler_monitor`` names
               the metric a ReduceLROnPlateau watches; ``scheduler_interval`` epoch|step;
               ``scheduler_frequency``: intervals between two scheduler steps.
    """

    def __init__(
        self,
        model: Model,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: str = "val/loss",
        scheduler_frequency: int = 1,
    ) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.scheduler_monitor = scheduler_monitor
        self.scheduler_frequency = scheduler_frequency
        self.classification = model.task in ("binary", "multiclass")
        # the running sums of the epoch in progress, by stage
        self._sums: dict[str, EpochSums] = {}
        # train/* epoch means of the checkpoint a run resumed from (see on_load_checkpoint)
        self.restored_train_means: dict[str, float] = {}

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.model(X)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        X, Y = batch
        # forward propagation and the cost (one node for the dense models: Model.cost)
        Z, J = self.model.cost(X, Y)
        m = Y.shape[0]
        # the epoch means accumulate here and are logged in on_<stage>_epoch_end
        sums = self._sums.get(stage)
        if sums is None:
            # training leaves diverged batches out of its means (see EpochSums.fold)
            sums = self._sums[stage] = EpochSums(finite_only=stage == "train")
        hits, n = None, 0
        if self.classification:
            pred, labels = self.model.predict(Z).reshape(-1), Y.reshape(-1).long()
            hits, n = (pred == labels).sum(), labels.numel()
        sums.add(J.detach(), m, hits, n)
        # .item(): a host-device sync, only on the steps the loggers write (where a logger
        # writes the value, Lightning copies it to the host then anyway); a diverged
        # step's loss is not logged
        if stage == "train" and self._loggers_write_this_step() and math.isfinite(J.item()):
            self.log("train/loss_step", J.detach(), on_step=True, on_epoch=False, batch_size=m)
        return J

    def _loggers_write_this_step(self) -> bool:
        """Whether Lightning writes step metrics after this training step (every
        ``log_every_n_steps``; the check Lightning's own LearningRateMonitor makes)."""
        trainer = self.trainer
        return bool(trainer.fast_dev_run) or trainer._logger_connector.should_update_logs

    def _log_epoch(self, stage: str) -> None:
        """Log ``<stage>/loss`` (and ``<stage>/acc``), the means over the epoch's batches,
        and start the next epoch's sums."""
        sums = self._sums.pop(stage, None) or EpochSums()
        # one all-reduce of the four sums under DDP (every rank takes part, also one that
        # saw no batch): every process then logs the global means
        totals = self.trainer.strategy.reduce(sums.stacked(self.device), reduce_op="sum")
        loss, m, correct, n = totals.to(torch.float32)
        if m == 0:
            return  # nothing scored (a diverged first step): no point on the curve
        # J_epoch = Σ J·m / Σ m   (each batch's mean loss weighted by its samples)
        # sync_dist: the values are equal on every rank already; their mean changes nothing
        self.log(f"{stage}/loss", loss / m, sync_dist=True)
        if self.classification:
            # accuracy = Σ 1[prediction = label] / number of labels
            self.log(f"{stage}/acc", correct / n, sync_dist=True)

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # a checkpoint taken mid-epoch (Ctrl-C, SIGTERM) carries the epoch's running sums,
        # so that a resumed run logs the same epoch means as an uninterrupted one
        if "train" in self._sums:
            checkpoint[EPOCH_SUMS_KEY] = self._sums["train"].state()
        # and the last epoch means, for a run resumed after its fit had ended
        metrics = self.trainer.callback_metrics
        checkpoint[TRAIN_MEANS_KEY] = {
            k: float(v) for k, v in metrics.items() if k.startswith("train/") and v.numel() == 1
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(EPOCH_SUMS_KEY)
        if state is not None:
            self._sums["train"] = EpochSums.from_state(state, finite_only=True)
        self.restored_train_means = dict(checkpoint.get(TRAIN_MEANS_KEY) or {})

    def configure_optimizers(self) -> Any:
        opt = self.optimizer_factory(params=self.model.parameters())
        if self.scheduler_factory is None:
            return opt
        scheduler = {
            "scheduler": self.scheduler_factory(optimizer=opt),
            "interval": self.scheduler_interval,
            "monitor": self.scheduler_monitor,
            "frequency": self.scheduler_frequency,
        }
        return {"optimizer": opt, "lr_scheduler": scheduler}


EPOCH_SUMS_KEY = "dlnotes_train_epoch_sums"
"""Where a checkpoint keeps the running sums of the training epoch it interrupted."""
TRAIN_MEANS_KEY = "dlnotes_train_means"
"""Where a checkpoint keeps the last logged train/* epoch means."""


FOLD_EVERY = 256
"""Steps whose tensors :class:`EpochSums` holds before it adds them up on the host."""


@dataclass
class EpochSums:
    """Running sums of one stage's epoch, on the host.

    A step hands in its tensors (:meth:`add`); they are copied to the host and added up
    every :data:`FOLD_EVERY` steps and whenever the sums are read (:meth:`fold`), so a step
    costs no tensor op and no host-device sync.
    """

    loss: float = 0.0  # Σ J·m over batches (J: a batch's mean loss)
    m: int = 0  # Σ m, the samples
    correct: int = 0  # Σ 1[prediction = label]
    n: int = 0  # the labels scored (m, or m·T for a label per time step)
    finite_only: bool = False  # leave out the batches whose loss is NaN or ±Inf
    # (J, m, Σ correct or None, labels) of the steps not added up yet
    pending: list[tuple[torch.Tensor, int, torch.Tensor | None, int]] = field(
        default_factory=list, repr=False
    )

    def add(self, J: torch.Tensor, m: int, hits: torch.Tensor | None = None, n: int = 0) -> None:
        """One batch: its mean loss J (0-d), m samples, ``hits`` correct predictions
        (0-d, None when nothing is classified) out of ``n`` labels."""
        self.pending.append((J, m, hits, n))
        if len(self.pending) >= FOLD_EVERY:  # bounds the tensors held
            self.fold()

    def fold(self) -> None:
        """Add the pending batches to the sums: one copy to the host for all of them."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        losses = torch.stack([J for J, *_ in pending]).tolist()
        hits = [h for _, _, h, _ in pending if h is not None]
        counts = torch.stack(hits).tolist() if len(hits) == len(pending) else [0] * len(pending)
        for J, (_, m, _, n), hit in zip(losses, pending, counts, strict=True):
            if self.finite_only and not math.isfinite(J):
                continue  # a diverged step: the curves end with the last finite batch
            self.loss += J * m
            self.m += m
            self.correct += int(hit)
            self.n += n

    def state(self) -> dict[str, float | int]:
        """The sums, for a checkpoint (:meth:`from_state` restores them)."""
        self.fold()
        return {"loss": self.loss, "m": self.m, "correct": self.correct, "n": self.n}

    @classmethod
    def from_state(cls, state: dict[str, Any], finite_only: bool = False) -> EpochSums:
        """The sums of :meth:`state`; also those of older checkpoints, which kept Σ J·m and
        Σ correct as tensors (None before the first batch)."""

        def number(key: str) -> Any:
            value = state.get(key)
            return 0 if value is None else value.item() if torch.is_tensor(value) else value

        return cls(
            loss=float(number("loss")),
            m=int(number("m")),
            correct=int(number("correct")),
            n=int(number("n")),
            finite_only=finite_only,
        )

    def stacked(self, device: torch.device) -> torch.Tensor:
        """(Σ J·m, Σ m, Σ correct, n) as one tensor on ``device``: float64, so that the
        counts stay exact (float32 on Apple's MPS, which has no float64)."""
        self.fold()
        dtype = torch.float32 if device.type == "mps" else torch.float64
        return torch.tensor([self.loss, self.m, self.correct, self.n], dtype=dtype, device=device)
