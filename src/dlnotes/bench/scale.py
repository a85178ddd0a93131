"""Sections "sweep" and "demos": whole ``dlnotes-train`` commands, timed from outside.

sweep: the same 4-job sweep with Hydra's basic launcher (one job after the other) and
with ``hydra/launcher=joblib`` (``n_jobs`` jobs at a time, each with ``threads=auto``,
i.e. cores // n_jobs intra-op threads), interleaved; the speed-up is their ratio. Both
pay a fixed start-up that no launcher parallelizes: the process that runs the jobs (the
sweep's own under the basic launcher, every joblib worker, at the same time) imports
PyTorch and Lightning before its first job, ~6 s on a 2-core CPU, against jobs of a few
seconds. So the row also reports that start-up (a fresh Python importing what a job
imports, timed in the same rounds) and the fit time of a job under each launcher (from
the jobs' metrics.json), which shows what the parallel jobs gain on their own. The jobs
train 300 epochs (~5 s each on 2 cores), so that training, not start-up, is most of either
sweep.
demos: each experiment of ``conf/experiment/*.yaml`` at its default size
(``dlnotes-train -m experiment=<name>``), once, against the 2-minute target.
Every command writes into a temporary folder, never into ``outputs/``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from dlnotes.bench import targets
from dlnotes.bench.timing import time_interleaved

SWEEP = ["model.hidden=2,4,8,16", "trainer.max_epochs=300"]
TINY_SWEEP = ["model.hidden=2,4,8,16", "trainer.max_epochs=1", "trainer.max_steps=1"]
QUIET = ["print_config=false", "callbacks=none"]
# what a process imports before its first job (torch, Lightning, dlnotes' training code)
STARTUP = [sys.executable, "-c", "import dlnotes.training.run"]


class CommandFailed(RuntimeError):
    """A ``dlnotes-train`` command of the benchmark exited with an error."""


def train_command(overrides: list[str], out_dir: Path) -> list[str]:
    """``dlnotes-train -m <overrides>`` writing its sweep into ``out_dir``."""
    return [sys.executable, "-m", "dlnotes", "-m", *overrides, f"hydra.sweep.dir={out_dir}"]


def run_command(command: list[str], timeout: float | None = None) -> float:
    """Wall seconds of ``command``; :class:`CommandFailed` with its last output on error."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise CommandFailed(f"{' '.join(command)} exited with {proc.returncode}:\n{tail}")
    return seconds


def finished_jobs(sweep_dir: Path) -> int:
    return sum(1 for _ in sweep_dir.rglob("metrics.json"))


def fit_seconds(sweep_dir: Path) -> list[float]:
    """The fit time of every job of a sweep, as its metrics.json records it."""
    records = (json.loads(p.read_text()) for p in sweep_dir.rglob("metrics.json"))
    return [float(r["seconds"]) for r in records if r.get("seconds") is not None]


def sweep(repeats: int, tiny: bool = False, n_jobs: int | None = None) -> list[dict[str, Any]]:
    """The 4-job sweep, sequential vs joblib-parallel, ``repeats`` interleaved rounds."""
    n_jobs = n_jobs or min(4, os.cpu_count() or 1)
    overrides = [*(TINY_SWEEP if tiny else SWEEP), *QUIET]
    parallel = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}", "threads=auto"]
    with tempfile.TemporaryDirectory(prefix="dlnotes-bench-") as tmp:
        rounds = {"sequential": 0, "parallel": 0}
        fits: dict[str, list[float]] = {"sequential": [], "parallel": []}

        def launch(kind: str, extra: list[str]) -> float:
            rounds[kind] += 1
            out = Path(tmp) / f"{kind}_{rounds[kind]}"
            seconds = run_command(train_command([*overrides, *extra], out))
            if finished_jobs(out) != 4:
                raise CommandFailed(f"the {kind} sweep in {out} did not finish its 4 jobs")
            fits[kind] += fit_seconds(out)
            return seconds

        stats = time_interleaved(
            {
                "sequential": lambda: launch("sequential", []),
                "parallel": lambda: launch("parallel", parallel),
                "startup": lambda: run_command(STARTUP),
            },
            repeats,
            warmup=0,
            min_sample_s=0.0,
        )
    speedup = stats["sequential"].median / stats["parallel"].median
    return [
        {
            "sweep": " ".join(overrides),
            "jobs": 4,
            "n_jobs": n_jobs,
            "sequential": stats["sequential"].as_dict(),
            "parallel": stats["parallel"].as_dict(),
            "speedup": speedup,
            # seconds of a fresh process importing what a job needs: paid once per
            # process, before its first job, under either launcher
            "startup": stats["startup"].as_dict(),
            # median fit seconds of a job (metrics.json) under each launcher
            "job_fit_sequential": _median(fits["sequential"]),
            "job_fit_parallel": _median(fits["parallel"]),
        }
    ]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def experiments() -> list[str]:
    """The demos: every ``conf/experiment/*.yaml`` (sub-folders hold their parts)."""
    folder = resources.files("dlnotes.conf") / "experiment"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def demos(names: list[str] | None = None, timeout: float = 1800) -> list[dict[str, Any]]:
    """Wall time of ``dlnotes-train -m experiment=<name>`` for each demo."""
    rows = []
    for name in names or experiments():
        with tempfile.TemporaryDirectory(prefix=f"dlnotes-bench-{name}-") as tmp:
            command = train_command([f"experiment={name}", "print_config=false"], Path(tmp))
            try:
                seconds, status = run_command(command, timeout), "ok"
            except (CommandFailed, subprocess.TimeoutExpired) as err:
                seconds, status = None, f"failed: {str(err).splitlines()[0][:200]}"
            jobs = finished_jobs(Path(tmp))
        rows.append(
            {
                "demo": name,
                "command": f"dlnotes-train -m experiment={name}",
                "jobs": jobs,
                "seconds": seconds,
                "status": status,
                "target": targets.DEMO_SECONDS,
                "time": targets.verdict(seconds, targets.DEMO_SECONDS),
            }
        )
    return rows
