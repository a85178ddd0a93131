"""Small real data sets bundled with scikit-learn (no download): ``digits`` and
``breast_cancer``. Both are split at random, stratified by class, with ``seed``."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits

from dlnotes.data.base import (
    BatchSize,
    InMemoryDataModule,
    Split,
    check_fractions,
    split_indices,
    standardize,
)
from dlnotes.data.spec import DataSpec


def _random_splits(
    X: torch.Tensor, y: torch.Tensor, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, Split]:
    stratify = y.numpy() if not y.is_floating_point() else y.numpy().astype(np.int64)
    train, val, test = split_indices(len(y), val_fraction, test_fraction, seed, stratify)
    whole = Split(X, y)
    return {"train": whole.take(train), "val": whole.take(val), "test": whole.take(test)}


class DigitsDataModule(InMemoryDataModule):
    """The 1,797 8×8 handwritten digits of ``sklearn.datasets.load_digits``; 10 classes.

    X: (m, 1, 8, 8) float32, the 0…16 grey levels scaled to [0, 1] (``normalize=true``:
    then standardized with the training mean and standard deviation); y: int64 digits.
    Models that want flat inputs flatten them (``spec.in_features`` = 64).
    """

    name = "digits"

    def __init__(
        self,
        *,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        normalize: bool = False,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        label_noise: float = 0.0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            seed=seed,
            train_size=train_size,
            label_noise=label_noise,
            num_workers=num_workers,
        )
        check_fractions(val_fraction, test_fraction)
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self.normalize = bool(normalize)
        self._spec = DataSpec(
            task="multiclass",
            kind="image",
            in_features=64,
            out_features=10,
            num_classes=10,
            in_channels=1,
            image_size=(8, 8),
            name=self.name,
        )
        self.class_names = [str(d) for d in range(10)]

    def _load(self) -> dict[str, Split]:
        bunch = load_digits()
        X = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
        y = torch.as_tensor(bunch.target, dtype=torch.long)
        splits = _random_splits(X, y, self.val_fraction, self.test_fraction, self.seed)
        return standardize(splits, dims=(0, 1, 2, 3)) if self.normalize else splits


class BreastCancerDataModule(InMemoryDataModule):
    """The Wisconsin diagnostic breast-cancer set (``sklearn.datasets.load_breast_cancer``):
    569 tumours, 30 real-valued features, binary target (0 = malignant, 1 = benign, as
    scikit-learn codes it).

    X: (m, 30) float32, standardized per feature with the training split's mean and
    standard deviation (``standardize=false`` keeps the raw features, whose scales differ
    by four orders of magnitude); y: float 0/1.
    """

    name = "breast_cancer"

    def __init__(
        self,
        *,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        standardize: bool = True,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        label_noise: float = 0.0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            seed=seed,
            train_size=train_size,
            label_noise=label_noise,
            num_workers=num_workers,
        )
        check_fractions(val_fraction, test_fraction)
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self.standardize = bool(standardize)
        self._spec = DataSpec(
            task="binary", kind="tabular", in_features=30, out_features=1, num_classes=2,
            name=self.name,
        )  # fmt: skip
        self.class_names = ["malignant", "benign"]
        self.feature_names: list[str] = []

    def _load(self) -> dict[str, Split]:
        bunch = load_breast_cancer()
        self.feature_names = [str(f) for f in bunch.feature_names]
        X = torch.as_tensor(bunch.data, dtype=torch.float32)
        y = torch.as_tensor(bunch.target, dtype=torch.float32)
        splits = _random_splits(X, y, self.val_fraction, self.test_fraction, self.seed)
        return standardize(splits) if self.standardize else splits
