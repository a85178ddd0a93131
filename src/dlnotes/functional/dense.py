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
from torch.autograd.function import FunctionCtx, once_differentiable


class Linear(torch.autograd.Function):
    """Z = A Wᵀ + b with a hand-written backward."""

    @staticmethod
    def forward(
        ctx: FunctionCtx, A: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None
    ) -> torch.Tensor:
        """A: (..., n_in), W: (n_out, n_in), b: (n_out,) or None → Z: (..., n_out)."""
        A2 = A.reshape(-1, A.shape[-1])  # the leading dims are all "samples"
        # Z = A Wᵀ + b   (the notes' Z = W A + b with samples as rows)
        Z = torch.addmm(b, A2, W.t()) if b is not None else A2 @ W.t()
        ctx.save_for_backward(A2, W)
        ctx.has_bias = b is not None
        ctx.leading = A.shape[:-1]
        return Z.reshape(*A.shape[:-1], W.shape[0])

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dZ: torch.Tensor):
        """dZ: (..., n_out) → dA: (..., n_in), dW: (n_out, n_in), db: (n_out,)."""
        A2, W = ctx.saved_tensors
        dZ2 = dZ.reshape(-1, W.shape[0])
        dA = dW = db = None
        if ctx.needs_input_grad[0]:
            # dA[l-1] = W[l]ᵀ dZ[l]   (rows: dA = dZ W)
            dA = (dZ2 @ W).reshape(*ctx.leading, W.shape[1])
        if ctx.needs_input_grad[1]:
            # dW[l] = dZ[l] A[l-1]ᵀ   (rows: dW = dZᵀ A)
            dW = dZ2.t() @ A2
        if ctx.has_bias and ctx.needs_input_grad[2]:
            # db[l] = Σ_i dZ[l](i)
            db = dZ2.sum(0)
        return dA, dW, db


def linear(
    input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Drop-in twin of :func:`torch.nn.functional.linear`: ``input @ weight.T + bias``.

    Shapes: input (..., n_in), weight (n_out, n_in), bias (n_out,) → (..., n_out).
    """
    return Linear.apply(input, weight, bias)
