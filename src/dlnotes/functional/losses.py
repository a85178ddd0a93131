"""Losses with their gradients fused to the last layer — notes 001 (MSE, cross-entropy,
binary cross-entropy) and notes 002 ("Gradient Descent on 1 sample": dz = a − y).

Every loss returns the cost J = (1/m) Σ L for ``reduction="mean"``; its backward hands
the layer below dZ *already divided by m*, which is why the layers never divide again.
Fusing the output activation with the loss gives the notes' short derivatives:

    sigmoid + binary cross-entropy:  dZ = (A − Y) / m
    softmax + cross-entropy:         dZ = (softmax(Z) − onehot(Y)) / m
    mean squared error:              dA = 2 (A − Y) / m
"""

from __future__ import annotations

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

from dlnotes.functional._common import reduce, reduction_scale


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


class MSELoss(torch.autograd.Function):
    """J = (1/m) Σ (A − Y)², m = number of elements (notes 001, "Regression Loss")."""

    @staticmethod
    def forward(ctx: FunctionCtx, A: torch.Tensor, Y: torch.Tensor, reduction: str):
        """A, Y: same shape (or broadcastable, like F.mse_loss) → J: () or A's shape."""
        D = A - Y
        ctx.save_for_backward(D)
        ctx.reduction = reduction
        ctx.shapes = (A.shape, Y.shape)
        # L = (A − Y)²
        return reduce(D.square(), reduction)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dJ: torch.Tensor):
        (D,) = ctx.saved_tensors
        # dA = 2 (A − Y) / m · dJ
        dA = D * (dJ * (2 * reduction_scale(ctx.reduction, D.numel())))
        a_shape, y_shape = ctx.shapes
        dA_in = _unbroadcast(dA, a_shape) if ctx.needs_input_grad[0] else None
        # dY = −dA
        dY = _unbroadcast(-dA, y_shape) if ctx.needs_input_grad[1] else None
        return dA_in, dY, None


class BCEWithLogits(torch.autograd.Function):
    """Sigmoid and binary cross-entropy in one op (notes 002, logistic regression).

    L = −[Y log σ(Z) + (1 − Y) log(1 − σ(Z))] = log(1 + e^Z) − Z·Y, evaluated so that
    |Z| ≥ 1000 stays finite.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, Z: torch.Tensor, Y: torch.Tensor, reduction: str):
        """Z (logits), Y (targets in [0, 1]): same shape → J: () or Z's shape."""
        # L = −[Y log A + (1 − Y) log(1 − A)] = log(1 + e^Z) − Z Y,  with log(1 + e^Z)
        # = logaddexp(0, Z) evaluated as max(Z, 0) + log(1 + e^{−|Z|}) (finite for any Z)
        L = torch.addcmul(torch.logaddexp(Z.new_zeros(()), Z), Z, Y, value=-1)
        ctx.save_for_backward(Z, Y)
        ctx.reduction = reduction
        return reduce(L, reduction)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dJ: torch.Tensor):
        Z, Y = ctx.saved_tensors
        scale = reduction_scale(ctx.reduction, Z.numel()) * dJ
        dZ = dY = None
        if ctx.needs_input_grad[0]:
            # dZ = (A − Y) / m   (the notes' dz = a − y, averaged over m samples)
            dZ = torch.sigmoid(Z).sub_(Y).mul_(scale)
        if ctx.needs_input_grad[1]:
            # ∂L/∂Y = −Z
            dY = -Z * scale
        return dZ, dY, None


class CrossEntropy(torch.autograd.Function):
    """Softmax and cross-entropy with class-index targets in one op (notes 001).

    L = −log softmax(Z)_y = log Σ_k e^{Z_k} − Z_y (log-sum-exp, stable for huge logits).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, Z: torch.Tensor, y: torch.Tensor, reduction: str):
        """Z: (m, C) logits, y: (m,) int64 class indices → J: () or (m,)."""
        # log softmax(Z) = Z − log Σ_k e^{Z_k}   (torch.log_softmax takes the max out of
        # the log-sum-exp, so that no exponent overflows, in one pass)
        log_A = torch.log_softmax(Z, dim=1)
        y_col = y.unsqueeze(1)
        # L = −log softmax(Z)_y = log Σ e^Z − Z_y
        L = log_A.gather(1, y_col).squeeze(1).neg_()
        ctx.save_for_backward(log_A, y_col)
        ctx.reduction = reduction
        return reduce(L, reduction)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dJ: torch.Tensor):
        log_A, y_col = ctx.saved_tensors
        # softmax(Z) = e^{log softmax(Z)}
        dZ = log_A.exp()
        # dZ = (softmax(Z) − onehot(y)) / m:  −1 at each sample's class
        dZ.scatter_(1, y_col, -1.0, reduce="add")
        scale = reduction_scale(ctx.reduction, dZ.shape[0])
        dJ = dJ.unsqueeze(1) if ctx.reduction == "none" else dJ
        return dZ.mul_(dJ * scale), None, None


def _unbroadcast(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum a broadcast gradient back to ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.dim() - len(shape)
    grad = grad.sum(dim=tuple(range(extra))) if extra else grad
    dims = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(dim=dims, keepdim=True) if dims else grad


def mse_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Twin of :func:`torch.nn.functional.mse_loss`."""
    _check_reduction(reduction)
    return MSELoss.apply(input, target, reduction)


def binary_cross_entropy_with_logits(
    input: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Twin of :func:`torch.nn.functional.binary_cross_entropy_with_logits` (no weights)."""
    _check_reduction(reduction)
    if input.shape != target.shape:
        raise ValueError(
            f"target size {tuple(target.shape)} must equal input size {tuple(input.shape)}"
        )
    return BCEWithLogits.apply(input, target.to(input.dtype), reduction)


def cross_entropy(
    input: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Twin of :func:`torch.nn.functional.cross_entropy` with class-index targets.

    input (m, C) or (m, C, d1, …) logits; target (m,) or (m, d1, …) int64 indices.
    For the higher-dimensional layout every position counts as a sample, like PyTorch.
    """
    _check_reduction(reduction)
    if input.dim() > 2:
        C = input.shape[1]
        out_shape = target.shape
        Z = input.movedim(1, -1).reshape(-1, C)
        L = CrossEntropy.apply(Z, target.reshape(-1), reduction)
        return L.reshape(out_shape) if reduction == "none" else L
    return CrossEntropy.apply(input, target, reduction)
