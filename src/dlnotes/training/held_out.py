"""Runs without a validation or a test stage, and what watches a validation metric.

Validation is off when ``trainer.limit_val_batches=0`` or when the data has no validation
samples (``data.val_fraction=0``); the test stage likewise (``trainer.limit_test_batches=0``,
``data.test_fraction=0``). Such a run trains as usual and metrics.json records null for
that stage's metrics. What watches a validation metric adapts before anything runs:
``checkpoints/best.ckpt`` (lowest val/loss) is not kept, and a ReduceLROnPlateau or another
callback (EarlyStopping) watching a ``val/`` metric is refused in one sentence.

A ReduceLROnPlateau scheduler compares epoch metrics, so it steps once per epoch, and for a
``val/`` metric only after the epochs that validate (``trainer.check_val_every_n_epoch``):
without that, Lightning stops the run at the first epoch that does not validate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import lightning as L
from omegaconf import DictConfig

from dlnotes.data import InMemoryDataModule
from dlnotes.training.task import Task
from dlnotes.training.validate import ConfigError, did_you_mean

log = logging.getLogger(__name__)

STAGE_NAMES = {"val": "validation", "test": "test"}


@dataclass(frozen=True)
class HeldOut:
    """Which held-out stages a run has: ``val_off`` / ``test_off`` say why a stage never
    runs (None: it runs); ``scheduler_frequency`` is the epochs between two steps of the
    scheduler."""

    val_off: str | None = None
    test_off: str | None = None
    scheduler_frequency: int = 1

    def announce(self) -> None:
        """One log line per stage that is off."""
        if self.val_off:
            log.info(
                "No validation (%s): metrics.json records null val metrics and "
                "checkpoints/best.ckpt is not written.",
                self.val_off,
            )
        if self.test_off:
            log.info("No test (%s): metrics.json records null test metrics.", self.test_off)


def stage_off(cfg: DictConfig, datamodule: L.LightningDataModule, stage: str) -> str | None:
    """Why the ``"val"`` or ``"test"`` stage never runs, or None when it does."""
    limit = cfg.trainer.get(f"limit_{stage}_batches")
    if isinstance(limit, (int, float)) and not isinstance(limit, bool) and limit == 0:
        return f"trainer.limit_{stage}_batches={limit} switches it off"
    if isinstance(datamodule, InMemoryDataModule) and len(datamodule.dataset(stage)) == 0:
        fraction = cfg.data.get(f"{stage}_fraction")
        where = f"data.{stage}_fraction={fraction}" if fraction is not None else "the data"
        return f"{where} leaves no {STAGE_NAMES[stage]} samples"
    return None


def is_plateau(scheduler: Any) -> bool:
    """Whether the ``cfg.scheduler`` section builds a ReduceLROnPlateau."""
    return bool(scheduler) and str(scheduler.get("_target_", "")).endswith("ReduceLROnPlateau")


def epoch_metrics(classification: bool) -> tuple[str, ...]:
    """The epoch metrics the Task logs, which a plateau scheduler can watch."""
    losses = ("train/loss", "val/loss")
    return (*losses, "train/acc", "val/acc") if classification else losses


def plan(
    cfg: DictConfig,
    datamodule: L.LightningDataModule,
    classification: bool,
    scheduler_label: str = "scheduler",
) -> HeldOut:
    """The held-out stages of the run, and the scheduler's step frequency; a plateau
    scheduler that cannot work in this run is a :class:`ConfigError` (nothing written)."""
    val_off = stage_off(cfg, datamodule, "val")
    test_off = stage_off(cfg, datamodule, "test")
    if val_off:
        _check_callbacks(cfg, val_off)
    frequency = 1
    if is_plateau(cfg.get("scheduler")):
        monitor = str(cfg.scheduler.get("monitor", "val/loss"))
        _check_plateau(cfg, monitor, val_off, classification, scheduler_label)
        if monitor.startswith("val/"):
            frequency = int(cfg.trainer.get("check_val_every_n_epoch") or 1)
    return HeldOut(val_off, test_off, frequency)


def _check_callbacks(cfg: DictConfig, val_off: str) -> None:
    """A callback other than a checkpoint (EarlyStopping, …) that watches a ``val/``
    metric cannot run without validation."""
    for name, entry in (cfg.get("callbacks") or {}).items():
        if not entry or "_target_" not in entry:
            continue
        monitor = str(entry.get("monitor") or "")
        if monitor.startswith("val/") and not str(entry["_target_"]).endswith("ModelCheckpoint"):
            raise ConfigError(
                f"callbacks.{name} watches callbacks.{name}.monitor={monitor}, but this run "
                f"has no validation ({val_off}); watch the training loss with "
                f"callbacks.{name}.monitor=train/loss, drop it with callbacks.{name}=null, "
                f"or keep a validation set."
            )


def _check_plateau(
    cfg: DictConfig, monitor: str, val_off: str | None, classification: bool, label: str
) -> None:
    if cfg.scheduler.get("interval", "epoch") == "step":
        raise ConfigError(
            f"scheduler.interval=step does not fit {label}: ReduceLROnPlateau compares epoch "
            f"metrics ({monitor}); use scheduler.interval=epoch."
        )
    known = epoch_metrics(classification)
    # a demo's own task (task=...) logs its own tags
    if _uses_task(cfg) and monitor not in known:
        why = " (a regression run logs no accuracy)" if monitor.endswith("/acc") else ""
        raise ConfigError(
            f"scheduler.monitor={monitor} is not a metric of this run"
            f"{why or did_you_mean(monitor, known)}; use one of {', '.join(known)}."
        )
    if monitor.startswith("val/") and val_off:
        raise ConfigError(
            f"{label} watches scheduler.monitor={monitor}, but this run has no validation "
            f"({val_off}); watch the training loss with scheduler.monitor=train/loss, or "
            f"keep a validation set."
        )


def _uses_task(cfg: DictConfig) -> bool:
    """Whether the run's LightningModule is the :class:`Task` (the default ``task``)."""
    target = (cfg.get("task") or {}).get("_target_", f"{Task.__module__}.Task")
    return str(target) == f"{Task.__module__}.Task"
