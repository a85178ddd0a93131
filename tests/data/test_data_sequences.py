"""parity, adding and seq_mnist."""

from __future__ import annotations

import pytest
import torch

from dlnotes.data import AddingDataModule, ParityDataModule, SequentialMNISTDataModule
from dlnotes.data.images import mnist5k_arrays


def test_parity_labels_and_distinct_strings(check) -> None:
    dm = ParityDataModule(n_bits=6, n_samples=64, val_fraction=0.25, test_fraction=0.25)
    assert dm.spec.seq_len == 6 and dm.spec.in_features == 1 and dm.spec.task == "binary"
    X = torch.cat([dm.X_train, dm.X_val, dm.X_test])
    y = torch.cat([dm.y_train, dm.y_val, dm.y_test])
    assert X.shape == (64, 6, 1) and set(X.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(y, X.sum(dim=(1, 2)) % 2)
    assert len(check.rows(X)) == 64  # all 2⁶ strings, each once
    assert (len(dm.X_train), len(dm.X_val), len(dm.X_test)) == (32, 16, 16)


def test_parity_long_strings_and_limits() -> None:
    dm = ParityDataModule(n_bits=100, n_samples=50)
    assert dm.X_train.shape[1:] == (100, 1)
    assert torch.equal(dm.y_train, dm.X_train.sum(dim=(1, 2)) % 2)
    with pytest.raises(ValueError, match=r"data\.n_samples=300.*data\.n_bits=8 \(maximum 256\)"):
        ParityDataModule(n_bits=8, n_samples=300)


def test_adding_problem_targets() -> None:
    dm = AddingDataModule(seq_len=9, n_samples=100)
    spec = dm.spec
    assert (spec.task, spec.in_features, spec.out_features, spec.seq_len) == (
        "regression", 2, 1, 9,
    )  # fmt: skip
    X, y = dm.X_train, dm.y_train
    values, markers = X[..., 0], X[..., 1]
    assert torch.equal(markers.sum(dim=1), torch.full((len(X),), 2.0))
    assert torch.equal(markers[:, :4].sum(dim=1), torch.ones(len(X)))  # one in each half
    assert torch.allclose(y, (values * markers).sum(dim=1))
    assert float(values.min()) >= 0 and float(values.max()) < 1
    assert (len(dm.X_train), len(dm.X_val), len(dm.X_test)) == (80, 10, 10)
    with pytest.raises(TypeError):
        AddingDataModule(label_noise=0.1)  # type: ignore[call-arg]  # regression: no labels


def test_seq_mnist_reads_rows_as_time_steps(check) -> None:
    dm = SequentialMNISTDataModule()
    spec = dm.spec
    assert (spec.kind, spec.seq_len, spec.in_features, spec.num_classes) == (
        "sequence", 28, 28, 10,
    )  # fmt: skip
    images, _ = mnist5k_arrays()
    check.partition(dm, torch.tensor(images, dtype=torch.float32) / 255)
    assert dm.X_train.shape[1:] == (28, 28)
    normalized = SequentialMNISTDataModule(normalize=True)
    assert abs(float(normalized.X_train.mean())) < 1e-4
