"""Checkpoints written atomically and read back with ``weights_only=True``.

Lightning's :class:`~lightning.pytorch.plugins.io.TorchCheckpointIO` writes through an
fsspec transaction whose temporary file lives in the system's temp folder: on another
file system the final move is a copy, which a crash can leave half-written. Here the
temporary file sits next to the checkpoint, is flushed to disk, and ``os.replace``
swaps it in: a reader sees the old checkpoint or the new one, never a torn file.

Loading never unpickles code: ``torch.load(weights_only=True)`` accepts tensors and plain
Python containers only, which is all a dlnotes checkpoint holds (the Task saves no
hyperparameter objects; callback states are numbers, strings and tensors).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with an atomic local save and a ``weights_only`` load."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def load_checkpoint(
        self,
        path: _PATH,
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        if weights_only is False:
            raise ValueError(
                f"{type(self).__name__} loads checkpoints with weights_only=True only; "
                f"{path} would need unpickling arbitrary objects"
            )
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)
