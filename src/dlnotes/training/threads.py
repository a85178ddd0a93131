"""How many intra-op threads a run gives PyTorch: the root config key ``threads``.

- ``threads: null``: PyTorch's default (one thread per core);
- ``threads: 4``: exactly that many;
- ``threads: auto`` (the default): the cores shared out among the processes that train
  at the same time on this machine, so that they do not oversubscribe it — ``cores //
  n_jobs`` for each job of a sweep under the joblib launcher (``n_jobs: -1`` counts as
  every core, as joblib counts it), ``cores // devices`` for each process of CPU DDP, at
  least 1; PyTorch's default for a single process.

Two processes that each start one thread per core on the same cores spend their time
handing work between threads that wait for each other (on a 2-core machine with two
sweep jobs: several times slower steps than one thread each).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from omegaconf import DictConfig


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def joblib_workers(n_jobs: int, cores: int) -> int:
    """The number of processes joblib runs at once for ``n_jobs`` (−1: all cores, −2: all
    but one, …)."""
    return max(1, n_jobs if n_jobs > 0 else cores + 1 + n_jobs)


def concurrent_processes(cfg: DictConfig, launcher: Any | None) -> int:
    """Training processes of this run and its sweep that share the machine at once.

    launcher: the ``hydra.launcher`` config of the running Hydra job (None outside Hydra).
    """
    cores = available_cores()
    processes = 1
    if launcher is not None and "joblib" in str(launcher.get("_target_", "")).lower():
        processes *= joblib_workers(int(launcher.get("n_jobs", -1)), cores)
    trainer = cfg.get("trainer") or {}
    devices = trainer.get("devices", 1)
    if trainer.get("accelerator") == "cpu" and isinstance(devices, int) and devices > 1:
        processes *= devices  # CPU DDP: one process per device
    return processes


def hydra_launcher() -> Any | None:
    """The ``hydra.launcher`` config of the running sweep job (None outside a sweep: a
    single run of a demo whose config picks the joblib launcher runs alone)."""
    from dlnotes.training.distributed import hydra_multirun

    if not hydra_multirun():
        return None
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().launcher


def resolve_threads(cfg: DictConfig, launcher: Any | None = None) -> int | None:
    """The thread count ``cfg.threads`` asks for (None: leave PyTorch's default)."""
    value = cfg.get("threads")
    if value is None:
        return None
    if value == "auto":
        processes = concurrent_processes(cfg, launcher)
        return max(1, available_cores() // processes) if processes > 1 else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(
        f"threads={value} is not a thread count: threads must be a positive integer, "
        "auto or null (e.g. threads=auto)"
    )


def set_threads(cfg: DictConfig) -> int:
    """Apply ``cfg.threads`` (reading the Hydra launcher when there is one) and return
    the number of intra-op threads PyTorch now uses."""
    threads = resolve_threads(cfg, hydra_launcher())
    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()
