"""Runs without validation or test samples (trainer.limit_*_batches=0, data.*_fraction=0)
train and record null metrics for the missing stage; a plateau scheduler steps only after
the epochs that validate."""

from __future__ import annotations

import json

import pytest
from lightning.pytorch.callbacks import ModelCheckpoint

from dlnotes.training.run import build_checked, train

# default callbacks (best.ckpt among them), no logger, 2 short epochs
SMALL = ["data=moons", "data.n_samples=120", "trainer.max_epochs=2", "~logger",
         "print_config=false", "callbacks.progress_bar=null"]  # fmt: skip


def fit(run_config, tmp_path, *overrides: str) -> dict:
    cfg = run_config(*SMALL, *overrides)
    result = train(cfg, tmp_path, list(overrides))
    assert result == json.loads((tmp_path / "metrics.json").read_text())
    assert result["status"] == "ok" and result["epochs"] == 2
    return result


@pytest.mark.parametrize(
    "overrides",
    [["+trainer.limit_val_batches=0"], ["data.val_fraction=0"]],
    ids=["limit-val-batches", "val-fraction"],
)
def test_a_run_without_validation_trains_and_keeps_no_best_checkpoint(
    run_config, tmp_path, overrides
):
    cfg = run_config(*SMALL, *overrides)
    _, _, _, trainer, _ = build_checked(cfg, tmp_path, {})
    monitors = [c.monitor for c in trainer.callbacks if isinstance(c, ModelCheckpoint)]
    assert monitors == [None]  # last.ckpt only: best.ckpt would watch val/loss
    result = fit(run_config, tmp_path, *overrides)
    assert result["val_loss"] is None and result["val_acc"] is None
    assert result["train_loss"] is not None and result["test_loss"] is not None
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "checkpoints" / "best.ckpt").exists()


@pytest.mark.parametrize(
    "overrides",
    [["+trainer.limit_test_batches=0"], ["data.test_fraction=0"]],
    ids=["limit-test-batches", "test-fraction"],
)
def test_a_run_without_test_samples_records_null_test_metrics(run_config, tmp_path, overrides):
    result = fit(run_config, tmp_path, *overrides)
    assert result["test_loss"] is None and result["test_acc"] is None
    assert result["val_loss"] is not None
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()


def test_a_plateau_scheduler_steps_after_the_epochs_that_validate(run_config, tmp_path):
    """check_val_every_n_epoch=2: Lightning would stop the run at the end of epoch 1,
    which has no val/loss to compare, if the scheduler stepped every epoch."""
    overrides = ["scheduler=plateau", "trainer.check_val_every_n_epoch=2"]
    cfg = run_config(*SMALL, *overrides)
    _, _, task, _, _ = build_checked(cfg, tmp_path, {})
    assert task.configure_optimizers()["lr_scheduler"]["frequency"] == 2
    fit(run_config, tmp_path, *overrides)


def test_a_plateau_scheduler_on_the_training_loss_steps_every_epoch(run_config, tmp_path):
    overrides = ["scheduler=plateau", "scheduler.monitor=train/loss",
                 "trainer.check_val_every_n_epoch=2", "+trainer.limit_val_batches=0"]  # fmt: skip
    cfg = run_config(*SMALL, *overrides)
    _, _, task, _, _ = build_checked(cfg, tmp_path, {})
    assert task.configure_optimizers()["lr_scheduler"]["frequency"] == 1
    fit(run_config, tmp_path, *overrides)
