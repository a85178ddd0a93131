"""The initialization demo, reduced (200 iterations), through the real configs: zero and
constant initializations never break the symmetry of the hidden units (notes 002,
"Random initialization"), He does; N(0, 1)·10 saturates the output from the start."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from dlnotes.data.toy2d import CirclesDataModule
from dlnotes.experiments.callbacks import NumpyInit, numpy_init_
from dlnotes.experiments.common import load_run
from dlnotes.experiments.initialization import (
    init_statistics,
    model_of,
    row_spread,
)
from dlnotes.models import DeepMLP
from dlnotes.training.run import train
from tests.cli.conftest import compose_config

# one batch per epoch (full batch) or five: Lightning's hint about log_every_n_steps
pytestmark = pytest.mark.filterwarnings("ignore:The number of training batches")

REDUCED = [
    "experiment=initialization",
    "trainer.max_steps=200",
    "trainer.check_val_every_n_epoch=200",
    "callbacks.histograms=null",
    "callbacks.decision_boundary=null",
    "callbacks.gradient_check=null",
    "callbacks.model_summary=null",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Train zeros, constant and He for 200 iterations; the finished run folders."""
    out = {}
    for scheme in ("zeros", "constant", "he"):
        run_dir = tmp_path_factory.mktemp(scheme)
        overrides = [*REDUCED, f"init={scheme}"]
        cfg = compose_config(overrides, run_dir)
        train(cfg, run_dir, overrides)
        out[scheme] = load_run(run_dir, cfg)
    GlobalHydra.instance().clear()
    return out


def test_the_experiment_is_the_assignment(runs):
    run = runs["he"]
    assert run.get("model.hidden") == [10, 5] and run.get("model.activation") == "relu"
    assert run.get("data.split") == "published" and run.get("data.batch_size") == "full"
    assert run.get("optimizer._target_") == "torch.optim.SGD"
    assert run.get("optimizer.lr") == 0.01 and run.get("optimizer.momentum") == 0.0
    assert run.metrics["steps"] == 200
    saved = json.loads((run.path / "train_eval.json").read_text())
    assert saved["step"] == 200 and 0.0 <= saved["train_acc"] <= 1.0


def test_zeros_never_learn_anything_but_the_output_bias(runs):
    run = runs["zeros"]
    model = model_of(run)
    # every weight matrix is still exactly 0: dW[l] = dZ[l] A[l-1]ᵀ with A[l-1] = 0
    for _, p in model.named_parameters():
        if p.dim() == 2:
            assert torch.count_nonzero(p) == 0
    assert run.train_acc == pytest.approx(0.5)
    assert run.metrics["test_acc"] == pytest.approx(0.5)
    assert run.metrics["train_loss"] == pytest.approx(math.log(2), abs=1e-3)


def test_constant_init_keeps_every_hidden_unit_identical(runs):
    W1 = model_of(runs["constant"]).body[0].weight
    assert (W1 - 0.5).abs().max() > 1e-3  # the weights did move …
    assert row_spread(W1) <= 1e-6 * float(W1.abs().max())  # … all rows together


def test_he_breaks_the_symmetry(runs):
    W1 = model_of(runs["he"]).body[0].weight
    assert row_spread(W1) > 0.1
    dm = CirclesDataModule(split="published")
    A1 = model_of(runs["he"]).features(dm.X_train)[0]
    assert torch.linalg.matrix_rank(A1) >= 5  # the hidden units compute different features


def test_large_init_saturates_the_output_and_he_keeps_the_scale():
    dm = CirclesDataModule(split="published")
    stats = init_statistics(dm.X_train, dm.y_train, schemes=("large", "he"))
    large, he = stats["large"], stats["he"]
    assert large["cost"] > 10 * he["cost"]  # sigmoid(Z[3]) pinned at 0 or 1, often wrong
    assert large["layers"][-1]["std"] > 100 * he["layers"][-1]["std"]
    for layer in he["layers"][:-1]:
        assert 0.05 < layer["std"] < 5


def test_numpy_init_draws_the_assignments_numpy_weights():
    model = DeepMLP(2, [10, 5], 1, "relu")
    assert numpy_init_(model, "he", seed=3)
    rng = np.random.RandomState(3)
    for (n, n_prev), W in zip(
        [(10, 2), (5, 10), (1, 5)], [model.body[0].weight, model.body[2].weight, model.head.weight]
    ):
        expected = rng.randn(n, n_prev) * np.sqrt(2.0 / n_prev)
        np.testing.assert_allclose(W.detach().double().numpy(), expected, rtol=1e-6)
    assert not numpy_init_(model, "xavier", seed=3)
    assert NumpyInit(3, "he", enabled=False).enabled is False
