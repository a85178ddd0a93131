"""Batch normalization — notes 001, "Solving gradient problem → Batch-Normalization".

For every channel c the layer normalises its inputs over the m values it sees in a
mini-batch (m = N for (N, C) input, m = N·L for (N, C, L), m = N·H·W for (N, C, H, W)):

    μ = (1/m) Σ X,   σ² = (1/m) Σ (X − μ)²,   invstd = 1 / √(σ² + ε),
    X̂ = (X − μ) · invstd,   Y = γ X̂ + β.

γ (``weight``) and β (``bias``) are per-channel parameters (γ = 1, β = 0 when absent).
In training mode μ and σ² are the statistics of the batch, and the running estimates
are moved towards them in place, as PyTorch does,

    running_mean ← (1 − momentum) running_mean + momentum μ,
    running_var  ← (1 − momentum) running_var  + momentum σ² m / (m − 1)   (unbiased);

in evaluation mode μ and σ² *are* the running estimates, so the layer is a fixed
per-channel affine map. The backward, with every Σ over the m values of a channel,

    dγ = Σ dY·X̂,   dβ = Σ dY,
    dX = (γ·invstd / m) (m·dY − Σ dY − X̂ Σ dY·X̂)   (training: μ, σ² depend on X),
    dX = dY · γ · invstd                               (evaluation: they do not).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.autograd.function import FunctionCtx

from dlnotes.functional._common import LOW, first_order


def _channel_layout(
    X: torch.Tensor,
) -> tuple[tuple[int, ...], Callable[[torch.Tensor], torch.Tensor], int]:
    """The reduced dims, ``c``: a per-channel (C,) vector made to broadcast against X,
    and m."""
    if X.dim() == 2:  # (N, C): a (C,) vector broadcasts as it is (no view op to pay)
        return (0,), _as_is, X.shape[0]
    dims = (0, *range(2, X.dim()))
    shape = (1, X.shape[1]) + (1,) * (X.dim() - 2)
    return dims, lambda v: v.view(shape), X.numel() // X.shape[1]


def _as_is(v: torch.Tensor) -> torch.Tensor:
    return v


BNCache = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


def batch_norm_forward(
    X: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    gamma: torch.Tensor | None,
    beta: torch.Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[torch.Tensor, BNCache]:
    """X: (N, C, *), running_mean/var, gamma, beta: (C,) or None → Y: (N, C, *).

    The cache is (X̂, invstd, γ). Speed: on small inputs such as (128, 64) the cost is
    the number of eager ops, not the arithmetic, so each line is one op where possible;
    on large ones it is fresh memory (a new buffer costs more than the arithmetic in
    it), so Y is formed in the scratch buffer of σ² and dX in that of Σ dY·X̂.
    """
    dims, c, m = _channel_layout(X)
    # 16-bit X (mixed precision): statistics and X̂ in float32, as PyTorch's batch norm;
    # Y (and dX) in X's dtype
    dtype, low = X.dtype, X.dtype in LOW
    X = X.float() if low else X
    buf = None
    if training:
        # μ = (1/m) Σ X
        mu = X.mean(dims)
        # X − μ, in the buffer that becomes X̂
        xhat = torch.sub(X, c(mu))
        # σ² = (1/m) Σ (X − μ)²   (from X − μ, so that a large common offset costs no
        # precision; torch.var would be one op, but is several times slower on CPU)
        buf = torch.mul(xhat, xhat)
        var = buf.mean(dims)
        if running_mean is not None:
            # running_mean ← (1 − momentum) running_mean + momentum μ
            running_mean.lerp_(mu.to(running_mean.dtype) if low else mu, momentum)
        if running_var is not None:
            # running_var ← (1 − momentum) running_var + momentum σ² m/(m − 1)
            unbiased = var * (m / (m - 1))
            running_var.lerp_(unbiased.to(running_var.dtype) if low else unbiased, momentum)
    else:
        # μ, σ²: the running estimates
        xhat, var = torch.sub(X, c(running_mean)), running_var
    # invstd = 1 / √(σ² + ε)
    invstd = torch.add(var, eps).rsqrt_()
    # X̂ = (X − μ) · invstd
    xhat.mul_(c(invstd))
    if gamma is None and beta is None:
        return (xhat.to(dtype) if low else xhat), (xhat, invstd, gamma)  # Y = X̂
    # Y = γ X̂ + β   (multiply, then add in place: one fused addcmul with two broadcast
    # per-channel operands is several times slower on CPU)
    Y = xhat.clone() if gamma is None else torch.mul(xhat, c(gamma), out=buf)
    if beta is not None:
        Y.add_(c(beta))
    return (Y.to(dtype) if low else Y), (xhat, invstd, gamma)


def batch_norm_backward(
    dY: torch.Tensor,
    cache: BNCache,
    training: bool,
    need_dX: bool = True,
    need_dgamma: bool = True,
    need_dbeta: bool = True,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """dY: (N, C, *) → dX: (N, C, *), dγ: (C,), dβ: (C,) (None where not needed)."""
    xhat, invstd, gamma = cache
    dims, c, m = _channel_layout(xhat)
    full_dX = need_dX and training  # the batch statistics depend on X
    sum_dY = sum_dY_xhat = dX = buf = None
    if need_dbeta or full_dX:
        # dβ = Σ dY
        sum_dY = dY.sum(dims)
    if need_dgamma or full_dX:
        # dγ = Σ dY·X̂
        buf = torch.mul(dY, xhat)
        sum_dY_xhat = buf.sum(dims)
    if need_dX:
        # k = γ·invstd: the slope of Y in X when μ and σ² are held fixed
        k = c(invstd if gamma is None else gamma * invstd)
    if full_dX:
        # dX = (γ·invstd/m)(m·dY − Σ dY − X̂ Σ dY·X̂) = k·(dY − [X̂·Σ dY·X̂ + Σ dY]/m)
        # the bracket, X̂·a + c with per-channel a and c, formed in dX's buffer (the 1/m
        # rides on the subtraction: two per-channel divisions fewer)
        dX = torch.mul(xhat, c(sum_dY_xhat), out=buf)
        dX.add_(c(sum_dY))
        torch.sub(dY, dX, alpha=1 / m, out=dX).mul_(k)
    elif need_dX:
        # dX = dY · γ · invstd   (evaluation: μ and σ² are constants)
        dX = dY * k
    if dX is not None and dY.dtype in LOW:
        dX = dX.to(dY.dtype)  # 16-bit X: dX in X's dtype (the statistics were float32)
    dgamma = sum_dY_xhat if need_dgamma else None
    dbeta = sum_dY if need_dbeta else None
    return dX, dgamma, dbeta


class BatchNorm(torch.autograd.Function):
    """Y = γ (X − μ) / √(σ² + ε) + β with batch (training) or running (evaluation) statistics."""

    @staticmethod
    def forward(ctx: FunctionCtx, X: torch.Tensor, *args: object) -> torch.Tensor:
        """X, then the arguments of :func:`batch_norm_forward` (running_mean, running_var,
        γ, β, training, momentum, ε)."""
        Y, cache = batch_norm_forward(X, *args)
        ctx.save_for_backward(*cache)
        ctx.training = args[4]
        return Y

    @staticmethod
    @first_order
    def backward(ctx: FunctionCtx, dY: torch.Tensor):
        """dY: (N, C, *) → dX: (N, C, *), dγ: (C,), dβ: (C,)."""
        needs = (ctx.needs_input_grad[i] for i in (0, 3, 4))
        dX, dgamma, dbeta = batch_norm_backward(dY, ctx.saved_tensors, ctx.training, *needs)
        return dX, None, None, dgamma, dbeta, None, None, None


def batch_norm(
    input: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Drop-in twin of :func:`torch.nn.functional.batch_norm`.

    Shapes: input (N, C), (N, C, L) or (N, C, H, W); running_mean, running_var, weight,
    bias (C,) or None → (same shape as input). In training mode the running statistics
    (when given) are updated in place; in evaluation mode they must be given.
    """
    check_batch_norm(input, running_mean, running_var, weight, bias, training)
    return BatchNorm.apply(input, running_mean, running_var, weight, bias, training, momentum, eps)


def check_batch_norm(
    input: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    training: bool,
) -> None:
    """The errors F.batch_norm raises for inputs it cannot normalise."""
    if input.dim() < 2:
        raise ValueError(
            f"batch_norm expects an input of shape (N, C, *), got {tuple(input.shape)}"
        )
    C = input.shape[1]
    *_, m = _channel_layout(input)
    if training and m == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {input.size()}"
        )
    if not training:
        for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
            if stat is None:
                raise RuntimeError(f"{name} must be defined in evaluation mode")
    for name, vec in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        if vec is not None and vec.numel() != C:
            raise RuntimeError(f"{name} should contain {C} elements not {vec.numel()}")
