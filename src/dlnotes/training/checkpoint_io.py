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
import pickle
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


def check_loadable(path: str, module: torch.nn.Module, key: str) -> None:
    """Raise a :class:`~dlnotes.training.validate.ConfigError` naming ``key`` (the setting
    that chose the checkpoint) when the checkpoint at ``path`` cannot be read, or holds
    weights of other names or shapes than ``module``'s, before a fit starts from it."""
    from dlnotes.training.validate import ConfigError, sentence

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # torch's advice (weights_only=False) is not ours
        raise ConfigError(
            f"{key} could not be read as a checkpoint (not a PyTorch file, or one holding "
            f"Python objects that a weights-only load refuses); give a .ckpt file that "
            f"dlnotes-train wrote."
        ) from err
    except Exception as err:
        why = sentence(f"{type(err).__name__}: {err}").split(". ")[0].rstrip(".")
        raise ConfigError(
            f"{key} could not be read as a checkpoint ({why}); give a .ckpt file that "
            f"dlnotes-train wrote."
        ) from err
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ConfigError(
            f"{key} holds no Lightning state_dict; give a .ckpt file that dlnotes-train wrote."
        )
    differences = weight_differences(state, module.state_dict())
    if differences:
        raise ConfigError(
            f"{key} holds the weights of another model ({'; '.join(differences)}): start "
            f"from it with the model and data settings of the run that wrote it (its "
            f".hydra/overrides.yaml lists them)."
        )


def weight_differences(
    saved: dict[str, Any], own: dict[str, torch.Tensor], shown: int = 2
) -> list[str]:
    """How the ``saved`` state_dict differs from ``own``: names missing, names not
    expected, tensors of another shape (at most ``shown`` names of each)."""

    def some(names: list[str]) -> str:
        more = f" and {len(names) - shown} more" if len(names) > shown else ""
        return ", ".join(names[:shown]) + more

    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    reshaped = [
        f"{k} is {_shape(saved[k])} there, {_shape(own[k])} here"
        for k in own
        if k in saved and tuple(getattr(saved[k], "shape", ())) != tuple(own[k].shape)
    ]
    out = [f"no {some(missing)}"] if missing else []
    out += [f"unexpected {some(unexpected)}"] if unexpected else []
    return out + reshaped[:shown]


def _shape(t: Any) -> str:
    return "×".join(str(n) for n in getattr(t, "shape", ())) or "a scalar"
