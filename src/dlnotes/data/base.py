"""What every dlnotes datamodule shares: in-memory tensor splits, the common arguments
(``batch_size``, ``seed``, ``train_size``, ``label_noise``, ``num_workers``) and the
data loaders.

A concrete datamodule sets ``self._spec`` (and ``self.class_names``) in ``__init__`` and
implements :meth:`InMemoryDataModule._load`, which returns the three splits as float32
inputs and targets already in the dtype of their task. :meth:`InMemoryDataModule.setup`
then takes the ``train_size`` subset and corrupts ``label_noise`` of the training labels.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from sklearn.model_selection import train_test_split
from torch import Tensor
from torch.utils.data import DataLoader, Sampler, TensorDataset

from dlnotes.data.loader import ResumableDataLoader, ResumableTrainLoader
from dlnotes.data.spec import DataSpec

DATA_ENV_VAR = "DLNOTES_DATA"
"""Environment variable that overrides the default download/cache folder."""

BatchSize = int | str


class DatasetNotFoundError(FileNotFoundError):
    """The files of a dataset are not on disk (and could not be downloaded)."""


def default_root() -> Path:
    """Folder where downloadable datasets live: ``$DLNOTES_DATA`` or ``~/.cache/dlnotes``."""
    env = os.environ.get(DATA_ENV_VAR)
    return Path(env).expanduser() if env else Path("~/.cache/dlnotes").expanduser()


@dataclass
class Split:
    """Inputs ``X`` (m, ...) float32 and targets ``y`` (m, ...) of one split."""

    X: Tensor
    y: Tensor

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def take(self, index: Tensor | np.ndarray) -> Split:
        """The rows ``index`` of the split."""
        index = torch.as_tensor(index, dtype=torch.long)
        return Split(self.X[index], self.y[index])


class TensorBatchDataset(TensorDataset):
    """A :class:`~torch.utils.data.TensorDataset` that hands a whole batch to the data
    loader with one indexing operation instead of ``batch_size`` single-row lookups and a
    stack (the data loader calls ``__getitems__`` when a dataset defines it). Use it with
    :func:`collate_batch`."""

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, ...]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return tuple(t[index] for t in self.tensors)


def collate_batch(batch: Any) -> Any:
    """Collate function for :class:`TensorBatchDataset`: the batch is already stacked."""
    if isinstance(batch, tuple) and all(isinstance(t, Tensor) for t in batch):
        return batch
    return torch.utils.data.default_collate(batch)


def check_fractions(val_fraction: float, test_fraction: float = 0.0) -> None:
    """Both fractions in [0, 1) and leaving at least part of the data for training."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"data.{name} must be in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"data.val_fraction + data.test_fraction must be < 1 to leave training data, "
            f"got {val_fraction} + {test_fraction}"
        )


def split_indices(
    m: int,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint train/val/test indices of ``m`` samples.

    Sizes: ``round(test_fraction·m)`` test, ``round(val_fraction·m)`` val, the rest train.
    With ``stratify`` (class labels) every split keeps the class proportions where the
    counts allow it (scikit-learn's ``train_test_split``); otherwise, and whenever a class
    is too small to stratify, a plain random split.
    """
    n_test, n_val = round(test_fraction * m), round(val_fraction * m)
    if m - n_test - n_val < 1:
        raise ValueError(f"{m} samples leave no training data after the val/test split")
    index = np.arange(m)

    def cut(idx: np.ndarray, n: int, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if n == 0:
            return idx, idx[:0]
        try:
            rest, part = train_test_split(idx, test_size=n, random_state=seed, stratify=labels)
        except ValueError:  # a class too small to stratify: fall back to a plain split
            rest, part = train_test_split(idx, test_size=n, random_state=seed)
        return np.sort(rest), np.sort(part)

    rest, test = cut(index, n_test, None if stratify is None else stratify)
    train, val = cut(rest, n_val, None if stratify is None else stratify[rest])
    return train, val, test


def corrupt_labels(
    y: Tensor, fraction: float, num_classes: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Replace exactly ``round(fraction·m)`` labels, chosen at random, by a random *wrong*
    class (uniform over the other ``num_classes − 1``; a flip for binary 0/1 floats).

    Returns the new labels and the sorted indices that were changed.
    """
    m = int(y.shape[0])
    k = round(fraction * m)
    changed = torch.randperm(m, generator=generator)[:k].sort().values
    y = y.clone()
    if y.is_floating_point():  # binary: float 0/1
        y[changed] = 1.0 - y[changed]
    else:
        shift = torch.randint(1, num_classes, (k,), generator=generator)
        y[changed] = (y[changed] + shift) % num_classes
    return y, changed


class InMemoryDataModule(ResumableTrainLoader, L.LightningDataModule):
    """Base of all dlnotes datamodules: three in-memory splits served by data loaders.

    Common arguments (every subclass takes them as keyword arguments):

    batch_size:  samples per batch, or ``"full"`` for one batch holding the whole split
                 (full-batch gradient descent).
    seed:        seeds everything random in the datamodule: generation, splits, the
                 ``train_size`` subset, label noise and the training-set shuffle.
    train_size:  keep only this many (random) training samples, e.g. to over-fit on
                 purpose; ``None`` keeps all. Must not exceed the training split.
    label_noise: fraction of the training labels replaced by a random wrong class
                 (classification only; val/test labels stay clean).
    num_workers: data-loader worker processes (0 loads in the main process).
    """

    name: str = ""

    def __init__(
        self,
        *,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        label_noise: float = 0.0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(batch_size, str):
            if batch_size != "full":
                raise ValueError(f'data.batch_size must be an int or "full", got {batch_size!r}')
        elif int(batch_size) < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        if train_size is not None and train_size < 1:
            raise ValueError(f"data.train_size must be >= 1 or null, got {train_size}")
        if not 0.0 <= label_noise <= 1.0:
            raise ValueError(f"data.label_noise must be in [0, 1], got {label_noise}")
        if num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {num_workers}")
        self.batch_size = batch_size
        self.seed = int(seed)
        self.train_size = train_size
        self.label_noise = float(label_noise)
        self.num_workers = int(num_workers)
        self.class_names: list[str] | None = None
        self.noisy_indices: Tensor | None = None
        """Training-set rows whose label ``label_noise`` replaced (after ``setup``)."""
        self._spec: DataSpec | None = None
        self._splits: dict[str, Split] | None = None

    # ----------------------------------------------------------------- the contract
    @property
    def spec(self) -> DataSpec:
        """Shapes and task of the data (see :class:`~dlnotes.data.spec.DataSpec`)."""
        if self._spec is None:
            self.setup()
        assert self._spec is not None
        return self._spec

    @abstractmethod
    def _load(self) -> dict[str, Split]:
        """The full ``{"train", "val", "test"}`` splits, before ``train_size``/``label_noise``."""

    def setup(self, stage: str | None = None) -> None:
        """Build the splits (once; later calls, whatever the stage, are no-ops)."""
        if self._splits is not None:
            return
        if self.label_noise > 0 and self._spec is not None and self._spec.task == "regression":
            raise ValueError("data.label_noise applies to classification, not regression")
        splits = self._load()
        generator = torch.Generator().manual_seed(self.seed + 1)
        train = splits["train"]
        if self.train_size is not None:
            if self.train_size > len(train):
                raise ValueError(
                    f"data.train_size={self.train_size} exceeds the {len(train)} training "
                    f"samples of {self.name or type(self).__name__} (maximum {len(train)})"
                )
            keep = torch.randperm(len(train), generator=generator)[: self.train_size]
            train = train.take(keep.sort().values)
        if self.label_noise > 0:
            y, self.noisy_indices = corrupt_labels(
                train.y, self.label_noise, self.spec.num_classes, generator
            )
            train = Split(train.X, y)
        splits["train"] = train
        self._splits = splits

    # ----------------------------------------------------------------- data access
    def _split(self, name: str) -> Split:
        if self._splits is None:
            self.setup()
        assert self._splits is not None
        return self._splits[name]

    @property
    def X_train(self) -> Tensor:
        """Training inputs (after ``train_size``), float32."""
        return self._split("train").X

    @property
    def y_train(self) -> Tensor:
        """Training targets (after ``train_size`` and ``label_noise``)."""
        return self._split("train").y

    @property
    def X_val(self) -> Tensor:
        return self._split("val").X

    @property
    def y_val(self) -> Tensor:
        return self._split("val").y

    @property
    def X_test(self) -> Tensor:
        return self._split("test").X

    @property
    def y_test(self) -> Tensor:
        return self._split("test").y

    def dataset(self, split: str) -> TensorBatchDataset:
        """The ``"train"``, ``"val"`` or ``"test"`` split as a dataset of ``(X, y)`` pairs."""
        s = self._split(split)
        return TensorBatchDataset(s.X, s.y)

    # ----------------------------------------------------------------- loaders
    def _loader(self, split: str, shuffle: bool, sampler: Sampler | None = None) -> DataLoader:
        data = self.dataset(split)
        size = len(data) if self.batch_size == "full" else int(self.batch_size)
        # resumable: an interrupted fit continues mid-epoch with the same batches
        return ResumableDataLoader(
            data,
            batch_size=max(size, 1),
            shuffle=shuffle,
            generator=torch.Generator().manual_seed(self.seed) if shuffle else None,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=False,
            collate_fn=collate_batch,
        )

    def _evaluation_loader(self, split: str) -> DataLoader:
        """Val/test batches in order. Under DDP each process takes every world_size-th
        sample and none is repeated: Lightning's own DistributedSampler would pad the
        split to a multiple of the processes with repeated samples, which would count
        twice in the metrics (the Task sums its metrics over all processes)."""
        trainer = self.trainer
        processes = trainer.world_size if trainer is not None else 1
        if processes > 1 and len(self.dataset(split)) >= processes:
            sampler = UnrepeatedDistributedSampler(
                self.dataset(split), num_replicas=processes, rank=trainer.global_rank, shuffle=False
            )
            return self._loader(split, shuffle=False, sampler=sampler)
        return self._loader(split, shuffle=False)

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches; the order is a function of ``seed`` only."""
        return self.resume_position(self._loader("train", shuffle=True))

    def val_dataloader(self) -> DataLoader:
        return self._evaluation_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._evaluation_loader("test")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(spec={self._spec})"


def standardize(splits: dict[str, Split], dims: tuple[int, ...] = (0,)) -> dict[str, Split]:
    """Standardize every split with the mean and standard deviation of the training inputs
    over ``dims`` (``(0,)``: per feature; ``(0, 2, 3)``: per image channel)."""
    X = splits["train"].X
    mean = X.mean(dim=dims, keepdim=True)
    std = X.std(dim=dims, keepdim=True).clamp_min(1e-8)
    return {k: Split((s.X - mean) / std, s.y) for k, s in splits.items()}
