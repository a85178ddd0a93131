"""The dense (fully connected) layer — notes 002, "Deep Neural Networks: building blocks".

The notes write one layer as Z[l] = W[l] A[l-1] + b[l] with samples as *columns*
(A is (n[l-1], m)). PyTorch, and therefore this module, keeps samples as *rows*:
A is (m, n[l-1]) and the same equation reads Z = A Wᵀ + b. W keeps the notes' shape
(n[l], n[l-1]) and b is (n[l],). The backward of the notes,

    dW[l] = dZ[l] A[l-1]ᵀ,   db[l] = Σ_samples dZ[l],   dA[l-1] = W[l]ᵀ dZ[l],

becomes, with samples as rows, dW = dZᵀ A, db = dZ summed over rows, dA = dZ W.
The 1/m of the notes lives in the loss: every loss here hands back dZ already
divided by m (for ``reduction="mean"``), so the layer does not divide again.
"""

from __future__ import annotations

import torch
from torch.autograd.function import FunctionCtx

from dlnotes.functional._common import autocast_backward, autocast_forward, first_order


def linear_forward(A: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """A: (m, n[l-1]), W: (n[l], n[l-1]), b: (n[l],) or None → Z: (m, n[l]).

    The cache of the layer is (A, W): what :func:`linear_backward` needs.
    """
    # Z = A Wᵀ + b   (the notes' Z = W A + b with samples as rows)
    return torch.addmm(b, A, W.t()) if b is not None else A @ W.t()


def linear_backward(
    dZ: torch.Tensor, A: torch.Tensor, W: torch.Tensor, has_bias: bool, need_dA: bool = True
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
    """dZ: (m, n[l]), cache A: (m, n[l-1]), W → dA: (m, n[l-1]), dW: W's shape, db: (n[l],).

    ``need_dA=False`` skips dA (the first layer, whose input X needs no gradient).
    """
    # dA[l-1] = W[l]ᵀ dZ[l]   (rows: dA = dZ W)
    dA = dZ @ W if need_dA else None
    # dW[l] = dZ[l] A[l-1]ᵀ   (rows: dW = dZᵀ A)
    dW = dZ.t() @ A
    # db[l] = Σ_i dZ[l](i)
    db = dZ.sum(0) if has_bias else None
    return dA, dW, db


class Linear(torch.autograd.Function):
    """Z = A Wᵀ + b with a hand-written backward; any leading dims of A count as samples."""

    @staticmethod
    @autocast_forward(cast="low")
    def forward(
        ctx: FunctionCtx, A: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None
    ) -> torch.Tensor:
        """A: (..., n_in), W: (n_out, n_in), b: (n_out,) or None → Z: (..., n_out)."""
        A2 = A.reshape(-1, A.shape[-1])  # the leading dims are all "samples"
        ctx.save_for_backward(A2, W)
        ctx.has_bias = b is not None
        ctx.leading = A.shape[:-1]
        return linear_forward(A2, W, b).reshape(*A.shape[:-1], W.shape[0])

    @staticmethod
    @first_order
    @autocast_backward
    def backward(ctx: FunctionCtx, dZ: torch.Tensor):
        """dZ: (..., n_out) → dA: (..., n_in), dW: (n_out, n_in), db: (n_out,)."""
        A2, W = ctx.saved_tensors
        need_dA, need_dW, need_db = ctx.needs_input_grad
        dA, dW, db = linear_backward(
            dZ.reshape(-1, W.shape[0]), A2, W, ctx.has_bias and need_db, need_dA
        )
        dA = dA.reshape(*ctx.leading, W.shape[1]) if need_dA else None
        return dA, dW if need_dW else None, db


def linear(
    input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Drop-in twin of :func:`torch.nn.functional.linear`: ``input @ weight.T + bias``.

    Shapes: input (..., n_in), weight (n_out, n_in), bias (n_out,) → (..., n_out).
    """
    return Linear.apply(input, weight, bias)
