"""Compose the real configs with Hydra's compose API, as the CLI would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from dlnotes.cli.train import register_resolvers


def compose_config(overrides: list[str], run_dir: Path) -> DictConfig:
    """The config ``dlnotes-train <overrides>`` would run with, writing into ``run_dir``."""
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="dlnotes.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


def run_cli(
    args: list[str], cwd: Path, timeout: int = 300, **env: str
) -> subprocess.CompletedProcess:
    """``python -m dlnotes <args>`` in ``cwd`` as a user types it: HYDRA_FULL_ERROR unset
    unless given in ``env`` (e.g. ``HYDRA_FULL_ERROR="1"`` for tracebacks to debug)."""
    environ = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, "-m", "dlnotes", *args],
        cwd=cwd,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def run_config(tmp_path):
    def make(*overrides: str) -> DictConfig:
        return compose_config(list(overrides), tmp_path)

    yield make
    GlobalHydra.instance().clear()
