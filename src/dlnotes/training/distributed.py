"""Multi-process training (Lightning DDP) inside the Hydra app: how the processes start.

``trainer=ddp_cpu`` uses Lightning's default DDP launcher ("popen"), which starts the
processes of ranks 1, 2, … by running the same command line again (with
``hydra.run.dir`` pointing to the run folder of rank 0, so that all ranks share one
folder and only rank 0 writes to it). Under ``-m`` that command line is a whole sweep,
which every child would start again; so a sweep job on this machine whose trainer
starts processes that way (:func:`runs_apart`) runs as a single run of its own in a
child process, whose command line Lightning can run again (``cli/ddp_job.py``). Where
a cluster runner has started the processes already (``srun`` in a SLURM job of
``hydra/launcher=slurm``, ``torchrun``, LSF, MPI), Lightning launches none, and the
job trains in the sweep's process.

The spawning strategies (``ddp_spawn``, ``ddp_fork``, ``ddp_notebook``, a DDPStrategy
with another ``start_method``) are refused: a spawned fit hands back only the weights
and ``callback_metrics`` to the job's process, so its epochs, steps, divergence and
interruption would be lost from metrics.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from omegaconf import DictConfig

from dlnotes.training.validate import ConfigError


def relaunches_command(trainer: Any) -> bool:
    """Whether ``trainer`` (the ``cfg.trainer`` section) starts its extra processes by
    running the command again: DDP with the default "popen" start method, > 1 process
    (``strategy: auto`` picks that DDP for more than one device or node)."""
    strategy = trainer.get("strategy", "auto")
    if isinstance(strategy, str):
        is_popen_ddp = strategy in ("auto", "ddp", "ddp_find_unused_parameters_true")
    else:
        target = str(strategy.get("_target_", ""))
        is_popen_ddp = (
            target.endswith("DDPStrategy") and strategy.get("start_method", "popen") == "popen"
        )
    nodes = trainer.get("num_nodes", 1) or 1
    return is_popen_ddp and _devices(trainer) * nodes > 1


SPAWNING = ("ddp_spawn", "ddp_fork", "ddp_notebook")
"""Lightning's strategy names (and their ``_find_unused_parameters_*`` forms) that run the
fit in processes started by multiprocessing."""


def spawns(trainer: Any) -> str | None:
    """The ``trainer.strategy`` (as the user wrote it) when it runs the fit in processes
    started by multiprocessing, else None."""
    strategy = trainer.get("strategy", "auto")
    if isinstance(strategy, str):
        return strategy if strategy.startswith(SPAWNING) else None
    method = strategy.get("start_method", "popen") if isinstance(strategy, Mapping) else "popen"
    if method == "popen":
        return None
    return f"{strategy.get('_target_')} with start_method={method}"


def _devices(trainer: Any) -> int:
    """How many devices ``trainer.devices`` asks for (an int, a list of indices, "auto",
    -1 for all of them); GPUs counted where they are."""
    devices = trainer.get("devices", "auto")
    if isinstance(devices, str) and devices.strip().lstrip("-").isdigit():
        devices = int(devices)
    if isinstance(devices, int) and devices >= 0:
        return devices
    if not isinstance(devices, (int, str)):  # a list of device indices
        return len(devices)
    if isinstance(devices, str) and "," in devices:  # "0,1": indices too
        return len([d for d in devices.split(",") if d.strip()])
    on_gpu = trainer.get("accelerator", "auto") in ("auto", "gpu", "cuda")
    # "auto" or -1: every GPU, or one CPU process
    return torch.cuda.device_count() if on_gpu and torch.cuda.is_available() else 1


def processes_started_outside() -> bool:
    """Whether a cluster runner started this job's processes (SLURM's ``srun``,
    ``torchrun``, LSF, MPI), so that Lightning starts none: Lightning's own detection."""
    from lightning.fabric.plugins.environments import (
        LSFEnvironment,
        MPIEnvironment,
        SLURMEnvironment,
        TorchElasticEnvironment,
    )

    environments = (TorchElasticEnvironment, SLURMEnvironment, LSFEnvironment, MPIEnvironment)
    return any(env.detect() for env in environments)


def runs_apart(trainer: Any) -> bool:
    """Whether a sweep job with ``trainer`` (the ``cfg.trainer`` section) runs as a single
    run of its own in a child process: its DDP would start the other processes by running
    the command again, and no cluster runner has started them."""
    return relaunches_command(trainer) and not processes_started_outside()


def check_ddp_launch(cfg: DictConfig, multirun: bool) -> None:
    """Raise a :class:`ConfigError` for a trainer whose processes the run cannot start:
    a spawning strategy, or (in a sweep job on this machine) more than one node."""
    trainer = cfg.get("trainer") or {}
    spawning = spawns(trainer)
    if spawning:
        raise ConfigError(
            f"trainer.strategy={spawning} runs the fit in spawned processes that hand back "
            "only the weights and the last metrics, so metrics.json would lose the steps, "
            "epochs and divergence: use trainer=ddp_cpu (strategy ddp; trainer.devices=<n> "
            "for more processes)."
        )
    nodes = trainer.get("num_nodes", 1) or 1
    if multirun and nodes > 1 and runs_apart(trainer):
        raise ConfigError(
            f"trainer.num_nodes={nodes} needs processes on {nodes} machines, and a sweep "
            "job can start them only on this one: sweep on a cluster (hydra/launcher=slurm "
            f"hydra.launcher.nodes={nodes} "
            "hydra.launcher.tasks_per_node=<trainer.devices>), where srun starts them."
        )


GPU_ACCELERATORS = ("gpu", "cuda")


def check_accelerator(cfg: DictConfig) -> None:
    """Raise a :class:`ConfigError` when ``trainer.accelerator`` asks for a GPU that this
    machine does not have (Lightning's own message names neither the key nor the fix)."""
    accelerator = str((cfg.get("trainer") or {}).get("accelerator", "auto"))
    if accelerator not in GPU_ACCELERATORS or torch.cuda.is_available():
        return
    if accelerator == "gpu" and torch.backends.mps.is_available():  # Apple silicon
        return
    raise ConfigError(
        f"trainer.accelerator={accelerator} finds no GPU on this machine: use "
        "trainer.accelerator=auto (trainer=gpu), which takes a GPU where there is one and "
        "the CPU otherwise."
    )


def hydra_multirun() -> bool:
    """True inside a job of ``dlnotes-train -m``."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
