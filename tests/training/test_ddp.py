"""Lightning DDP on the CPU (``trainer=ddp_cpu``, gloo, 2 processes) with the hand-written
backward: after N steps the weights equal single-process training on the global batch,
and so do the metrics (validation and test count every sample once, on uneven splits too).

Full-batch gradient descent makes the comparison exact in meaning: each of the two
processes gets half of the training set (DistributedSampler), computes the mean gradient
of its half with the manual backward, and DDP averages the two — the mean gradient of
the whole set, which is what the single process computes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from dlnotes.training.agreement import AgreementSchedule
from dlnotes.training.callbacks import DivergenceMonitor
from dlnotes.training.distributed import (
    check_ddp_launch,
    processes_started_outside,
    relaunches_command,
    runs_apart,
)
from dlnotes.training.interrupt import Interruption
from dlnotes.training.run import train
from dlnotes.training.validate import ConfigError
from tests.cli.conftest import compose_config
from tests.training.test_resume import BASE as RESUME_BASE
from tests.training.test_resume import NUMBERS as RESUME_NUMBERS
from tests.training.test_resume import SignalAt

STEPS = 4
# moons of 306 samples: 184 for training, an even split between the two processes, and
# 61 each for validation and test, which two processes cannot split evenly
OVERRIDES = [
    "model=deep_mlp",
    "model.hidden=[8]",
    "data=moons",
    "data.n_samples=306",
    "data.batch_size=full",
    "optimizer=sgd",
    "optimizer.lr=0.5",
    f"trainer.max_epochs={STEPS}",
    "trainer.check_val_every_n_epoch=null",
    "callbacks=none",
    "~logger",
    "print_config=false",
]


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    (ckpt,) = (run_dir / "checkpoints").glob("epoch=*.ckpt")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("model.")}


def test_ddp_weights_equal_single_process_on_the_global_batch(tmp_path):
    ddp_dir = tmp_path / "ddp"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlnotes",
            "trainer=ddp_cpu",
            *OVERRIDES,
            f"hydra.run.dir={ddp_dir}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=220,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Lightning re-ran the command for rank 1 into the same run folder (its own log file)
    assert (ddp_dir / "train_ddp_process_1.log").exists()
    assert proc.stderr.count("Run finished") == 1  # said by rank 0 alone
    metrics = json.loads((ddp_dir / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["steps"] == STEPS

    single_dir = tmp_path / "single"
    cfg = compose_config([*OVERRIDES], single_dir)
    result = train(cfg, single_dir, OVERRIDES)
    assert result["steps"] == STEPS
    # every validation and test sample counted once: DDP's metrics are single-process's
    for key in ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc"):
        assert metrics[key] == pytest.approx(result[key], rel=1e-5, abs=1e-6), key

    ddp, single = _weights(ddp_dir), _weights(single_dir)
    assert ddp.keys() == single.keys() and ddp
    for name in ddp:
        # float32 sums in a different order: equal to rounding
        torch.testing.assert_close(ddp[name], single[name], atol=1e-5, rtol=1e-5, msg=name)
    # one step fewer gives other weights: the comparison resolves a single step
    fewer_dir = tmp_path / "fewer"
    fewer = [*OVERRIDES, f"trainer.max_epochs={STEPS - 1}"]
    train(compose_config(fewer, fewer_dir), fewer_dir, fewer)
    moved = _weights(fewer_dir)
    assert any((moved[k] - ddp[k]).abs().max() > 1e-3 for k in ddp)


RUNNER_VARIABLES = ("SLURM_NTASKS", "SLURM_JOB_NAME", "TORCHELASTIC_RUN_ID", "RANK", "LOCAL_RANK")


@pytest.fixture
def no_cluster_runner(monkeypatch):
    """A process that no cluster runner started (also when the suite runs inside one)."""
    for name in (*RUNNER_VARIABLES, "WORLD_SIZE", "LSB_JOBID", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_ddp_job_of_a_local_sweep_runs_apart_and_more_nodes_are_refused(
    tmp_path, no_cluster_runner
):
    cfg = compose_config(["trainer=ddp_cpu"], tmp_path)
    assert relaunches_command(cfg.trainer) and not processes_started_outside()
    assert runs_apart(cfg.trainer)  # a single run of its own (cli/ddp_job.py)
    check_ddp_launch(cfg, multirun=True)
    check_ddp_launch(cfg, multirun=False)
    single = compose_config([], tmp_path)
    assert not relaunches_command(single.trainer) and not runs_apart(single.trainer)
    # strategy "auto" picks the same DDP for more than one device
    assert runs_apart(compose_config(["trainer.devices=2"], tmp_path).trainer)
    # the other nodes' processes cannot be started from here
    nodes = compose_config(["trainer=ddp_cpu", "+trainer.num_nodes=2"], tmp_path)
    with pytest.raises(ConfigError, match=r"trainer\.num_nodes=2 needs processes on 2 machines"):
        check_ddp_launch(nodes, multirun=True)
    check_ddp_launch(nodes, multirun=False)  # the same command on every node, by hand
    spawn = compose_config(["trainer=ddp_cpu", "+trainer.strategy.start_method=spawn"], tmp_path)
    assert not relaunches_command(spawn.trainer)
    with pytest.raises(ConfigError, match="spawned processes"):
        check_ddp_launch(spawn, multirun=False)


def _launcher(target: str, **settings) -> dict:
    return {"_target_": target, **settings}


BASIC = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"


def test_the_child_of_a_ddp_job_runs_the_job_alone_in_its_folder(tmp_path, monkeypatch):
    from dlnotes.cli import ddp_job
    from dlnotes.training import threads

    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    job = ["trainer=ddp_cpu", "model.hidden=4", "print_config=true", "resume=true",
           "threads=auto"]  # fmt: skip
    run_dir = tmp_path / "0_model.hidden=4,trainer=ddp_cpu"
    cfg = compose_config(job, run_dir)
    args = ddp_job.command(cfg, run_dir, job, _launcher(BASIC))
    assert args[:3] == [sys.executable, "-m", "dlnotes"]
    # a single run in the job's folder (its name quoted for Hydra), printing no config;
    # without a checkpoint there, the job of a continued sweep starts afresh
    assert args[3:] == ["trainer=ddp_cpu", "model.hidden=4", "threads=auto",
                        f"hydra.run.dir='{run_dir}'", "hydra.output_subdir=null",
                        "print_config=false", "resume=false"]  # fmt: skip
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").touch()
    assert ddp_job.command(cfg, run_dir, job, _launcher(BASIC))[-1] == "resume=true"
    # two joblib workers of two processes each share 8 cores: 2 threads a process, which
    # the child, seeing only its own 2 processes (4 threads each), is told
    joblib = _launcher(JOBLIB, n_jobs=2)
    assert ddp_job.command(cfg, run_dir, job, joblib)[-1] == "threads=2"
    assert "threads=auto" not in ddp_job.command(cfg, run_dir, job, joblib)
    fixed = compose_config([*job, "threads=3"], run_dir)
    assert "threads=3" in ddp_job.command(fixed, run_dir, [*job, "threads=3"], joblib)


@pytest.mark.parametrize(
    "runner",
    [
        {"SLURM_NTASKS": "2", "SLURM_JOB_NAME": "dlnotes"},  # srun, as submitit starts a job
        {"TORCHELASTIC_RUN_ID": "1", "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2"},
    ],
    ids=["slurm", "torchrun"],
)
def test_ddp_sweep_jobs_run_where_a_cluster_runner_started_the_processes(
    tmp_path, no_cluster_runner, runner
):
    for name, value in runner.items():
        no_cluster_runner.setenv(name, value)
    assert processes_started_outside()  # Lightning launches no process: nothing relaunched
    cfg = compose_config(["trainer=ddp_cpu"], tmp_path)
    assert not runs_apart(cfg.trainer)  # the job trains in the sweep's process
    check_ddp_launch(cfg, multirun=True)


def test_an_interactive_slurm_shell_is_no_runner(no_cluster_runner):
    # `srun --pty bash`: Lightning starts the processes itself, so a sweep job runs apart
    no_cluster_runner.setenv("SLURM_NTASKS", "1")
    no_cluster_runner.setenv("SLURM_JOB_NAME", "bash")
    assert not processes_started_outside()


def _cli(args: list[str], run_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "dlnotes", *args, f"hydra.run.dir={run_dir}"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=220)


def test_ddp_run_interrupted_mid_epoch_resumes_to_the_uninterrupted_metrics(tmp_path):
    # test_resume's run (dropout, mini-batches, a step scheduler) on two processes: 4 steps
    # an epoch; Ctrl-C in both processes after step 9, which they agree on at the end of
    # their 10th batch (every 10 batches), in the middle of epoch 2
    args = ["trainer=ddp_cpu", *RESUME_BASE]
    assert _cli(args, tmp_path / "reference").returncode == 0
    signal_at = [f"+callbacks.interrupt._target_={SignalAt.__module__}.SignalAt",
                 "+callbacks.interrupt.step=9"]  # fmt: skip
    stopped = _cli([*args, *signal_at], tmp_path / "run")
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "interrupted" and record["steps"] == 10
    resumed = _cli([*args, "resume=true"], tmp_path / "run")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    reference, result = (json.loads((tmp_path / d / "metrics.json").read_text())
                         for d in ("reference", "run"))  # fmt: skip
    assert {k: result[k] for k in RESUME_NUMBERS} == {k: reference[k] for k in RESUME_NUMBERS}


@pytest.mark.parametrize(
    ("world_size", "rank", "lightning_calls", "second_stops_at_once"),
    [(1, 0, 1, True), (2, 0, 0, True), (2, 1, 0, False)],
    ids=["single", "ddp-rank-0", "ddp-rank-1"],
)
def test_signal_handlers_under_ddp_only_note_the_signal(
    tmp_path, world_size, rank, lightning_calls, second_stops_at_once
):
    """One process: the first Ctrl-C goes to Lightning's handler, the second stops at
    once. DDP: Lightning's handler (which broadcasts from inside the signal handler and
    can deadlock) is not called, the signal is only noted; a second Ctrl-C stops rank 0
    at once (Lightning then kills the others) and is ignored by the others."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    calls: list[int] = []
    try:
        signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))  # Lightning's
        interruption = Interruption(tmp_path)
        trainer = SimpleNamespace(world_size=world_size, global_rank=rank)
        interruption.on_train_start(trainer, None)
        os.kill(os.getpid(), signal.SIGINT)
        assert len(calls) == lightning_calls and interruption.stop_signal == "SIGINT"
        if second_stops_at_once:
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
        else:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
        assert len(calls) == lightning_calls and interruption.stop_signal == "SIGINT"
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


@pytest.fixture
def process_group():
    """A one-process gloo group: stands in for the process group of DDP."""
    store = torch.distributed.HashStore()
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        yield
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.parametrize(("noted", "stops"), [(None, False), ("SIGTERM", True)])
def test_ddp_processes_agree_on_a_stop_at_the_end_of_a_batch(tmp_path, process_group, noted, stops):
    """_agree all-reduces the noted signal (a one-process gloo group stands in for DDP)
    every n-th batch and raises Lightning's own stop flag, which ends the fit after that
    batch."""
    interruption = Interruption(tmp_path, agree_every_n_batches=3)
    interruption._signal = noted
    connector = SimpleNamespace(received_sigterm=False)
    trainer = SimpleNamespace(
        world_size=2, strategy=SimpleNamespace(root_device=torch.device("cpu")),
        _signal_connector=connector,
    )  # fmt: skip
    # they agree at the end of every third batch: the first two go on
    for batch in range(2):
        interruption.on_train_batch_end(trainer, None, None, None, batch)
        assert connector.received_sigterm is False
    interruption.on_train_batch_end(trainer, None, None, None, 2)
    assert connector.received_sigterm is stops
    assert interruption.stop_signal == noted


def test_the_processes_agree_every_n_batches_and_at_each_epoch_end():
    schedule = AgreementSchedule(every=3)
    # an epoch of 7 batches: batches 3 and 6, then the epoch end for batch 7
    assert [schedule.batch_end() for _ in range(7)] == [False, False, True] * 2 + [False]
    assert schedule.epoch_end() is True
    # the next epoch's batches 8, 9 (agreed on), 10; an epoch end right after an
    # agreement needs none
    assert [schedule.batch_end() for _ in range(2)] == [False, True]
    assert schedule.epoch_end() is False
    schedule.reset()
    assert schedule.epoch_end() is False and schedule.batch_end() is False
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=r"every must be an integer >= 1"):
            AgreementSchedule(bad)
    with pytest.raises(ValueError, match=r"agree_every_n_steps must be an integer >= 1"):
        DivergenceMonitor(agree_every_n_steps=0)


class OtherProcess:
    """Stands in for the all-gather of two DDP processes: stacks this process's tensor over
    what the other one noted (its first diverged step and loss); counts the collectives."""

    def __init__(self, noted: tuple[float, float]) -> None:
        self.noted, self.gathers = torch.tensor(noted, dtype=torch.float64), 0

    def __call__(self, tensor: torch.Tensor, processes: int) -> torch.Tensor:
        assert processes == 2
        self.gathers += 1
        return torch.stack([tensor, self.noted])


@pytest.mark.parametrize(
    ("other", "stops_at_batch", "step", "loss"),
    [
        ((float("inf"), float("nan")), 3, 3, float("nan")),  # this one diverged at step 3
        ((2.0, float("inf")), 3, 2, float("inf")),  # the other one earlier, at step 2
        ((float("inf"), float("nan")), None, None, None),  # neither
    ],
)
def test_ddp_processes_stop_together_at_the_earliest_divergence(
    monkeypatch, process_group, other, stops_at_batch, step, loss
):
    """Each process notes its own first diverged step; every 3rd batch and at the epoch end
    they gather what they noted (one collective), and all stop on the earliest one."""
    diverges = stops_at_batch is not None and step == 3
    losses = [1.0, 1.0, float("nan") if diverges else 1.0, 1.0]
    gather = OtherProcess(other)
    monkeypatch.setattr(DivergenceMonitor, "_gather", staticmethod(gather))
    trainer = SimpleNamespace(world_size=2, should_stop=False, global_step=0)
    module = SimpleNamespace(device=torch.device("cpu"))
    monitor = DivergenceMonitor(agree_every_n_steps=3)
    monitor.on_fit_start(trainer, module)
    for batch, value in enumerate(losses, start=1):
        trainer.global_step = batch
        monitor.on_train_batch_end(trainer, module, {"loss": torch.tensor(value)}, None, batch)
        assert trainer.should_stop is (stops_at_batch is not None and batch >= stops_at_batch)
        if trainer.should_stop:
            break
    else:
        monitor.on_train_epoch_end(trainer, module)
        assert gather.gathers == 2  # batch 3 and the epoch end, not one per batch
    assert monitor.diverged is (step is not None)
    assert monitor.diverged_step == step
    if loss is None:
        assert monitor.diverged_loss is None
    else:
        assert monitor.diverged_loss == pytest.approx(loss, nan_ok=True)
    assert monitor._warned == set()  # no hook failed behind the CallbackWarning guard


def test_a_diverging_ddp_run_stops_on_every_process_and_records_the_first_step(tmp_path):
    # 30 batches an epoch on each process; the loss is NaN after a few steps, which the
    # processes agree on at their 10th batch
    args = ["trainer=ddp_cpu", "data=adding", "data.n_samples=600", "data.seq_len=5",
            "data.batch_size=8", "model=deep_mlp", "model.activation=identity",
            "optimizer=sgd", "optimizer.lr=1e3", "trainer.max_epochs=3", "callbacks=none",
            "+callbacks.divergence._target_=dlnotes.training.callbacks.DivergenceMonitor",
            "~logger", "print_config=false"]  # fmt: skip
    proc = _cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["diverged"] is True
    first = metrics["diverged_step"]
    assert 1 <= first < 10 and metrics["steps"] == 10 and metrics["epochs"] == 1
    # Lightning's logger writes through Hydra's console (stdout) and the run's train.log
    assert f"the training loss is nan after {first} steps" in proc.stdout


@pytest.mark.parametrize(("local_rank", "ignored"), [(None, False), ("0", False), ("1", True)])
def test_ddp_processes_besides_rank_0_leave_ctrl_c_to_rank_0_until_the_fit(
    monkeypatch, local_rank, ignored
):
    """Ctrl-C while Lightning's second process is still starting used to kill it
    half-imported, upon which Lightning killed rank 0 with no record: that process now
    ignores Ctrl-C until Interruption's handlers take over, and rank 0 answers it."""
    import dlnotes.cli.train as cli

    seen = []
    monkeypatch.setattr(cli, "hydra_main", lambda: seen.append(signal.getsignal(signal.SIGINT)))
    monkeypatch.setattr(sys, "argv", ["dlnotes-train"])
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")  # main() sets it; restored afterwards
    monkeypatch.setitem(cli.TRACEBACKS, "on", cli.TRACEBACKS.get("on", False))
    if local_rank is None:
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", local_rank)
    handler = signal.getsignal(signal.SIGINT)
    try:
        cli.main()
    finally:
        signal.signal(signal.SIGINT, handler)
    assert (seen == [signal.SIG_IGN]) is ignored


def test_a_ddp_job_of_a_sweep_that_cannot_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    """The child's error (found when it reads the data) reaches the job through
    metrics.json: one sentence, said once, and the next job runs."""
    from tests.cli.conftest import run_cli

    folder = tmp_path / "sweep"
    args = ["-m", "trainer=ddp_cpu", "data=mnist", f"data.root={tmp_path / 'none'}",
            "model.hidden=2,4", "print_config=false", f"hydra.sweep.dir={folder}"]  # fmt: skip
    proc = run_cli(args, tmp_path, PYTHONWARNINGS="ignore")
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*/metrics.json"))]
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert all("data.root=" in r["error"] and "does not exist" in r["error"] for r in records)
    # the job's own overrides (as the sweep recorded them), not the child's
    (job,) = folder.glob("0_*")
    assert records[0]["overrides"] == OmegaConf.load(job / ".hydra" / "overrides.yaml")
    assert proc.stderr.count("does not exist") == 2  # once a job, by the job
    assert proc.stderr.count("The sweep goes on") == 2 and "Traceback" not in proc.stderr
