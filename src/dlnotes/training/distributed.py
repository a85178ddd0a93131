"""Multi-process training (Lightning DDP) inside the Hydra app: what can run how.

``trainer=ddp_cpu`` uses Lightning's default DDP launcher, which starts the processes of
ranks 1, 2, … by running the same command line again (with ``hydra.run.dir`` pointing to
the run folder of rank 0, so that all ranks share one folder and only rank 0 writes to
it). Under ``-m`` that command line is a whole sweep: every child would start the sweep
again. So a DDP run is one configuration per command; :func:`check_ddp_launch` says so
before anything starts.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from dlnotes.training.validate import ConfigError


def relaunches_command(trainer: Any) -> bool:
    """Whether ``trainer`` (the ``cfg.trainer`` section) starts its extra processes by
    running the command again: DDP with the default "popen" start method, > 1 process."""
    strategy = trainer.get("strategy", "auto")
    if isinstance(strategy, str):
        is_popen_ddp = strategy in ("ddp", "ddp_find_unused_parameters_true")
    else:
        target = str(strategy.get("_target_", ""))
        is_popen_ddp = (
            target.endswith("DDPStrategy") and strategy.get("start_method", "popen") == "popen"
        )
    devices, nodes = trainer.get("devices", 1), trainer.get("num_nodes", 1) or 1
    processes = (devices if isinstance(devices, int) else 2) * nodes
    return is_popen_ddp and processes > 1


def check_ddp_launch(cfg: DictConfig, multirun: bool) -> None:
    """Raise a :class:`ConfigError` for a DDP trainer that would relaunch a sweep."""
    if multirun and relaunches_command(cfg.get("trainer") or {}):
        raise ConfigError(
            "trainer=ddp_cpu (DDP) starts its second process by running the command again, "
            "which under -m would start the whole sweep again: run one DDP configuration "
            "per dlnotes-train command, without -m."
        )


def hydra_multirun() -> bool:
    """True inside a job of ``dlnotes-train -m``."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
