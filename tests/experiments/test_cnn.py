"""The CNN demo, reduced (one epoch each), through the real configs: LeNet and the
fully connected network have the same number of parameters, but each conv weight is
used at every position (parameter sharing); the conv maps of a shifted digit are the
shifted maps (equivariance, notes 003) while pooling damps the change a 1-pixel shift
makes (invariance); LeNet keeps more of its accuracy on shifted digits."""

from __future__ import annotations

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict
from PIL import Image

from dlnotes.experiments.cnn import (
    STAGE_STRIDE,
    equivariance,
    forward_only,
    invariance,
    lenet_stage,
    notes_pool,
    report,
    shift,
    shifted_accuracy,
    weight_uses,
)
from dlnotes.experiments.common import load_model, load_run
from dlnotes.models import DeepMLP, LeNet
from dlnotes.training.run import train
from tests.cli.conftest import compose_config

REDUCED = [
    "trainer.max_epochs=1",
    "data.test_fraction=0.04",  # 200 test digits
    "print_config=false",
    "callbacks.gradient_check=null",
    "callbacks.histograms=null",
    "callbacks.conv_visuals=null",
    "callbacks.confusion_matrix=null",
    "callbacks.history=null",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """experiment=cnn, LeNet (max pooling) and the MLP, one epoch each, no logger."""
    out = {}
    threads = torch.get_num_threads()
    try:
        for option in ("lenet", "mlp"):
            run_dir = tmp_path_factory.mktemp(option)
            overrides = ["experiment=cnn", f"experiment/cnn-models={option}", *REDUCED]
            cfg = compose_config(overrides, run_dir)
            with open_dict(cfg):
                cfg.logger = None
            train(cfg, run_dir, overrides)
            out[option] = load_run(run_dir, cfg)
    finally:
        torch.set_num_threads(threads)
        GlobalHydra.instance().clear()
    return out


@pytest.fixture(scope="module")
def lenet(runs):
    model, dm = forward_only(*load_model(runs["lenet"]))
    assert isinstance(model, LeNet) and model.pool == "max"
    return model, dm.X_test, dm.y_test


def test_same_size_but_conv_weights_are_shared(runs, lenet):
    n_lenet, n_mlp = runs["lenet"].metrics["params"], runs["mlp"].metrics["params"]
    assert n_lenet == 61706
    assert abs(n_mlp - n_lenet) < 0.01 * n_lenet
    model, X, _ = lenet
    rows = {r["layer"]: r for r in weight_uses(model, X)}
    # each of conv1's 6·5·5 weights is used at all 28·28 positions of its map
    assert rows["conv1"]["weights"] == 150 and rows["conv1"]["uses"] == 28 * 28
    assert rows["conv2"]["uses"] == 10 * 10
    assert rows["conv1"]["dense"] == 784 * 6 * 28 * 28  # > 20 000 × its 150 weights
    assert all(rows[name]["uses"] == 1 for name in ("dense.0", "dense.2", "head"))


def test_shift_moves_images_and_zeros_come_in():
    X = torch.arange(16.0).reshape(1, 1, 4, 4)
    S = shift(X, 1, 0)
    assert torch.equal(S[..., :, 1:], X[..., :, :3]) and torch.equal(
        S[..., :, 0], torch.zeros(1, 1, 4)
    )
    assert torch.equal(shift(shift(X, 0, -2), 0, 2)[..., 2:, :], X[..., 2:, :])


def test_conv_maps_are_equivariant_to_shifts(lenet):
    model, X, _ = lenet
    conv1 = lenet_stage(model, "conv1")
    for k in (1, 2, 3):
        result = equivariance(conv1, X, k)
        assert result["error"] < 1e-6  # conv(S X) = S conv(X) away from the borders
        assert result["moved"] > 0.2  # while the maps themselves do move
    # through both convolutions and poolings: 4 input pixels = one unit of the 5×5 maps
    assert equivariance(lenet_stage(model, "pool2"), X, 4, STAGE_STRIDE["pool2"])["error"] < 1e-6


def test_pooling_damps_the_change_of_a_one_pixel_shift(lenet):
    model, X, _ = lenet
    change = {stage: invariance(lenet_stage(model, stage), X) for stage in STAGE_STRIDE}
    assert change["pool1"]["change"] < change["conv1"]["change"]
    assert change["pool2"]["change"] < change["conv2"]["change"]
    # the notes' figure: max pooling of width 3, stride 1 over the detector stage
    notes = invariance(notes_pool(model), X)
    assert notes["change"] < 0.8 * change["conv1"]["change"]
    assert notes["changed"] < change["conv1"]["changed"]


def test_lenet_keeps_more_accuracy_on_shifted_digits(runs, lenet):
    model, X, y = lenet
    mlp, _ = forward_only(*load_model(runs["mlp"]))
    assert isinstance(mlp, DeepMLP)
    with torch.no_grad():
        drop_lenet = shifted_accuracy(model, X, y, 0) - shifted_accuracy(model, X, y, 2)
        drop_mlp = shifted_accuracy(mlp, X, y, 0) - shifted_accuracy(mlp, X, y, 2)
    assert drop_lenet < drop_mlp


def test_report_tables_and_figures(runs, tmp_path):
    with torch.no_grad():
        tables = report(list(runs.values()), tmp_path)
    assert "| LeNet, max pool | 61706 | 2572 |" in tables
    assert "| conv1 (6×28×28) | 1 px | 0 (bit-identical) |" in tables
    for name in ("cnn.png", "cnn-filters.png"):
        with Image.open(tmp_path / name) as image:
            assert image.width > 600
