"""The contract every datamodule keeps: spec, shapes and dtypes, determinism, the common
arguments (batch_size="full", train_size, label_noise) and the registry."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import lightning
import numpy as np
import pytest
import torch

from dlnotes.data import DATAMODULES, DataSpec, build_datamodule, default_root
from dlnotes.data.base import InMemoryDataModule, check_fractions, split_indices

# Small settings so that the whole suite stays fast. The torchvision sets are tested on
# tiny files in test_data_images.py.
CHEAP: dict[str, dict[str, Any]] = {
    "moons": {"n_samples": 100},
    "circles": {"n_samples": 100},
    "blobs": {"n_samples": 90, "centers": 3},
    "xor": {"n_samples": 100},
    "spirals": {"n_samples": 120, "num_classes": 3},
    "flower": {"n_samples": 100},
    "digits": {},
    "breast_cancer": {},
    "mnist5k": {},
    "parity": {"n_bits": 8, "n_samples": 200},
    "adding": {"seq_len": 10, "n_samples": 200},
    "seq_mnist": {},
    "text": {"seq_len": 20},
}
CLASSIFICATION = [n for n in CHEAP if n != "adding"]
WITH_LABEL_NOISE = [n for n in CLASSIFICATION if n != "text"]


def make(name: str, **kwargs: Any) -> InMemoryDataModule:
    return build_datamodule(name, **{**CHEAP[name], **kwargs})


def check_against_spec(spec: DataSpec, X: torch.Tensor, y: torch.Tensor) -> None:
    m = len(X)
    assert len(y) == m
    if spec.vocab_size:  # token sequences
        assert X.dtype == torch.long and X.shape[1:] == (spec.seq_len,)
        assert int(X.max()) < spec.vocab_size
    else:
        assert X.dtype == torch.float32
        if spec.kind == "tabular":
            assert X.shape[1:] == (spec.in_features,)
        elif spec.kind == "image":
            assert spec.in_channels is not None and spec.image_size is not None
            assert X.shape[1:] == (spec.in_channels, *spec.image_size)
            assert spec.in_channels * spec.image_size[0] * spec.image_size[1] == spec.in_features
        else:
            assert X.shape[1:] == (spec.seq_len, spec.in_features)
    if spec.task == "binary":
        assert y.dtype == torch.float32 and y.shape == (m,)
        assert set(y.unique().tolist()) <= {0.0, 1.0}
        assert spec.out_features == 1 and spec.num_classes == 2
    elif spec.task == "multiclass":
        assert y.dtype == torch.long
        assert y.shape == ((m, spec.seq_len) if spec.many_to_many else (m,))
        assert int(y.min()) >= 0 and int(y.max()) < spec.num_classes == spec.out_features
    else:
        assert y.is_floating_point() and spec.num_classes == 0


@pytest.mark.parametrize("name", CHEAP)
def test_spec_shapes_and_dtypes(name: str) -> None:
    dm = make(name)
    spec = dm.spec  # available before setup
    assert dm._splits is None
    assert spec.name == name
    dm.setup("fit")
    for split in ("train", "val", "test"):
        check_against_spec(spec, getattr(dm, f"X_{split}"), getattr(dm, f"y_{split}"))
        assert len(getattr(dm, f"X_{split}")) > 0
    X, y = next(iter(dm.train_dataloader()))
    assert X.shape[0] == min(64, len(dm.X_train))
    check_against_spec(spec, X, y)
    if spec.task != "regression":
        assert dm.class_names is not None and len(dm.class_names) == spec.num_classes


@pytest.mark.parametrize("name", CHEAP)
def test_deterministic_under_seed(name: str, check) -> None:
    a, b = make(name, seed=3), make(name, seed=3)
    check.same_data(a, b)
    Xa, ya = check.first_batch(a)
    Xb, yb = check.first_batch(b)
    assert torch.equal(Xa, Xb) and torch.equal(ya, yb)
    Xc, _ = check.first_batch(make(name, seed=4))  # another seed, another shuffle at least
    assert not torch.equal(Xa, Xc)


@pytest.mark.parametrize("name", CHEAP)
def test_full_batch_is_one_batch(name: str) -> None:
    dm = make(name, batch_size="full")
    batches = list(dm.train_dataloader())
    assert len(batches) == 1
    assert len(batches[0][0]) == len(dm.X_train)
    assert len(list(dm.val_dataloader())) == 1


@pytest.mark.parametrize("name", CHEAP)
def test_train_size_takes_a_subset(name: str, check) -> None:
    full = make(name)
    dm = make(name, train_size=10)
    assert len(dm.X_train) == len(dm.y_train) == 10
    assert not (check.rows(dm.X_train) - check.rows(full.X_train))  # a subset of the train split
    assert torch.equal(dm.X_val, full.X_val) and torch.equal(dm.X_test, full.X_test)
    too_many = len(full.X_train) + 1
    with pytest.raises(ValueError, match=rf"data\.train_size={too_many}.*maximum {too_many - 1}"):
        make(name, train_size=too_many).setup()


@pytest.mark.parametrize("name", WITH_LABEL_NOISE)
def test_label_noise_flips_the_expected_fraction(name: str) -> None:
    clean, noisy = make(name), make(name, label_noise=0.25)
    m = len(clean.y_train)
    changed = (clean.y_train != noisy.y_train).nonzero().flatten()
    assert len(changed) == round(0.25 * m)
    assert noisy.noisy_indices is not None and torch.equal(changed, noisy.noisy_indices)
    assert torch.equal(clean.X_train, noisy.X_train)
    assert torch.equal(clean.y_val, noisy.y_val) and torch.equal(clean.y_test, noisy.y_test)
    assert noisy.y_train.dtype == clean.y_train.dtype


def test_label_noise_draws_every_wrong_class() -> None:
    noisy = make("blobs", label_noise=1.0, n_samples=600)
    clean = make("blobs", n_samples=600)
    shift = (noisy.y_train - clean.y_train) % 3
    assert set(shift.tolist()) == {1, 2}  # never the true class, both wrong ones


def test_train_size_then_label_noise() -> None:
    dm = make("moons", train_size=40, label_noise=0.5)
    assert len(dm.y_train) == 40 and dm.noisy_indices is not None
    assert len(dm.noisy_indices) == 20


def test_train_loader_is_shuffled_and_seeded() -> None:
    dm = make("blobs", batch_size=16)
    first = torch.cat([y for _, y in dm.train_dataloader()])
    again = torch.cat([y for _, y in dm.train_dataloader()])
    assert torch.equal(first, again)
    X = torch.cat([x for x, _ in dm.train_dataloader()])
    assert not torch.equal(X, dm.X_train)
    assert sorted(map(tuple, X.tolist())) == sorted(map(tuple, dm.X_train.tolist()))
    val = torch.cat([x for x, _ in dm.val_dataloader()])
    assert torch.equal(val, dm.X_val)  # val and test are not shuffled
    loader = dm.train_dataloader()
    assert loader.num_workers == 0 and not loader.persistent_workers


@pytest.mark.parametrize("bad", ["half", 0, -2])
def test_bad_batch_size(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"data\.batch_size"):
        make("moons", batch_size=bad)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"train_size": 0}, "train_size"),
        ({"label_noise": 1.5}, "label_noise"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, "val_fraction"),
        ({"test_fraction": -0.1}, "test_fraction"),
        ({"num_workers": -1}, "num_workers"),
    ],
)
def test_bad_common_arguments(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"data\.{field}"):
        make("moons", **kwargs)


def test_registry_names_match_classes() -> None:
    expected = {
        "moons", "circles", "blobs", "xor", "spirals", "flower", "digits", "breast_cancer",
        "mnist5k", "mnist", "fashion_mnist", "cifar10", "parity", "adding", "seq_mnist", "text",
    }  # fmt: skip
    assert set(DATAMODULES) == expected
    for name, cls in DATAMODULES.items():
        assert cls.name == name
    with pytest.raises(ValueError, match="unknown data set 'nope'"):
        build_datamodule("nope")


def test_split_indices_sizes_and_stratification() -> None:
    y = np.repeat(np.arange(4), 50)
    train, val, test = split_indices(200, 0.1, 0.25, seed=0, stratify=y)
    assert (len(train), len(val), len(test)) == (130, 20, 50)
    assert len(np.unique(np.concatenate([train, val, test]))) == 200
    assert all(12 <= count <= 13 for count in np.bincount(y[test], minlength=4))
    assert np.bincount(y[val]).tolist() == [5, 5, 5, 5]
    train0, val0, test0 = split_indices(10, 0.0, 0.0, seed=0)
    assert len(train0) == 10 and len(val0) == len(test0) == 0
    with pytest.raises(ValueError, match=r"data\.val_fraction"):
        check_fractions(1.0)


def test_default_root_follows_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DLNOTES_DATA", str(tmp_path))
    assert default_root() == tmp_path
    monkeypatch.delenv("DLNOTES_DATA")
    assert default_root().name == "dlnotes" and default_root().parent.name == ".cache"


class _LogisticRegression(lightning.LightningModule):
    def __init__(self, spec: DataSpec) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(spec.in_features, spec.out_features)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        X, y = batch
        logits = self.linear(X).squeeze(1)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        self.log("val_loss", self.training_step(batch, 0))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.5)


def test_full_batch_gradient_descent_with_a_trainer(tmp_path) -> None:
    dm = make("moons", batch_size="full")
    trainer = lightning.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(_LogisticRegression(dm.spec), datamodule=dm)
    assert trainer.global_step == 3  # one step per epoch: the whole training set


def test_models_and_config_checks_import_without_lightning() -> None:
    """dlnotes.data loads a datamodule when it is first used: the models need only
    DataSpec, and the config's checks neither PyTorch nor Lightning until a target is."""
    code = (
        "import sys, dlnotes.training.validate; print(sorted(m for m in ('torch', 'lightning') "
        "if m in sys.modules)); import dlnotes.models; print('lightning' in sys.modules); "
        "from dlnotes.data import MoonsDataModule; print('lightning' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["[]", "False", "True"], proc.stderr[-2000:]
