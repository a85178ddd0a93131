"""The 2-D toy sets: generators, random and published splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs, make_circles, make_moons

from dlnotes.data import (
    BlobsDataModule,
    CirclesDataModule,
    FlowerDataModule,
    MoonsDataModule,
    SpiralsDataModule,
    XorDataModule,
)


def reference_flower(m: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """The planar assignment's construction, with the global NumPy state as it does it."""
    np.random.seed(1)
    N = m // 2
    X, Y = np.zeros((m, 2)), np.zeros(m)
    for j in range(2):
        ix = slice(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + np.random.randn(N) * 0.2
        r = 4 * np.sin(4 * t) + np.random.randn(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X, Y


def test_published_circles_equal_the_assignment() -> None:
    state = np.random.get_state()
    try:
        np.random.seed(1)
        train_X, train_Y = make_circles(n_samples=300, noise=0.05)
        np.random.seed(2)
        test_X, test_Y = make_circles(n_samples=100, noise=0.05)
    finally:
        np.random.set_state(state)
    dm = CirclesDataModule(split="published")
    assert torch.equal(dm.X_train, torch.tensor(train_X, dtype=torch.float32))
    assert torch.equal(dm.y_train, torch.tensor(train_Y, dtype=torch.float32))
    assert torch.equal(dm.X_test, torch.tensor(test_X, dtype=torch.float32))
    assert torch.equal(dm.y_test, torch.tensor(test_Y, dtype=torch.float32))
    assert len(dm.X_val) == 60  # fresh points: round(0.2 · 300)
    train, val = set(map(tuple, dm.X_train.tolist())), set(map(tuple, dm.X_val.tolist()))
    assert not train & val


def test_published_moons_equal_the_assignment() -> None:
    state = np.random.get_state()
    try:
        np.random.seed(3)
        train_X, train_Y = make_moons(n_samples=300, noise=0.2)
    finally:
        np.random.set_state(state)
    dm = MoonsDataModule(split="published", batch_size="full")
    assert torch.equal(dm.X_train, torch.tensor(train_X, dtype=torch.float32))
    assert torch.equal(dm.y_train, torch.tensor(train_Y, dtype=torch.float32))
    assert (len(dm.X_val), len(dm.X_test)) == (60, 60)
    (X, _), *rest = list(dm.train_dataloader())
    assert not rest and X.shape == (300, 2)


def test_published_flower_equals_the_assignment_construction() -> None:
    state = np.random.get_state()
    try:
        X, Y = reference_flower()
    finally:
        np.random.set_state(state)
    dm = FlowerDataModule(split="published")
    assert torch.equal(dm.X_train, torch.tensor(X, dtype=torch.float32))
    assert torch.equal(dm.y_train, torch.tensor(Y, dtype=torch.float32))
    assert dm.class_names == ["red", "blue"]


def test_published_split_leaves_the_global_numpy_state_alone() -> None:
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    CirclesDataModule(split="published").setup()
    assert np.random.rand() == expected


def test_published_val_and_test_depend_on_seed_only() -> None:
    a, b = MoonsDataModule(split="published", seed=0), MoonsDataModule(split="published", seed=1)
    assert torch.equal(a.X_train, b.X_train)
    assert not torch.equal(a.X_val, b.X_val) and not torch.equal(a.X_test, b.X_test)


def test_bad_split_name() -> None:
    with pytest.raises(ValueError, match=r"data\.split"):
        MoonsDataModule(split="other")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cls", "generate"),
    [
        (MoonsDataModule, lambda rs: make_moons(n_samples=100, noise=0.2, random_state=rs)),
        (CirclesDataModule, lambda rs: make_circles(n_samples=100, noise=0.05, random_state=rs)),
        (
            BlobsDataModule,
            lambda rs: make_blobs(n_samples=100, centers=3, cluster_std=1.0, random_state=rs),
        ),
    ],
)
def test_random_split_partitions_the_sklearn_sample(cls, generate, check) -> None:
    dm = cls(n_samples=100, seed=5)
    X, _ = generate(np.random.RandomState(5))
    check.partition(dm, torch.tensor(X, dtype=torch.float32))
    assert (len(dm.X_train), len(dm.X_val), len(dm.X_test)) == (60, 20, 20)


@pytest.mark.parametrize("cls", [XorDataModule, SpiralsDataModule, FlowerDataModule])
def test_own_generators_split_disjointly(cls, check) -> None:
    dm = cls(n_samples=100, val_fraction=0.1, test_fraction=0.3)
    assert (len(dm.X_train), len(dm.X_val), len(dm.X_test)) == (60, 10, 30)
    check.disjoint(dm)
    # stratified: both classes in every split, balanced up to rounding
    for y in (dm.y_train, dm.y_val, dm.y_test):
        assert abs(float(y.mean()) - 0.5) <= 0.1


def test_xor_labels_follow_the_quadrants() -> None:
    dm = XorDataModule(n_samples=200)
    X, y = dm.X_train, dm.y_train
    assert torch.equal(y, (X[:, 0] * X[:, 1] < 0).float())
    assert float(X.abs().max()) <= 1.0


def test_spirals_with_three_arms_are_multiclass() -> None:
    dm = SpiralsDataModule(n_samples=90, num_classes=3, noise=0.0)
    assert dm.spec.task == "multiclass" and dm.spec.out_features == 3
    assert dm.y_train.dtype == torch.long
    radius = torch.cat([dm.X_train, dm.X_val, dm.X_test]).norm(dim=1)
    assert float(radius.max()) <= 1.0 + 1e-6


def test_blobs_noise_is_the_cluster_spread() -> None:
    tight = BlobsDataModule(n_samples=300, centers=4, noise=0.1)
    assert tight.spec.num_classes == 4
    X, y = tight.X_train, tight.y_train
    spread = torch.stack([X[y == k].std(dim=0) for k in range(4)])
    assert float(spread.max()) < 0.2


def test_standardize_uses_training_statistics() -> None:
    dm = BlobsDataModule(standardize=True)
    assert torch.allclose(dm.X_train.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(dm.X_train.std(0), torch.ones(2), atol=1e-5)
    raw = BlobsDataModule()
    assert not torch.allclose(raw.X_train.mean(0), torch.zeros(2), atol=1e-2)
