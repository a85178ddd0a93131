"""The one LightningModule of dlnotes: trains any :class:`dlnotes.models.Model`.

Thin glue: the maths (forward, loss, hand-written backward) is the model's; this class
only wires the Lightning loop, torchmetrics, and the optimizer/scheduler from config.
Logged tags: ``train/loss``, ``val/loss``, ``test/loss`` and ``…/acc`` for classification
(epoch means), ``train/loss_step`` every logging step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torchmetrics import MeanMetric
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy

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
        # keyed "<stage>_loss" / "<stage>_acc": a plain "train" key would shadow Module.train
        self.metrics = torch.nn.ModuleDict(
            {f"{s}_loss": MeanMetric(nan_strategy="disable") for s in STAGES}
        )
        self.classification = model.task in ("binary", "multiclass")
        if self.classification:
            acc = (
                BinaryAccuracy
                if model.task == "binary"
                else lambda: MulticlassAccuracy(num_classes=model.out_features, average="micro")
            )
            self.metrics.update({f"{s}_acc": acc() for s in STAGES})

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.model(X)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        X, Y = batch
        Z = self.model(X)
        J = self.model.loss(Z, Y)
        m = Y.shape[0]
        if stage == "train" and not torch.isfinite(J):
            # a diverged step: the DivergenceMonitor stops the run; the curves end here
            return J
        self.metrics[f"{stage}_loss"].update(J.detach(), weight=m)
        self.log(
            f"{stage}/loss",
            self.metrics[f"{stage}_loss"],
            on_step=False,
            on_epoch=True,
            batch_size=m,
        )
        if stage == "train":
            self.log("train/loss_step", J.detach(), on_step=True, on_epoch=False, batch_size=m)
        if self.classification:
            pred = self.model.predict(Z)
            self.metrics[f"{stage}_acc"].update(pred.reshape(-1), Y.reshape(-1).long())
            self.log(
                f"{stage}/acc",
                self.metrics[f"{stage}_acc"],
                on_step=False,
                on_epoch=True,
                batch_size=m,
            )
        return J

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

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
