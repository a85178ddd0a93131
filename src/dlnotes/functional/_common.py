"""Small helpers shared by the ops of :mod:`dlnotes.functional`."""

from __future__ import annotations

import torch


def pair(value: int | tuple[int, int] | list[int], name: str) -> tuple[int, int]:
    """Return ``(value, value)`` for an int, or the two ints of a pair."""
    if isinstance(value, int):
        return (value, value)
    if len(value) == 1:
        return (int(value[0]), int(value[0]))
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return (int(value[0]), int(value[1]))


def reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply ``reduction`` ('mean' | 'sum' | 'none') to an element-wise loss."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def reduction_scale(reduction: str, m: int) -> float:
    """The factor 1/m that 'mean' puts in front of every dZ (1 for 'sum' and 'none')."""
    return 1.0 / m if reduction == "mean" else 1.0
