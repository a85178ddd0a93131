"""Small helpers shared by the ops of :mod:`dlnotes.functional`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch.autograd.function import once_differentiable


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


def first_order(backward: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a hand-written backward as giving first derivatives only.

    Our backward passes are formulas on tensors saved without a graph, so a second
    derivative taken through them would be wrong. Under ``create_graph=True`` this does
    what :func:`torch.autograd.function.once_differentiable` does (the gradients come
    back, and differentiating them again raises); in the usual backward, where grad mode
    is off, it calls ``backward`` directly and skips once_differentiable's per-call cost
    (a grad-mode context and a check of every gradient, ~8 µs on a small CPU).
    """
    guarded = once_differentiable(backward)

    @functools.wraps(backward)
    def wrapper(ctx: Any, *grads: Any) -> Any:
        if torch.is_grad_enabled():
            return guarded(ctx, *grads)
        return backward(ctx, *grads)

    return wrapper
