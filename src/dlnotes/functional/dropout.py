"""Dropout — notes 001, "Tackling overfitting → Dropout".

In training mode every unit is kept with probability 1 − p and zeroed with probability p.
This is *inverted* dropout: the kept units are scaled by 1/(1 − p) at training time, so
the expected activation is unchanged and evaluation needs no rescaling at all:

    M ~ Bernoulli(1 − p)   (element-wise),   A = X · M / (1 − p).

The mask is the layer's cache; the backward reuses it, dX = dA · M / (1 − p).
In evaluation mode (or for p = 0) dropout is the identity, and p = 1 drops everything.
"""

from __future__ import annotations

import torch
from torch.autograd.function import FunctionCtx

from dlnotes.functional._common import first_order


def dropout_mask(X: torch.Tensor, p: float) -> torch.Tensor:
    """The cache of one training-mode pass: M / (1 − p), M ~ Bernoulli(1 − p), X's shape."""
    if p == 1:
        # every unit dropped: M = 0 (no mask to draw, as in PyTorch)
        return torch.zeros((), dtype=X.dtype, device=X.device)
    # M ~ Bernoulli(1 − p), kept already divided by 1 − p
    return torch.empty_like(X).bernoulli_(1 - p).div_(1 - p)


def dropout_forward(X: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """X: (any shape) → A: (same shape), cache M / (1 − p); training mode, 0 < p ≤ 1."""
    scaled_mask = dropout_mask(X, p)
    # A = X · M / (1 − p)
    return X * scaled_mask, scaled_mask


def dropout_backward(dA: torch.Tensor, scaled_mask: torch.Tensor) -> torch.Tensor:
    # dX = dA · M / (1 − p)
    return dA * scaled_mask


class Dropout(torch.autograd.Function):
    """A = X · M / (1 − p) with M ~ Bernoulli(1 − p); 0 < p ≤ 1, training mode."""

    @staticmethod
    def forward(ctx: FunctionCtx, X: torch.Tensor, p: float, inplace: bool) -> torch.Tensor:
        """X: (any shape) → A: (same shape)."""
        if inplace:
            scaled_mask = dropout_mask(X, p)
            ctx.save_for_backward(scaled_mask)
            # A = X · M / (1 − p), written over X
            ctx.mark_dirty(X)
            return X.mul_(scaled_mask)
        A, scaled_mask = dropout_forward(X, p)
        ctx.save_for_backward(scaled_mask)
        return A

    @staticmethod
    @first_order
    def backward(ctx: FunctionCtx, dA: torch.Tensor):
        """dA: (any shape) → dX: (same shape)."""
        return dropout_backward(dA, *ctx.saved_tensors), None, None


def dropout(
    input: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> torch.Tensor:
    """Drop-in twin of :func:`torch.nn.functional.dropout` (inverted dropout).

    Shapes: input (any shape) → (same shape). ``training=False`` or ``p = 0`` returns
    ``input`` itself; ``p = 1`` returns zeros. ``inplace=True`` overwrites ``input``.
    On CPU the mask is drawn exactly as PyTorch draws it, so under the same seed the
    result equals ``torch.nn.functional.dropout``.
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0 or input.numel() == 0:
        # A = X: evaluation mode, or nothing to drop
        return input
    return Dropout.apply(input, p, inplace)
