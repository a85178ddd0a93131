"""Reduced runs of the experiment suite through the real configs (Hydra's compose API),
so that a test asserts what a demo shows, in seconds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from dlnotes.training.run import train
from tests.cli.conftest import compose_config


@dataclass
class Result:
    """What a run left: metrics.json, the History records, its folder and config."""

    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    path: Path
    cfg: Any

    @property
    def first(self) -> dict[str, Any]:
        return self.history[0]

    @property
    def last(self) -> dict[str, Any]:
        return self.history[-1]

    def column(self, key: str) -> list[float]:
        return [r[key] for r in self.history if r.get(key) is not None]


@pytest.fixture
def run_experiment(tmp_path):
    """``run_experiment(name, *overrides, keep=("history",))``: compose
    ``experiment=<name> <overrides>``, keep only the callbacks named in ``keep`` (the
    TensorBoard extras cost time and prove nothing here), drop the logger, train into a
    fresh folder and return its :class:`Result`. One intra-op thread, as the experiment
    configs set for the CLI: these matrices are too small for two threads to pay."""
    count = 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def run(name: str, *overrides: str, keep: tuple[str, ...] = ("history",)) -> Result:
        nonlocal count
        count += 1
        run_dir = tmp_path / f"run{count}"
        cfg = compose_config([f"experiment={name}", *overrides], run_dir)
        with open_dict(cfg):
            cfg.callbacks = {k: v for k, v in cfg.callbacks.items() if k in keep and v}
            cfg.logger = None
            cfg.print_config = False
        metrics = train(cfg, run_dir, list(overrides))
        history = json.loads((run_dir / "history.json").read_text())["records"]
        return Result(metrics, history, run_dir, cfg)

    yield run
    torch.set_num_threads(threads)
    GlobalHydra.instance().clear()
