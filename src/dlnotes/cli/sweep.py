"""Stopping a sweep (``dlnotes-train -m``) with Ctrl-C, and continuing it.

**Stop.** The terminal sends Ctrl-C to every process of the command: the main one and,
with ``hydra/launcher=joblib``, its worker processes. A job whose fit is running stops
after its batch, writes ``last.ckpt`` and a metrics.json ``status: interrupted`` with the
command that continues it (as a single run does), and asks the sweep to stop; a job that
starts after that is recorded as interrupted at step 0 and not trained. The main process
lets its workers finish that, instead of stopping them half-way (joblib kills its workers
when the main process raises), prints the command that continues the sweep and exits
130. A second Ctrl-C stops at once.

The request is a file whose path the main process puts in the environment before the
workers start, so that every process of the sweep sees it. :class:`SweepCallback`, a
Hydra callback of ``conf/hydra/default.yaml``, arms it for the launchers whose jobs run on
this machine (basic, joblib); a cluster's jobs (``hydra/launcher=slurm``) do not get the
terminal's Ctrl-C, and the submitting process keeps Python's.

**Continue.** ``resume=true`` with ``hydra.sweep.dir=<the sweep's folder>`` runs the same
sweep again in its folder (``resume`` is left out of the jobs' folder names, so each job
finds its own): a job that had ended (``ok``, ``diverged``) is kept as it is, one with a
``last.ckpt`` continues from it (exactly, see ``training/interrupt.py``), and one without
(not started, failed before its first epoch) starts afresh.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from dlnotes.training.commands import override, shell_join

ENV_FILE = "DLNOTES_SWEEP_STOP"
"""The request file's path (it exists once a stop was asked for)."""
ENV_PID = "DLNOTES_SWEEP_PID"
"""The sweep's main process: other processes running jobs are workers."""

LOCAL_LAUNCHERS = ("BasicLauncher", "JoblibLauncher")
"""Hydra launchers (class names) whose jobs run on this machine, in reach of Ctrl-C."""

FINISHED = ("ok", "diverged")
"""Statuses of a job that a continued sweep keeps as it is."""

_STATE: dict[str, Any] = {"running": False, "previous": None, "sweep_dir": None}


class SweepCallback(Callback):
    """Hydra callback, before a sweep's jobs start: checks that ``resume=true`` names an
    existing sweep, and :func:`arm` where the jobs run on this machine."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if config.get("resume") and not sweep_dir.is_dir():
            # a SystemExit: Hydra turns a callback's exceptions into warnings
            from dlnotes.cli.train import Stop

            raise Stop(
                f"resume=true in a sweep continues a sweep in its own folder, and "
                f"hydra.sweep.dir={sweep_dir} does not exist; add "
                "hydra.sweep.dir=<sweep folder> (an interrupted sweep prints the whole command).",
                2,
            )
        target = str(config.hydra.launcher.get("_target_", ""))
        if target.rpartition(".")[2] in LOCAL_LAUNCHERS:
            arm(sweep_dir)


def arm(sweep_dir: str | Path | None = None) -> None:
    """In the main process of a sweep, before its jobs start: a Ctrl-C while no job runs
    here asks the sweep to stop, a second one stops it at once."""
    fd, path = tempfile.mkstemp(prefix="dlnotes-sweep-stop-")
    os.close(fd)
    os.unlink(path)
    os.environ[ENV_FILE], os.environ[ENV_PID] = path, str(os.getpid())
    _STATE["previous"] = signal.signal(signal.SIGINT, _on_sigint)
    _STATE["sweep_dir"] = sweep_dir


def disarm() -> bool:
    """Forget the request file and restore Ctrl-C's handler; whether a stop was asked
    for (False where the sweep was not armed)."""
    path = os.environ.pop(ENV_FILE, None)
    os.environ.pop(ENV_PID, None)
    if _STATE["previous"] is not None:
        _set_sigint(_STATE["previous"])
        _STATE["previous"] = None
    if not path or not Path(path).exists():
        return False
    Path(path).unlink(missing_ok=True)
    return True


def requested() -> bool:
    """Whether a process of this sweep asked it to stop."""
    path = os.environ.get(ENV_FILE)
    return bool(path) and Path(str(path)).exists()


def request() -> None:
    """Ask every process of this sweep to start no more jobs."""
    path = os.environ.get(ENV_FILE)
    if path:
        Path(path).touch()


def continue_command(args: list[str]) -> str:
    """The command that continues the sweep :func:`arm` was given: the sweep's command
    line ``args`` (``-m`` included) with ``resume=true`` in the sweep's folder."""
    own = ("resume=", "hydra.sweep.dir=")
    keep = [a for a in args if not a.lstrip("+~").startswith(own)]
    sweep_dir = _STATE["sweep_dir"] or "<sweep folder>"
    return shell_join(
        ["dlnotes-train", *keep, "resume=true", override("hydra.sweep.dir", sweep_dir)]
    )


def finished(run_dir: Path) -> dict[str, Any] | None:
    """The metrics.json of a job of a continued sweep that had ended (None otherwise)."""
    try:
        record = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("status") in FINISHED else None


def _on_sigint(signum: int, frame: Any) -> None:
    if _STATE["running"] or requested():
        raise KeyboardInterrupt
    request()
    print(
        "dlnotes-train: Ctrl-C: each running job stops after its batch and records how to "
        "continue; the jobs not started are skipped (Ctrl-C again stops at once).",
        file=sys.stderr,
    )


@contextmanager
def job() -> Iterator[None]:
    """Around one job of the sweep. In a worker process, Ctrl-C interrupts the job as in
    a single run, and is ignored between jobs: a worker that waits for its next job
    outlives it (that job then sees the request and is skipped)."""
    worker = os.environ.get(ENV_PID) not in (None, str(os.getpid()))
    _STATE["running"] = True
    if worker:
        _set_sigint(signal.default_int_handler)
    try:
        yield
    finally:
        _STATE["running"] = False
        if worker:
            _set_sigint(signal.SIG_IGN)


def _set_sigint(handler: Any) -> None:
    # ValueError: not the main thread, whose signals are not this thread's to handle
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGINT, handler)
