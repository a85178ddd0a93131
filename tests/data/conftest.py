"""Fixtures shared by the datamodule tests."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from dlnotes.data.base import InMemoryDataModule


class Checks:
    """Assertions about the splits of a datamodule."""

    @staticmethod
    def rows(X: torch.Tensor) -> Counter[bytes]:
        """The samples of X as a multiset of byte strings."""
        flat = X.reshape(len(X), -1).contiguous()
        return Counter(r.numpy().tobytes() for r in flat)

    @classmethod
    def partition(cls, dm: InMemoryDataModule, X_full: torch.Tensor) -> None:
        """train + val + test hold exactly the samples of X_full: disjoint, none lost."""
        assert len(dm.X_train) + len(dm.X_val) + len(dm.X_test) == len(X_full)
        parts = cls.rows(dm.X_train) + cls.rows(dm.X_val) + cls.rows(dm.X_test)
        assert parts == cls.rows(X_full)

    @classmethod
    def disjoint(cls, dm: InMemoryDataModule) -> None:
        """No sample appears in two splits."""
        train, val, test = (cls.rows(x).keys() for x in (dm.X_train, dm.X_val, dm.X_test))
        assert not (train & val) and not (train & test) and not (val & test)

    @staticmethod
    def same_data(a: InMemoryDataModule, b: InMemoryDataModule) -> None:
        """Two datamodules hold identical splits."""
        for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name

    @staticmethod
    def first_batch(dm: InMemoryDataModule) -> tuple[torch.Tensor, torch.Tensor]:
        X, y = next(iter(dm.train_dataloader()))
        return X, y


@pytest.fixture
def check() -> type[Checks]:
    return Checks
