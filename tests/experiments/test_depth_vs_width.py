"""experiment=depth-vs-width: what depth buys (notes 002, "Circuit theory and deep learning").

Hand-set weights: k layers of 2 ReLU units compute Telgarsky's sawtooth f_k exactly, while
one hidden layer with the same 2k units cannot come close (a proven floor); n-bit parity
needs only n ReLU units in one layer (the notes' 2^(n−1) is for AND/OR circuits).
Trained, reduced, through the real config: at 32 neurons, 2 × 16 generalizes to unseen
parity strings better than 1 × 32, which memorizes; 8 × 4 does not train at all."""

from __future__ import annotations

import pytest
import torch

from dlnotes.experiments.depth_vs_width import (
    SawtoothDataModule,
    all_bit_strings,
    neurons,
    parity_accuracy,
    parity_tree_network,
    sawtooth,
    sawtooth_mse,
    shallow_least_squares,
    shallow_parity_network,
    shallow_sawtooth_bound,
    shallow_sawtooth_network,
    telgarsky_network,
)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_k_layers_of_two_units_compute_the_sawtooth_exactly(k):
    deep = telgarsky_network(k)
    assert deep.hidden == [2] * k and neurons(deep) == 2 * k
    assert sawtooth_mse(deep, k) < 1e-20
    # 2^(k−1) teeth: f_k = 1 at the peaks (2j − 1)/2^k, 0 at the valleys j/2^(k−1)
    peaks = (2 * torch.arange(1, 2 ** (k - 1) + 1) - 1).double() / 2**k
    with torch.no_grad():
        assert torch.allclose(deep.double()(peaks[:, None]).squeeze(1), torch.ones_like(peaks))


@pytest.mark.parametrize("k", [2, 4, 6])
def test_one_layer_needs_a_unit_per_kink(k):
    shallow = shallow_sawtooth_network(k)
    assert neurons(shallow) == 2**k
    assert sawtooth_mse(shallow, k) < 1e-20


def least_squares_shallow_mse(k: int, kinks: torch.Tensor) -> float:
    return shallow_least_squares(k, kinks)[0]


@pytest.mark.parametrize("k", [4, 6])
def test_no_one_layer_net_with_2k_units_beats_the_floor(k):
    units = 2 * k  # what the deep construction uses
    floor = shallow_sawtooth_bound(k, units)
    assert floor > 0.1 * (1 / 12)  # a real gap: ≥ 10 % of the variance of f_k
    g = torch.Generator().manual_seed(0)
    tries = [torch.arange(units).double() / 2**k]  # kinks on the first kinks of f_k
    tries += [torch.rand(units, generator=g).double() for _ in range(20)]
    tries += [torch.linspace(0, 1, units + 2)[1:-1].double()]  # spread evenly
    for kinks in tries:
        assert least_squares_shallow_mse(k, kinks) >= floor
    # with a unit per kink the floor is 0, and reached
    assert shallow_sawtooth_bound(k, 2**k - 1) == 0
    assert least_squares_shallow_mse(k, torch.arange(2**k).double() / 2**k) < 1e-20


@pytest.mark.parametrize("n", [2, 5, 10])
def test_parity_needs_n_units_in_one_layer_not_2_to_the_n(n):
    shallow, tree = shallow_parity_network(n), parity_tree_network(n)
    assert neurons(shallow) == n
    assert parity_accuracy(shallow, n) == 1.0
    assert parity_accuracy(tree, n) == 1.0
    assert len(tree.hidden) == (n - 1).bit_length()  # ⌈log₂ n⌉ layers
    X, y = all_bit_strings(n)
    assert X.shape == (2**n, n) and y.sum() == 2 ** (n - 1)


def test_sawtooth_data_follows_f_k():
    dm = SawtoothDataModule(k=3, n_train=64, n_val=32, n_test=16, seed=1)
    dm.setup()
    assert dm.spec.task == "regression" and dm.spec.in_features == 1
    assert dm.X_train.shape == (64, 1) and dm.y_train.shape == (64,)
    assert len(dm.X_val) == 32 and len(dm.X_test) == 16
    torch.testing.assert_close(dm.y_val, sawtooth(dm.X_val, 3).squeeze(1))
    with pytest.raises(ValueError, match=r"data\.k"):
        SawtoothDataModule(k=0)


# ------------------------------------------------------------------ trained, reduced
REDUCED = ("trainer.max_epochs=300", "trainer.check_val_every_n_epoch=100")  # full batch


@pytest.fixture(scope="module")
def parity_runs(tmp_path_factory):
    """Final metrics of 1 × 32, 2 × 16 and 8 × 4 on 10-bit parity, seed 0."""
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from dlnotes.training.run import train
    from tests.cli.conftest import compose_config

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    for hidden in ("[32]", "[16,16]", "[4,4,4,4,4,4,4,4]"):
        run_dir = tmp_path_factory.mktemp("parity")
        overrides = ["experiment=depth-vs-width", f"model.hidden={hidden}", *REDUCED]
        cfg = compose_config(overrides, run_dir)
        with open_dict(cfg):
            cfg.callbacks = {"train_set_eval": cfg.callbacks.train_set_eval}
            cfg.logger = None
        out[hidden] = train(cfg, run_dir, overrides)
    torch.set_num_threads(threads)
    GlobalHydra.instance().clear()
    return out


def test_same_neurons_two_layers_generalize_better_than_one(parity_runs):
    wide, deep = parity_runs["[32]"], parity_runs["[16,16]"]
    assert wide["data"] == "parity" and wide["params"] == 10 * 32 + 32 + 32 + 1
    # one wide layer memorizes the training strings ...
    assert wide["train_acc"] > 0.85
    assert wide["train_acc"] - wide["val_acc"] > 0.1
    # ... two layers of the same 32 neurons compute parity on strings never seen
    assert deep["val_acc"] > wide["val_acc"] + 0.08
    assert deep["val_acc"] > 0.8


def test_too_deep_and_narrow_does_not_train(parity_runs):
    narrow = parity_runs["[4,4,4,4,4,4,4,4]"]
    assert narrow["val_acc"] < 0.6
    assert narrow["train_acc"] < 0.65
