"""Shared assertions: a dlnotes op against its torch twin, values and gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

TOL = {"atol": 1e-9, "rtol": 1e-9}


def leaves(tensors: Sequence[torch.Tensor | None]) -> list[torch.Tensor | None]:
    """Fresh float leaves that require grad (ints and None pass through)."""
    out: list[torch.Tensor | None] = []
    for t in tensors:
        if t is not None and t.is_floating_point():
            t = t.detach().clone().requires_grad_(True)
        out.append(t)
    return out


def assert_matches_twin(
    ours: Callable[..., torch.Tensor],
    twin: Callable[..., torch.Tensor],
    inputs: Sequence[torch.Tensor | None],
    grad_out: torch.Tensor | None = None,
) -> None:
    """Same value and same gradient w.r.t. every float input, to 1e-9 (float64)."""
    a, b = leaves(inputs), leaves(inputs)
    ya, yb = ours(*a), twin(*b)
    torch.testing.assert_close(ya, yb, **TOL)
    g = torch.randn_like(ya) if grad_out is None else grad_out
    ya.backward(g)
    yb.backward(g)
    for ta, tb in zip(a, b):
        if ta is not None and ta.requires_grad:
            torch.testing.assert_close(ta.grad, tb.grad, **TOL)


def gradcheck(fn: Callable[..., torch.Tensor], inputs: Sequence[torch.Tensor | None]) -> None:
    assert torch.autograd.gradcheck(fn, tuple(leaves(inputs)), eps=1e-6, atol=1e-7)
