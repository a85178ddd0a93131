"""A DDP job of a sweep on this machine: a single run of its own, in a child process.

Lightning starts DDP's ranks 1, 2, … by running the command line again, and a sweep's
command line (``dlnotes-train -m …``) is the whole sweep. A job whose trainer starts its
processes that way (``trainer=ddp_cpu``, ``trainer.devices=2``, see
``training/distributed.py``) therefore trains as

    dlnotes-train <the job's overrides> hydra.run.dir=<the job's folder>

in a child process: a DDP run as one started by hand, whose command Lightning runs again
for the other ranks. The sweep's process waits for it and reads the job's metrics.json,
which rank 0 writes; the job then ends as any other (ok, diverged, failed, interrupted),
so the basic and joblib launchers, Ctrl-C and ``resume=true`` work as for one-process jobs.

The child runs in a session of its own (where the job runs in its process's main
thread, as the basic and joblib launchers run it): a Ctrl-C (or SIGTERM) for the sweep
reaches the child's processes once, forwarded by the job, and they stop after their
batch as a DDP run does. Under the joblib launcher, ``threads=auto`` is resolved by the
job (the cores shared out among the workers and their ranks) and handed to the child.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from dlnotes.cli import sweep
from dlnotes.training.commands import override

ENV_CHILD = "DLNOTES_SWEEP_JOB"
"""Set in the child's environment: the sweep's job reports how the run ended."""

OWN = ("hydra.run.dir=", "hydra.output_subdir=", "print_config=", "resume=")
"""Overrides the job sets for its child itself."""


def command(
    cfg: DictConfig, run_dir: Path, overrides: list[str], launcher: Any | None
) -> list[str]:
    """The child's command line: this job's overrides as a single run in ``run_dir``.

    ``resume=true`` without a checkpoint in ``run_dir`` starts afresh, as a job of a
    continued sweep does. ``threads=auto`` becomes the count of this job's share of the
    machine, which the child alone cannot know (it does not see the joblib workers).
    """
    from dlnotes.training.threads import resolve_threads

    threads = None
    if cfg.get("threads") == "auto" and launcher is not None:
        threads = resolve_threads(cfg, launcher)
        # the child counts its own processes; it cannot see the other jobs of the sweep
        threads = None if threads == resolve_threads(cfg, None) else threads
    own = (*OWN, "threads=") if threads is not None else OWN
    keep = [o for o in overrides if not o.lstrip("+~").startswith(own)]
    settings = [
        override("hydra.run.dir", run_dir.resolve()),
        "hydra.output_subdir=null",  # the sweep wrote the job's .hydra
        "print_config=false",  # the job printed it
    ]
    if cfg.get("resume"):  # a job of a continued sweep without a checkpoint starts afresh
        resume = (run_dir / "checkpoints" / "last.ckpt").is_file()
        settings.append(f"resume={str(resume).lower()}")
    if threads is not None:
        settings.append(f"threads={threads}")
    return [sys.executable, "-m", "dlnotes", *keep, *settings]


def run(
    cfg: DictConfig,
    run_dir: Path,
    overrides: list[str],
    choices: dict[str, str],
    launcher: Any | None = None,
) -> dict[str, Any]:
    """Train the job in a child process and return its metrics.json, as
    :func:`~dlnotes.training.run.train` does (and with its exceptions: ConfigError,
    RunInterrupted, RunFailed); the record's overrides are the job's."""
    from hydra.utils import get_original_cwd

    from dlnotes.cli.train import TRACEBACKS
    from dlnotes.training.distributed import check_accelerator, check_ddp_launch
    from dlnotes.training.metrics_file import failure_record, write_json
    from dlnotes.training.run import RunFailed, interrupted_error, resume_command
    from dlnotes.training.validate import check_config

    check_config(cfg, choices, overrides)
    check_ddp_launch(cfg, multirun=True)
    check_accelerator(cfg)
    args = command(cfg, run_dir, overrides, launcher)
    env = {k: v for k, v in os.environ.items() if k not in (sweep.ENV_FILE, sweep.ENV_PID)}
    env[ENV_CHILD] = "1"
    if not TRACEBACKS["on"]:  # main() set it for Hydra; the child sets its own
        env.pop("HYDRA_FULL_ERROR", None)
    metrics = run_dir / "metrics.json"
    metrics.unlink(missing_ok=True)  # a record of an earlier try of this job
    # signals are the main thread's: elsewhere (a launcher's thread), and where there are
    # no process groups to send them to (Windows), the child stays in this process's
    # group, where the terminal's Ctrl-C reaches it directly
    forwarding = threading.current_thread() is threading.main_thread() and hasattr(os, "killpg")
    child = subprocess.Popen(args, cwd=get_original_cwd(), env=env, start_new_session=forwarding)
    with _forwarding_signals(child) if forwarding else contextlib.nullcontext():
        code = child.wait()
    try:
        record = json.loads(metrics.read_text())
    except (OSError, ValueError):
        message = (
            f"the job's DDP run ({Path(args[0]).name} -m dlnotes …) ended with exit code "
            f"{code} and wrote no metrics.json; its output above says why."
        )
        write_json(metrics, failure_record(message, overrides))
        raise RunFailed(message) from None
    record["overrides"] = overrides
    if record.get("resume_command"):
        record["resume_command"] = resume_command(run_dir, overrides)
    write_json(metrics, record)
    if record.get("status") == "interrupted":
        raise interrupted_error(record)
    if record.get("status") == "failed":
        raise RunFailed(str(record.get("error")))
    return record


@contextlib.contextmanager
def _forwarding_signals(child: subprocess.Popen) -> Iterator[None]:
    """While the child runs, Ctrl-C and SIGTERM of this process go to the child's
    processes (its session, which Lightning's other ranks join) instead."""

    def forward(signum: int, frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


FORWARDED = (signal.SIGINT, signal.SIGTERM)
"""The signals that stop a run (Ctrl-C and SIGTERM), passed on to the child."""
