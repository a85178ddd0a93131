"""dlnotes-train as users run it: a subprocess, a -m sweep, and what a run leaves behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.cli.conftest import run_cli

KEYS = {
    "train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc",
    "epochs", "steps", "seconds", "diverged", "params", "overrides",
}  # fmt: skip


def events(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(
        str(run_dir), size_guidance={k: 0 for k in ("scalars", "histograms", "images", "tensors")}
    )
    acc.Reload()
    return acc


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cli")
    proc = run_cli(
        [
            "data=moons",
            "data.n_samples=200",
            "trainer.max_epochs=3",
            "trainer.log_every_n_steps=1",
            "callbacks.gradient_check.every_n_steps=2",
            "callbacks.histograms.every_n_epochs=1",
            "callbacks.decision_boundary.every_n_epochs=1",
        ],
        cwd,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (cwd / "outputs" / "runs").glob("*/*")
    return run_dir, proc


def test_run_folder_has_hydra_checkpoints_and_metrics(single_run):
    run_dir, proc = single_run
    assert run_dir.name.endswith("_data.n_samples=200,data=moons,trainer.max_epochs=3")
    assert (run_dir / ".hydra" / "config.yaml").exists()
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    assert (run_dir / "checkpoints" / "best.ckpt").exists()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) >= KEYS
    assert metrics["epochs"] == 3 and metrics["diverged"] is False
    assert metrics["params"] == 2 * 4 + 4 + 4 + 1  # shallow_mlp: 2 → 4 → 1
    assert "data=moons" in metrics["overrides"]
    # the path whole on one line (not wrapped at the terminal's width), ready to copy
    assert f"tensorboard --logdir {run_dir.resolve()}\n" in proc.stderr


def test_lightning_messages_show_once_and_reach_train_log(single_run):
    # Lightning's own console handler and Hydra's root console printed each line twice
    run_dir, proc = single_run
    assert (proc.stdout + proc.stderr).count("GPU available") == 1
    assert "GPU available" in (run_dir / "train.log").read_text()


def test_checkpoint_loads_with_weights_only(single_run):
    run_dir, _ = single_run
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert any(k.startswith("model.") for k in ckpt["state_dict"])


def test_event_files_hold_the_expected_tags(single_run):
    run_dir, _ = single_run
    acc = events(run_dir)
    tags = acc.Tags()
    scalars = set(tags["scalars"])
    for tag in ("train/loss", "val/loss", "train/acc", "val/acc", "test/loss", "test/acc",
                "train/loss_step", "gradcheck/max_rel_diff"):  # fmt: skip
        assert tag in scalars, tag
    assert any(t.startswith("lr-") for t in scalars)
    assert any(t.startswith("grad_norm/") for t in scalars)
    assert any(t.startswith("weight_norm/") for t in scalars)
    assert any(t.startswith("weights/") for t in tags["histograms"])
    assert any(t.startswith("grads/") for t in tags["histograms"])
    assert any(t.startswith("activations/") for t in tags["histograms"])
    assert "decision_boundary" in tags["images"]
    assert "confusion_matrix" in tags["images"]
    assert acc.PluginTagToContent("hparams")
    assert any(t.startswith("config") for t in acc.PluginTagToContent("text"))
    assert max(e.value for e in acc.Scalars("gradcheck/max_rel_diff")) < 1e-4


def test_metrics_json_agrees_with_the_logged_scalars(single_run):
    run_dir, _ = single_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    acc = events(run_dir)
    for tag, key in (("val/loss", "val_loss"), ("test/loss", "test_loss"), ("val/acc", "val_acc")):
        assert acc.Scalars(tag)[-1].value == pytest.approx(metrics[key], rel=1e-6)
    hp = acc.Scalars("hp/val_loss")[-1].value
    assert hp == pytest.approx(metrics["val_loss"], rel=1e-6)


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]])
def test_sweep_runs_every_job_in_its_own_folder(tmp_path, launcher):
    proc = run_cli(
        [
            "-m",
            *launcher,
            "data=moons",
            "data.n_samples=100",
            "model.activation=tanh,relu",
            "trainer.max_epochs=1",
            "callbacks=none",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    common = "data.n_samples=100,data=moons,model.activation={},trainer.max_epochs=1"
    assert jobs == ["0_" + common.format("tanh"), "1_" + common.format("relu")]
    for job in jobs:
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        assert metrics["epochs"] == 1 and metrics["val_loss"] is not None
    assert (sweep / "multirun.yaml").exists()


def test_two_runs_started_together_get_two_folders(tmp_path):
    args = [sys.executable, "-m", "dlnotes", "data=xor", "data.n_samples=64",
            "trainer.max_epochs=1", "callbacks=none", "print_config=false"]  # fmt: skip
    procs = [
        subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    runs = list((tmp_path / "outputs" / "runs").glob("*/*"))
    assert len(runs) == 2
    assert all((r / "metrics.json").exists() for r in runs)
