"""Ctrl-C in a sweep: the running jobs stop after their batch and record how to continue,
the jobs not started are recorded as such, and dlnotes-train exits 130 with the command
that continues the sweep — with the basic launcher (jobs in the main process) and with
joblib (jobs in worker processes, which a raising main process would kill half-way).
That command resumes the interrupted jobs exactly, starts the others and keeps the ended
ones."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra.utils import instantiate

from dlnotes.cli import sweep
from dlnotes.training.report import load_jobs
from tests.training.test_resume import EpochFile

EPOCHS = 300  # 3 steps each: a few seconds a job, the Ctrl-C comes after the first epoch
RUN = ["data=moons", f"trainer.max_epochs={EPOCHS}", "callbacks=none", "~logger",
       f"+callbacks.epochs._target_={EpochFile.__module__}.EpochFile", "print_config=false",
       "++trainer.enable_progress_bar=false"]  # fmt: skip
LAUNCHERS = {  # (overrides, jobs, jobs running at the Ctrl-C, steps an epoch)
    "basic": ([], 3, 1, 3),
    "joblib": (["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], 3, 2, 3),
    # each job a two-process DDP run in a child process (cli/ddp_job.py), which gets the
    # Ctrl-C from the job; each process reads half of the 180 training samples
    "ddp": (["trainer=ddp_cpu"], 2, 1, 2),
}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    return env


def _dlnotes(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlnotes", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _records(folder: Path) -> dict[str, dict]:
    return {p.parent.name[0]: json.loads(p.read_text()) for p in folder.glob("*/metrics.json")}


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_ctrl_c_stops_a_sweep_and_its_command_continues_it(tmp_path, launcher):
    extra, jobs, running, steps = LAUNCHERS[launcher]
    names = [str(job) for job in range(jobs)]
    hidden = ",".join(str(2 ** (job + 1)) for job in range(jobs))
    folder = tmp_path / "sweep"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlnotes", "-m", f"model.hidden={hidden}", *RUN, *extra,
         f"hydra.sweep.dir={folder}"],
        cwd=tmp_path, env=_env(), stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 200
    while len(list(folder.glob("*/epoch"))) < running and proc.poll() is None:
        assert time.time() < deadline, "the jobs did not start training"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C: to every process
    _, stderr = proc.communicate(timeout=200)
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "the sweep was interrupted" in stderr
    records = _records(folder)
    assert sorted(records) == names
    for job, record in records.items():
        assert record["status"] == "interrupted"
        if int(job) < running:  # stopped after its batch, with a checkpoint to continue
            assert 0 < record["steps"] < steps * EPOCHS and Path(record["checkpoint"]).is_file()
            assert "resume=true" in record["resume_command"]
        else:
            assert record["not_started"] and record["steps"] == 0
    if launcher == "ddp":  # Lightning ran the job's own command for rank 1
        assert len(list(folder.glob("0_*/train_ddp_process_1.log"))) == 1
    statuses = [job.status for job in load_jobs(folder, curves=False)]
    assert statuses.count("interrupted (not started)") == len(records) - running
    assert sum(status.startswith("interrupted (step ") for status in statuses) == running

    # the printed command: the interrupted jobs resume, the others start
    command = shlex.split(stderr.rpartition("continue it with: ")[2].strip())
    assert command[0] == "dlnotes-train" and "resume=true" in command
    done = _dlnotes(command[1:], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    finished = _records(folder)
    assert sorted(finished) == names
    assert all(r["status"] == "ok" and r["steps"] == steps * EPOCHS for r in finished.values())
    if launcher != "basic":  # what follows does not depend on the launcher
        return
    # job 0, resumed mid-run, ends as an uninterrupted run does
    whole = _dlnotes(["model.hidden=2", *RUN, f"hydra.run.dir={tmp_path / 'whole'}"], tmp_path)
    assert whole.returncode == 0, whole.stderr[-3000:]
    reference = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    for key in ("train_loss", "val_loss", "test_loss", "val_acc", "epochs", "steps"):
        assert finished["0"][key] == reference[key], key
    # once more: every job had ended, and is kept as it is
    again = _dlnotes(command[1:], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("kept as it is") == 3 and _records(folder) == finished


def test_resume_in_a_sweep_needs_the_sweep_folder(tmp_path):
    proc = _dlnotes(["-m", "resume=true", "trainer=fast"], tmp_path)  # a new sweep folder
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "resume=true in a sweep continues a sweep in its own folder" in proc.stderr
    assert "does not exist; add hydra.sweep.dir=<sweep folder>" in proc.stderr
    assert not (tmp_path / "outputs").exists()  # nothing trained


@pytest.mark.parametrize(
    ("launcher", "armed"),
    [([], True), (["hydra/launcher=joblib"], True), (["experiment=activation"], True),
     (["hydra/launcher=slurm"], False)],
)  # fmt: skip
def test_the_stop_is_armed_for_the_launchers_that_run_jobs_here(run_config, launcher, armed):
    cfg = run_config(*launcher)
    callback = instantiate(cfg.hydra.callbacks.sweep)
    previous = signal.getsignal(signal.SIGINT)
    try:
        callback.on_multirun_start(config=cfg)
        assert (sweep.ENV_FILE in os.environ) is armed
        assert (signal.getsignal(signal.SIGINT) is not previous) is armed
        assert not sweep.requested()
        if armed:
            sweep.request()
            assert sweep.requested()
    finally:
        assert sweep.disarm() is armed  # whether a stop was asked for
    assert sweep.ENV_FILE not in os.environ and signal.getsignal(signal.SIGINT) is previous
