"""Datasets as Lightning datamodules, registered under the names of their Hydra configs
(``conf/data/<name>.yaml``). Every datamodule exposes ``.spec`` (a :class:`DataSpec`)
from construction on, and holds its splits in memory once ``setup()`` has run."""

from __future__ import annotations

from typing import Any

from dlnotes.data.base import DatasetNotFoundError, InMemoryDataModule, default_root
from dlnotes.data.images import (
    CIFAR10DataModule,
    FashionMNISTDataModule,
    MNIST5kDataModule,
    MNISTDataModule,
)
from dlnotes.data.sequences import AddingDataModule, ParityDataModule, SequentialMNISTDataModule
from dlnotes.data.spec import DataSpec
from dlnotes.data.tabular import BreastCancerDataModule, DigitsDataModule
from dlnotes.data.text import TextDataModule
from dlnotes.data.toy2d import (
    BlobsDataModule,
    CirclesDataModule,
    FlowerDataModule,
    MoonsDataModule,
    SpiralsDataModule,
    XorDataModule,
)

DATAMODULES: dict[str, type[InMemoryDataModule]] = {
    cls.name: cls
    for cls in (
        MoonsDataModule,
        CirclesDataModule,
        BlobsDataModule,
        XorDataModule,
        SpiralsDataModule,
        FlowerDataModule,
        DigitsDataModule,
        BreastCancerDataModule,
        MNIST5kDataModule,
        MNISTDataModule,
        FashionMNISTDataModule,
        CIFAR10DataModule,
        ParityDataModule,
        AddingDataModule,
        SequentialMNISTDataModule,
        TextDataModule,
    )
}
"""Config name → datamodule class."""


def build_datamodule(name: str, **kwargs: Any) -> InMemoryDataModule:
    """The datamodule registered as ``name``, constructed from keyword arguments."""
    try:
        cls = DATAMODULES[name]
    except KeyError:
        raise ValueError(
            f"unknown data set {name!r}; choose one of {', '.join(sorted(DATAMODULES))}"
        ) from None
    return cls(**kwargs)


__all__ = [
    "DATAMODULES",
    "AddingDataModule",
    "BlobsDataModule",
    "BreastCancerDataModule",
    "CIFAR10DataModule",
    "CirclesDataModule",
    "DataSpec",
    "DatasetNotFoundError",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "FlowerDataModule",
    "InMemoryDataModule",
    "MNIST5kDataModule",
    "MNISTDataModule",
    "MoonsDataModule",
    "ParityDataModule",
    "SequentialMNISTDataModule",
    "SpiralsDataModule",
    "TextDataModule",
    "XorDataModule",
    "build_datamodule",
    "default_root",
]
