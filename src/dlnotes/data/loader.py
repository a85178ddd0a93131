"""A data loader that can continue an epoch where a checkpoint left it.

Lightning saves the ``state_dict()`` of a training loader that has one in every
checkpoint and hands it back through ``load_state_dict()`` when a fit resumes. The
state is that of the random streams an epoch's batches draw from, as it was when the
current epoch's iterator was created, and the number of batches served since. The
streams are the shuffle's generator and, where the dataset has one, the dataset's own
``generator`` (data augmentation draws its random maps from it as batches are made). A
resumed fit draws the same permutation, makes again the batches already trained on
(so that the dataset's stream advances as it did), skips them and serves the rest: an
interrupted and resumed run sees exactly the batches of an uninterrupted one. Between
epochs the state is simply the streams' current state (the next epoch's draws).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader


class ResumableDataLoader(DataLoader):
    """A :class:`~torch.utils.data.DataLoader` with Lightning's ``state_dict`` /
    ``load_state_dict`` (a loader without a random stream has no state to keep)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._epoch_start: dict[str, torch.Tensor] | None = None
        self._served = 0
        self._pending: dict[str, Any] | None = None

    def _streams(self) -> dict[str, torch.Generator]:
        """The random streams of an epoch's batches by name: "generator" (the shuffle's)
        and "dataset_generator" (the dataset's own, e.g. data augmentation's)."""
        dataset_generator = getattr(self.dataset, "generator", None)
        streams = {"generator": self.generator, "dataset_generator": dataset_generator}
        return {name: g for name, g in streams.items() if isinstance(g, torch.Generator)}

    def _states(self) -> dict[str, torch.Tensor]:
        return {name: g.get_state() for name, g in self._streams().items()}

    def _restore(self, states: dict[str, Any]) -> None:
        for name, g in self._streams().items():
            if name in states:
                g.set_state(states[name])

    def __iter__(self) -> Iterator[Any]:
        skip = 0
        if self._pending is not None:
            self._restore(self._pending)
            skip = int(self._pending.get("served", 0))
            self._pending = None
        elif self._served == 0 and self._epoch_start is not None:
            # the previous iterator served nothing (Lightning made it and made another one
            # for the same epoch): its draws do not count
            self._restore(self._epoch_start)
        self._epoch_start = self._states() or None
        self._served = 0
        return self._serve(super().__iter__(), skip)

    def _serve(self, batches: Iterator[Any], skip: int) -> Iterator[Any]:
        for _ in range(skip):  # batches trained on before the interruption
            next(batches)
            self._served += 1
        for batch in batches:
            self._served += 1
            yield batch

    @property
    def mid_epoch(self) -> bool:
        """Whether an epoch has begun (its iterator exists) and not all batches are served."""
        return self._epoch_start is not None and self._served < len(self)

    def state_dict(self) -> dict[str, Any]:
        if self.mid_epoch and self._epoch_start is not None:
            return {**self._epoch_start, "served": self._served}
        states = self._states()
        return {**states, "served": 0} if states else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = dict(state_dict) if state_dict else None


class ResumableTrainLoader:
    """Mixin of a LightningDataModule whose ``train_dataloader`` passes its loader through
    :meth:`resume_position`.

    Lightning hands a loader's own state back only when a fit restarts mid-epoch; a
    datamodule's ``state_dict`` is saved in every checkpoint and restored before the
    loaders are made, whatever the point of the checkpoint. Keeping the training loader's
    position here makes a fit resumed from an end-of-epoch checkpoint draw the next
    epoch's permutation too, not the first epoch's again.
    """

    _train_loader: ResumableDataLoader | None = None
    _train_loader_state: dict[str, Any] | None = None

    def resume_position(self, loader: DataLoader) -> DataLoader:
        """``loader``, set to continue from the restored position if there is one."""
        if isinstance(loader, ResumableDataLoader):
            if self._train_loader_state:
                loader.load_state_dict(self._train_loader_state)
                self._train_loader_state = None
            self._train_loader = loader
        return loader

    def state_dict(self) -> dict[str, Any]:
        loader = self._train_loader
        return {"train_loader": loader.state_dict()} if loader is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._train_loader_state = state_dict.get("train_loader")
