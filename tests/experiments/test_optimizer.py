"""The optimizer demo, reduced (40 epochs = 200 steps), through the real configs: at the
assignment's α = 0.0007 Adam is far ahead of mini-batch gradient descent, and the
course's momentum (an average of the gradients) stays beside gradient descent."""

from __future__ import annotations

import numpy as np
import pytest
from hydra.core.global_hydra import GlobalHydra

from dlnotes.experiments.common import load_run, read_scalars
from dlnotes.training.run import train
from tests.cli.conftest import compose_config

# one batch per epoch (full batch) or five: Lightning's hint about log_every_n_steps
pytestmark = pytest.mark.filterwarnings("ignore:The number of training batches")

REDUCED = [
    "experiment=optimizer",
    "trainer.max_epochs=40",
    "trainer.check_val_every_n_epoch=40",
    "trainer.log_every_n_steps=20",
    "callbacks.histograms=null",
    "callbacks.decision_boundary=null",
    "callbacks.gradient_check=null",
    "callbacks.model_summary=null",
    "callbacks.model_checkpoint=null",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for variant in ("gd", "momentum", "adam"):
        run_dir = tmp_path_factory.mktemp(variant)
        overrides = [*REDUCED, f"+experiment/optimizers={variant}"]
        cfg = compose_config(overrides, run_dir)
        train(cfg, run_dir, overrides)
        out[variant] = load_run(run_dir, cfg)
    GlobalHydra.instance().clear()
    return out


def cost(run) -> float:
    return run.train_eval["train_loss"]


def test_every_variant_is_the_assignment_setting(runs):
    for variant, run in runs.items():
        assert run.get("model.hidden") == [5, 2] and run.get("init.scheme") == "he"
        assert run.get("data.split") == "published" and run.get("data.batch_size") == 64
        assert run.get("optimizer.lr") == 0.0007, variant
        assert run.metrics["steps"] == 40 * 5  # 300 points: 4 batches of 64 and one of 44
    assert runs["momentum"].get("optimizer.dampening") == 0.9


def test_adam_is_far_ahead_of_gradient_descent(runs):
    gd, adam = cost(runs["gd"]), cost(runs["adam"])
    assert adam < gd - 0.05, (gd, adam)
    assert runs["adam"].train_acc > runs["gd"].train_acc


def test_course_momentum_stays_beside_gradient_descent(runs):
    gd, momentum = cost(runs["gd"]), cost(runs["momentum"])
    assert momentum == pytest.approx(gd, abs=0.01)


def test_wall_time_is_logged_against_steps(runs):
    elapsed = read_scalars(runs["adam"].path, ["time/elapsed"])["time/elapsed"]
    steps, seconds = elapsed[:, 0], elapsed[:, 1]
    assert steps[0] == 0 and steps[-1] == 200
    assert np.all(np.diff(steps) > 0) and np.all(np.diff(seconds) >= 0) and seconds[-1] > 0
