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

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.autograd.function import FunctionCtx

from dlnotes.functional._common import (
    autocast_backward,
    autocast_forward,
    first_order,
    reduce,
    reduction_scale,
)


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


# Each loss is a pair: forward (Z or A, Y) → (J, cache), backward (dJ, cache) → dZ (or dA);
# the autograd Functions below and the whole-network propagation of
# dlnotes.functional.network both run these pairs.


def mse_forward(A: torch.Tensor, Y: torch.Tensor, reduction: str) -> tuple[torch.Tensor, tuple]:
    """A, Y: same shape (or broadcastable) → J: () or A's shape; the cache is A − Y."""
    D = A - Y
    # L = (A − Y)²
    return reduce(D.square(), reduction), (D,)


def mse_backward(dJ: torch.Tensor, D: torch.Tensor, reduction: str) -> torch.Tensor:
    """→ dA, D's shape (sum it back to A's shape where A was broadcast)."""
    # dA = 2 (A − Y) / m · dJ
    return D * (dJ * (2 * reduction_scale(reduction, D.numel())))


def bce_with_logits_forward(
    Z: torch.Tensor, Y: torch.Tensor, reduction: str
) -> tuple[torch.Tensor, tuple]:
    """Z (logits), Y (targets in [0, 1]): same shape → J; the cache is (A, Y), A = σ(Z)."""
    # L = −[Y log A + (1 − Y) log(1 − A)] = log(1 + e^Z) − Z Y,  with log(1 + e^Z)
    # = logaddexp(0, Z) evaluated as max(Z, 0) + log(1 + e^{−|Z|}) (finite for any Z)
    L = torch.addcmul(torch.logaddexp(Z.new_zeros(()), Z), Z, Y, value=-1)
    return reduce(L, reduction), (torch.sigmoid(Z), Y)


def bce_with_logits_backward(
    dJ: torch.Tensor, A: torch.Tensor, Y: torch.Tensor, reduction: str
) -> torch.Tensor:
    # dZ = (A − Y) / m   (the notes' dz = a − y, averaged over m samples)
    return torch.sub(A, Y).mul_(dJ * reduction_scale(reduction, A.numel()))


def cross_entropy_forward(
    Z: torch.Tensor, y: torch.Tensor, reduction: str
) -> tuple[torch.Tensor, tuple]:
    """Z: (m, C) logits, y: (m,) int64 class indices → J: () or (m,); the cache is
    (log softmax(Z), y)."""
    # log softmax(Z) = Z − log Σ_k e^{Z_k}   (torch.log_softmax takes the max out of
    # the log-sum-exp, so that no exponent overflows, in one pass)
    log_A = torch.log_softmax(Z, dim=1)
    # L = −log softmax(Z)_y = log Σ e^Z − Z_y   (nll_loss picks −log_A[i, y_i] and
    # applies the reduction)
    return F.nll_loss(log_A, y, reduction=reduction), (log_A, y)


def cross_entropy_backward(
    dJ: torch.Tensor, log_A: torch.Tensor, y: torch.Tensor, reduction: str
) -> torch.Tensor:
    # softmax(Z) = e^{log softmax(Z)}
    dZ = log_A.exp()
    # dZ = (softmax(Z) − onehot(y)) / m:  −1 at each sample's class
    dZ.scatter_(1, y.unsqueeze(1), -1.0, reduce="add")
    scale = reduction_scale(reduction, dZ.shape[0])
    dJ = dJ.unsqueeze(1) if reduction == "none" else dJ
    return dZ.mul_(dJ * scale)


LossPair = tuple[Callable[..., tuple[torch.Tensor, tuple]], Callable[..., torch.Tensor]]
PAIRS: dict[str, LossPair] = {
    "mse": (mse_forward, mse_backward),
    "bce": (bce_with_logits_forward, bce_with_logits_backward),
    "ce": (cross_entropy_forward, cross_entropy_backward),
}
"""loss name of :mod:`dlnotes.models` → (forward, backward)."""


class MSELoss(torch.autograd.Function):
    """J = (1/m) Σ (A − Y)², m = number of elements (notes 001, "Regression Loss")."""

    @staticmethod
    @autocast_forward(cast="float32")
    def forward(ctx: FunctionCtx, A: torch.Tensor, Y: torch.Tensor, reduction: str):
        J, cache = mse_forward(A, Y, reduction)
        ctx.save_for_backward(*cache)
        ctx.reduction = reduction
        ctx.shapes = (A.shape, Y.shape)
        return J

    @staticmethod
    @first_order
    @autocast_backward
    def backward(ctx: FunctionCtx, dJ: torch.Tensor):
        dA = mse_backward(dJ, *ctx.saved_tensors, ctx.reduction)
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
    @autocast_forward(cast="float32")
    def forward(ctx: FunctionCtx, Z: torch.Tensor, Y: torch.Tensor, reduction: str):
        J, cache = bce_with_logits_forward(Z, Y, reduction)
        # ∂L/∂Y = −Z needs Z as well, when Y asks for a gradient
        ctx.save_for_backward(*cache, Z if ctx.needs_input_grad[1] else None)
        ctx.reduction = reduction
        return J

    @staticmethod
    @first_order
    @autocast_backward
    def backward(ctx: FunctionCtx, dJ: torch.Tensor):
        A, Y, Z = ctx.saved_tensors
        dZ = dY = None
        if ctx.needs_input_grad[0]:
            dZ = bce_with_logits_backward(dJ, A, Y, ctx.reduction)
        if ctx.needs_input_grad[1]:
            # ∂L/∂Y = −Z
            dY = -Z * (dJ * reduction_scale(ctx.reduction, Z.numel()))
        return dZ, dY, None


class CrossEntropy(torch.autograd.Function):
    """Softmax and cross-entropy with class-index targets in one op (notes 001).

    L = −log softmax(Z)_y = log Σ_k e^{Z_k} − Z_y (log-sum-exp, stable for huge logits).
    """

    @staticmethod
    @autocast_forward(cast="float32")
    def forward(ctx: FunctionCtx, Z: torch.Tensor, y: torch.Tensor, reduction: str):
        J, cache = cross_entropy_forward(Z, y, reduction)
        ctx.save_for_backward(*cache)
        ctx.reduction = reduction
        return J

    @staticmethod
    @first_order
    @autocast_backward
    def backward(ctx: FunctionCtx, dJ: torch.Tensor):
        return cross_entropy_backward(dJ, *ctx.saved_tensors, ctx.reduction), None, None


def _unbroadcast(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum a broadcast gradient back to ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.dim() - len(shape)
    grad = grad.sum(dim=tuple(range(extra))) if extra else grad
    dims = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(dim=dims, keepdim=True) if dims else grad


def mse_loss(input: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Twin of :func:`torch.nn.functional.mse_loss`. ``reduction`` is keyword-only, as it
    is in practice for PyTorch's (whose third positional is the deprecated size_average)."""
    _check_reduction(reduction)
    return MSELoss.apply(input, target, reduction)


def binary_cross_entropy_with_logits(
    input: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    """Twin of :func:`torch.nn.functional.binary_cross_entropy_with_logits` (no weights;
    ``reduction`` keyword-only, PyTorch's third positional being ``weight``)."""
    _check_reduction(reduction)
    if input.shape != target.shape:
        raise ValueError(
            f"target size {tuple(target.shape)} must equal input size {tuple(input.shape)}"
        )
    return BCEWithLogits.apply(input, target.to(input.dtype), reduction)


def cross_entropy(
    input: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    """Twin of :func:`torch.nn.functional.cross_entropy` with class-index targets
    (``reduction`` keyword-only, PyTorch's third positional being ``weight``).

    input (m, C) or (m, C, d1, …) logits, or (C,) for one sample; target (m,),
    (m, d1, …) or () int64 indices. For the higher-dimensional layout every position
    counts as a sample, like PyTorch.
    """
    _check_reduction(reduction)
    if input.dim() == 1:  # one sample: a batch of one, and its loss as a scalar
        L = CrossEntropy.apply(input.unsqueeze(0), target.reshape(1), reduction)
        return L.reshape(()) if reduction == "none" else L
    if input.dim() > 2:
        C = input.shape[1]
        out_shape = target.shape
        Z = input.movedim(1, -1).reshape(-1, C)
        L = CrossEntropy.apply(Z, target.reshape(-1), reduction)
        return L.reshape(out_shape) if reduction == "none" else L
    return CrossEntropy.apply(input, target, reduction)
