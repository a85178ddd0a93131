"""A sweep job that cannot run or fails is recorded as failed and the sweep goes on
(on_error=continue, the default); on_error=raise stops at the first failure; a diverged
single run exits with diverged_exit_code."""

from __future__ import annotations

import json

from dlnotes.training.report import load_jobs
from tests.cli.conftest import run_cli

TINY = ["data=moons", "data.n_samples=100", "trainer.max_epochs=2", "callbacks=none",
        "print_config=false"]  # fmt: skip


EARLY_STOPPING = "+callbacks.stop._target_=lightning.pytorch.callbacks.EarlyStopping"


def _monitor(overrides: list[str]) -> str:
    """The job's EarlyStopping monitor (the report leaves callbacks.* overrides out)."""
    return next(o.split("=", 1)[1] for o in overrides if o.startswith("+callbacks.stop.monitor"))


def test_failed_jobs_are_recorded_and_the_sweep_goes_on(tmp_path):
    # lr=-1: a config error; an EarlyStopping that watches val/nope fails at the end of
    # the first epoch (Lightning: the metric is not available)
    proc = run_cli(
        ["-m", *TINY, EARLY_STOPPING, "+callbacks.stop.monitor=val/loss,val/nope",
         "optimizer.lr=0.01,-1"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    (sweep,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    jobs = load_jobs(sweep, curves=False)
    by = {(j.overrides["optimizer.lr"], _monitor(j.metrics["overrides"])): j for j in jobs}
    assert len(jobs) == len(by) == 4
    ok = by["0.01", "val/loss"]
    assert ok.status == "ok" and ok.metrics["val_loss"] is not None
    runtime = by["0.01", "val/nope"]
    assert runtime.status == "failed" and "val/nope" in runtime.error
    assert runtime.metrics["status"] == "failed" and runtime.metrics["steps"] > 0
    assert "RuntimeError" in (runtime.path / "traceback.txt").read_text()
    for monitor in ("val/loss", "val/nope"):
        bad = by["-1", monitor]
        assert bad.status == "failed"
        assert bad.error.startswith("optimizer.lr=-1 is out of range")
        assert not (bad.path / "checkpoints").exists()
    assert proc.stderr.count("failed") >= 3 and "The sweep goes on." in proc.stderr


def test_on_error_raise_stops_the_sweep_at_the_first_failure(tmp_path):
    proc = run_cli(["-m", *TINY, "data.batch_size=0,16", "on_error=raise"], tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "dlnotes-train: data.batch_size=0 is out of range: "
        "data.batch_size must be an integer >= 1, or full."
    )
    (sweep,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    assert [p.name[:2] for p in sweep.iterdir() if p.is_dir()] == ["0_"]  # job 1 never ran


def test_diverged_single_run_exits_with_diverged_exit_code(tmp_path):
    proc = run_cli(
        ["data=adding", "data.n_samples=100", "data.seq_len=5", "model=deep_mlp",
         "model.activation=identity", "optimizer=sgd", "optimizer.lr=1e6",
         "trainer.max_epochs=3", "callbacks=none",
         "+callbacks.divergence._target_=dlnotes.training.callbacks.DivergenceMonitor",
         "print_config=false", "diverged_exit_code=3"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "dlnotes-train: the training loss diverged at step" in proc.stderr
    (run_dir,) = (tmp_path / "outputs" / "runs").glob("*/*")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["diverged"] is True
