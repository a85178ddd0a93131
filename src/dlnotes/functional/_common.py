"""Small helpers shared by the ops of :mod:`dlnotes.functional`."""

from __future__ import annotations

import contextlib
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


# Mixed precision (torch.autocast; Lightning's precision="bf16-mixed" / "16-mixed").
# Inside an autocast region PyTorch runs each op in the dtype its rule gives (matrix
# products and convolutions in 16 bits, losses in float32); the backward of a Function
# runs outside the region. torch.amp.custom_fwd / custom_bwd carry the region over to the
# backward for one fixed device type; these do it for the device of the first input.

AutocastState = tuple[str, torch.dtype | None] | None
"""(device type, dtype) of the autocast region a forward ran in ((device type, None):
autocast turned off for the op); None outside one."""

LOW = (torch.float16, torch.bfloat16)
"""The 16-bit float dtypes of mixed precision."""


def autocast_state(X: torch.Tensor) -> AutocastState:
    """The autocast region in force for ``X``'s device, or None."""
    # the usual answer, no region at all, without asking for X.device (~2 µs)
    for device in AUTOCAST_DEVICES:
        if torch.is_autocast_enabled(device):
            break
    else:
        return None
    device = X.device.type
    if device not in AUTOCAST_DEVICES or not torch.is_autocast_enabled(device):
        return None
    return device, torch.get_autocast_dtype(device)


AUTOCAST_DEVICES = ("cpu", "cuda", "mps")
"""The devices Lightning trains on (CPU, CUDA GPUs, Apple's MPS) and autocast covers."""


def autocast_off(state: AutocastState) -> contextlib.AbstractContextManager:
    """Leave the autocast region ``state`` (nothing to do outside one)."""
    return torch.autocast(state[0], enabled=False) if state else contextlib.nullcontext()


def widen(X: torch.Tensor) -> torch.Tensor:
    """16-bit X as float32 (other dtypes as they are)."""
    return X.float() if X.dtype in LOW else X


def autocast_forward(forward: Callable[..., Any] | None = None, *, cast: str | None = None) -> Any:
    """Decorate the forward of an autograd Function for mixed precision.

    cast=None: the forward runs in the caller's autocast region (each PyTorch op in it
        follows autocast's rule) and keeps the region on ``ctx`` for
        :func:`autocast_backward` to re-enter.
    cast="float32" (the losses, as PyTorch's): 16-bit inputs are widened to float32.
    cast="low" (dense, convolution, RNN, as PyTorch's): float32 inputs are narrowed to
        the region's 16-bit dtype (the RNN's in-place and ``out=`` products are out of
        autocast's reach, so the narrowing is done here).
    With a cast, the forward and the backward run with autocast off. Outside an autocast
    region the forward runs as it is; float64 is never cast.
    """
    if cast not in (None, "float32", "low"):
        raise ValueError(f"cast must be None, 'float32' or 'low', got {cast!r}")
    if forward is None:
        return functools.partial(autocast_forward, cast=cast)

    @functools.wraps(forward)
    def wrapper(ctx: Any, X: torch.Tensor, *args: Any) -> Any:
        state = autocast_state(X)
        if state is None or cast is None:
            ctx.autocast = state
            return forward(ctx, X, *args)
        ctx.autocast = (state[0], None)  # the backward, too, runs with autocast off
        dtype = torch.float32 if cast == "float32" else state[1]
        with autocast_off(state):
            return forward(ctx, *(_cast(a, dtype) for a in (X, *args)))

    return wrapper


def _cast(a: Any, dtype: torch.dtype) -> Any:
    if isinstance(a, torch.Tensor) and a.is_floating_point() and a.dtype != torch.float64:
        return a.to(dtype)
    return a


def autocast_backward(backward: Callable[..., Any]) -> Callable[..., Any]:
    """Run a backward in the autocast region its forward ran in (see
    :func:`autocast_forward`), so that its products take the forward's dtypes."""

    @functools.wraps(backward)
    def wrapper(ctx: Any, *grads: Any) -> Any:
        state = ctx.autocast
        if state is None:
            return backward(ctx, *grads)
        device, dtype = state
        with torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            return backward(ctx, *grads)

    return wrapper
