"""The one LightningModule of dlnotes: trains any :class:`dlnotes.models.Model`.

Thin glue: the maths (forward, loss, hand-written backward) is the model's; this class
only wires the Lightning loop, the logged metrics, and the optimizer/scheduler from config.
Logged tags: ``train/loss``, ``val/loss``, ``test/loss`` and ``…/acc`` for classification
(epoch means), ``train/loss_step`` every logging step.

Cost: for the notes' small networks the bookkeeping around a step can cost as much as the
step. A ``self.log`` call moves the logged value's state to the device and books it (more
than a small MLP's forward), and a torchmetrics ``update`` runs its checks (~0.1 ms). So a
step only adds to running sums on the device — Σ J·m, Σ m, Σ correct — with no
host-device sync; the epoch means are formed from them once, at the end of the epoch
(summed over the processes under DDP); ``train/loss_step`` is logged only on the steps
the loggers write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch

from dlnotes.models import Model

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]
STAGES = ("train", "val", "test")


class Task(L.LightningModule):
    """Classification, regression and sequence training around ``model``.

    optimizer: a factory ``params → Optimizer`` (Hydra ``_partial_`` config).
    scheduler: optional factory ``optimizer → LRScheduler``; ``scheduler_monitor`` names
               the metric a ReduceLROnPlateau watches; ``scheduler_interval`` epoch|step.
    """

    def __init__(
        self,
        model: Model,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: str = "val/loss",
    ) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.scheduler_monitor = scheduler_monitor
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
        if stage == "train" and not torch.isfinite(J):
            # a diverged step: the DivergenceMonitor stops the run; the curves end here
            return J
        # the epoch means accumulate here and are logged in on_<stage>_epoch_end
        sums = self._sums.setdefault(stage, EpochSums())
        sums.add_loss(J.detach(), m)
        if self.classification:
            sums.add_correct(self.model.predict(Z).reshape(-1), Y.reshape(-1).long())
        if stage == "train" and self._loggers_write_this_step():
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
            checkpoint[EPOCH_SUMS_KEY] = vars(self._sums["train"]).copy()
        # and the last epoch means, for a run resumed after its fit had ended
        metrics = self.trainer.callback_metrics
        checkpoint[TRAIN_MEANS_KEY] = {
            k: float(v) for k, v in metrics.items() if k.startswith("train/") and v.numel() == 1
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(EPOCH_SUMS_KEY)
        if state is not None:
            self._sums["train"] = EpochSums(**state)
        self.restored_train_means = dict(checkpoint.get(TRAIN_MEANS_KEY) or {})

    def configure_optimizers(self) -> Any:
        opt = self.optimizer_factory(params=self.model.parameters())
        if self.scheduler_factory is None:
            return opt
        scheduler = {
            "scheduler": self.scheduler_factory(optimizer=opt),
            "interval": self.scheduler_interval,
            "monitor": self.scheduler_monitor,
        }
        return {"optimizer": opt, "lr_scheduler": scheduler}


EPOCH_SUMS_KEY = "dlnotes_train_epoch_sums"
"""Where a checkpoint keeps the running sums of the training epoch it interrupted."""
TRAIN_MEANS_KEY = "dlnotes_train_means"
"""Where a checkpoint keeps the last logged train/* epoch means."""


@dataclass
class EpochSums:
    """Running sums of one stage's epoch, kept on the model's device."""

    loss: torch.Tensor | None = None  # Σ J·m over batches (J: a batch's mean loss)
    m: int = 0  # Σ m, the samples
    correct: torch.Tensor | None = None  # Σ 1[prediction = label]
    n: int = 0  # the labels scored (m, or m·T for a label per time step)

    def add_loss(self, J: torch.Tensor, m: int) -> None:
        # .to: sums restored from a checkpoint come back on the CPU
        self.loss = J * m if self.loss is None else self.loss.to(J.device).add_(J * m)
        self.m += m

    def add_correct(self, pred: torch.Tensor, labels: torch.Tensor) -> None:
        hits = (pred == labels).sum()
        self.correct = hits if self.correct is None else self.correct.to(hits.device).add_(hits)
        self.n += labels.numel()

    def stacked(self, device: torch.device) -> torch.Tensor:
        """(Σ J·m, Σ m, Σ correct, n) as one tensor on ``device``: float64, so that the
        counts stay exact (float32 on Apple's MPS, which has no float64)."""
        dtype = torch.float32 if device.type == "mps" else torch.float64
        values = [
            self.loss if self.loss is not None else 0.0,
            self.m,
            self.correct if self.correct is not None else 0,
            self.n,
        ]
        return torch.stack([torch.as_tensor(v, dtype=dtype, device=device) for v in values])
