"""The vanishing-gradients demo, reduced (2 steps), through the real configs: with ten
sigmoid layers and no batch norm the first weight matrix gets ~10⁻⁶ of the gradient of
the last one (notes 002); ReLU with He initialization, or batch norm, keeps the ratio
near 1 (notes 001, "Solving gradient problem")."""

from __future__ import annotations

import pytest
from hydra.core.global_hydra import GlobalHydra

from dlnotes.experiments.common import load_run
from dlnotes.experiments.vanishing_gradients import first_last_ratio, run_norms
from dlnotes.training.run import train
from tests.cli.conftest import compose_config

# one batch per epoch (full batch) or five: Lightning's hint about log_every_n_steps
pytestmark = pytest.mark.filterwarnings("ignore:The number of training batches")

REDUCED = [
    "experiment=vanishing-gradients",
    "trainer.max_steps=2",
    "trainer.check_val_every_n_epoch=1",
    "callbacks.histograms=null",
    "callbacks.decision_boundary=null",
    "callbacks.gradient_check=null",
    "callbacks.model_summary=null",
    "callbacks.model_checkpoint=null",
    "callbacks.confusion_matrix=null",
]

SETTINGS = {
    "sigmoid-xavier": ["model.activation=sigmoid", "init=xavier", "model.batch_norm=false"],
    "relu-he": ["model.activation=relu", "init=he", "model.batch_norm=false"],
    "sigmoid-xavier-bn": ["model.activation=sigmoid", "init=xavier", "model.batch_norm=true"],
}


@pytest.fixture(scope="module")
def norms(tmp_path_factory):
    """Per setting: ‖∂J/∂W[l]‖ for l = 1 … 11 at step 0, from grad_norm/<param>."""
    out = {}
    for name, setting in SETTINGS.items():
        run_dir = tmp_path_factory.mktemp(name)
        overrides = [*REDUCED, *setting]
        cfg = compose_config(overrides, run_dir)
        train(cfg, run_dir, overrides)
        steps, table = run_norms(load_run(run_dir, cfg))
        assert steps[0] == 0 and table.shape[1] == 11  # 10 hidden layers + the output
        out[name] = table[0]
    GlobalHydra.instance().clear()
    return out


def ratio(norms_at_0):
    return float(first_last_ratio(norms_at_0[None, :])[0])


def test_sigmoid_without_batch_norm_vanishes(norms):
    g = norms["sigmoid-xavier"]
    assert ratio(g) < 1e-4
    # it shrinks layer after layer, toward the input
    assert all(g[l] < g[l + 1] for l in range(len(g) - 1))


def test_relu_with_he_keeps_the_gradient(norms):
    assert 0.05 < ratio(norms["relu-he"]) < 20


def test_batch_norm_rescues_sigmoid(norms):
    assert 0.05 < ratio(norms["sigmoid-xavier-bn"]) < 100
    assert ratio(norms["sigmoid-xavier-bn"]) > 1e4 * ratio(norms["sigmoid-xavier"])
