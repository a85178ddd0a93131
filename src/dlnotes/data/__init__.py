"""Datasets as Lightning datamodules, registered under the names of their Hydra configs
(``conf/data/<name>.yaml``). Every datamodule exposes ``.spec`` (a :class:`DataSpec`)
from construction on, and holds its splits in memory once ``setup()`` has run.

The datamodules load when first used (a module ``__getattr__``, PEP 562): a model needs
only :class:`DataSpec`, and ``import dlnotes.models`` should not cost the seconds that
Lightning, torchvision and scikit-learn take to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dlnotes.data.spec import DataSpec

if TYPE_CHECKING:
    from dlnotes.data.base import InMemoryDataModule

BASE = ("DatasetNotFoundError", "InMemoryDataModule", "default_root")
"""The names :mod:`dlnotes.data.base` gives this package."""

DATASETS: dict[str, tuple[str, ...]] = {
    "toy2d": (
        "MoonsDataModule",
        "CirclesDataModule",
        "BlobsDataModule",
        "XorDataModule",
        "SpiralsDataModule",
        "FlowerDataModule",
    ),
    "tabular": ("DigitsDataModule", "BreastCancerDataModule"),
    "images": (
        "MNIST5kDataModule",
        "MNISTDataModule",
        "FashionMNISTDataModule",
        "CIFAR10DataModule",
    ),
    "sequences": ("ParityDataModule", "AddingDataModule", "SequentialMNISTDataModule"),
    "text": ("TextDataModule",),
}
"""Submodule → its datamodules, in the order of :data:`DATAMODULES`."""

_HOME = dict.fromkeys(BASE, "base") | {
    name: module for module, names in DATASETS.items() for name in names
}


def __getattr__(name: str) -> Any:
    if name in globals():
        return globals()[name]
    if name == "DATAMODULES":  # config name → datamodule class
        value: Any = {
            cls.name: cls for names in DATASETS.values() for cls in map(__getattr__, names)
        }
    elif name in _HOME:
        value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # imported once
    return value


def build_datamodule(name: str, **kwargs: Any) -> InMemoryDataModule:
    """The datamodule registered as ``name``, constructed from keyword arguments."""
    registry = __getattr__("DATAMODULES")
    try:
        cls = registry[name]
    except KeyError:
        raise ValueError(
            f"unknown data set {name!r}; choose one of {', '.join(sorted(registry))}"
        ) from None
    return cls(**kwargs)


__all__ = ["DATAMODULES", "DataSpec", "build_datamodule", *_HOME]


def __dir__() -> list[str]:
    return sorted(__all__)
