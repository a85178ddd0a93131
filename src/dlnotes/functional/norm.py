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

import math

import torch
from torch.autograd.function import FunctionCtx, once_differentiable


def _channel_layout(X: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """The reduced dims, the broadcast shape of a per-channel vector, and m."""
    dims = (0, *range(2, X.dim()))
    shape = (1, X.shape[1]) + (1,) * (X.dim() - 2)
    m = math.prod(X.shape[i] for i in dims)
    return dims, shape, m


class BatchNorm(torch.autograd.Function):
    """Y = γ (X − μ) / √(σ² + ε) + β with batch (training) or running (evaluation) statistics."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        X: torch.Tensor,
        running_mean: torch.Tensor | None,
        running_var: torch.Tensor | None,
        gamma: torch.Tensor | None,
        beta: torch.Tensor | None,
        training: bool,
        momentum: float,
        eps: float,
    ) -> torch.Tensor:
        """X: (N, C, *), running_mean/var, gamma, beta: (C,) or None → Y: (N, C, *)."""
        dims, shape, m = _channel_layout(X)
        if training:
            # μ = (1/m) Σ X
            mu = X.sum(dims) / m
            # X − μ  (the buffer becomes Y below: one allocation for the whole forward)
            Y = torch.sub(X, mu.view(shape))
            # σ² = (1/m) Σ (X − μ)²   (a dot product per channel: no temporary)
            var = torch.linalg.vecdot(Y.reshape(*Y.shape[:2], -1), Y.reshape(*Y.shape[:2], -1))
            var = var.sum(0) / m
            # invstd = 1 / √(σ² + ε)
            invstd = torch.rsqrt(var + eps)
            if running_mean is not None:
                # running_mean ← (1 − momentum) running_mean + momentum μ
                running_mean.mul_(1 - momentum).add_(mu, alpha=momentum)
            if running_var is not None:
                # running_var ← (1 − momentum) running_var + momentum σ² m/(m − 1)
                running_var.mul_(1 - momentum).add_(var, alpha=momentum * m / (m - 1))
        else:
            mu = running_mean.detach().clone()
            # invstd = 1 / √(running_var + ε)
            invstd = torch.rsqrt(running_var.detach() + eps)
            Y = torch.sub(X, mu.view(shape))
        # Y = γ X̂ + β = (X − μ)·(γ·invstd) + β
        scale = invstd if gamma is None else gamma.detach() * invstd
        Y.mul_(scale.view(shape))
        if beta is not None:
            Y.add_(beta.detach().view(shape))
        ctx.save_for_backward(X, gamma, mu, invstd)
        ctx.training = training
        return Y

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dY: torch.Tensor):
        """dY: (N, C, *) → dX: (N, C, *), dγ: (C,), dβ: (C,)."""
        X, gamma, mu, invstd = ctx.saved_tensors
        dims, shape, m = _channel_layout(X)
        need_dX, need_dgamma, need_dbeta = (ctx.needs_input_grad[i] for i in (0, 3, 4))
        dX = dgamma = dbeta = None
        # γ·invstd, the per-channel slope of Y in X̂ scaled back to X
        k = invstd if gamma is None else gamma * invstd
        if not (need_dgamma or (ctx.training and need_dX)):
            if need_dbeta:
                # dβ = Σ dY
                dbeta = dY.sum(dims)
            if need_dX:
                # dX = dY · γ · invstd   (evaluation: μ and σ² are constants)
                dX = dY * k.view(shape)
            return dX, None, None, None, dbeta, None, None, None
        # dβ = Σ dY
        sum_dY = dY.sum(dims)
        # X − μ   (the buffer becomes dX below)
        dX = torch.sub(X, mu.view(shape))
        # dγ = Σ dY·X̂ = invstd · Σ dY·(X − μ)
        dot = torch.linalg.vecdot(dY.reshape(*dY.shape[:2], -1), dX.reshape(*dX.shape[:2], -1))
        sum_dY_xhat = dot.sum(0) * invstd
        if need_dX:
            if ctx.training:
                # dX = (γ·invstd/m)(m·dY − Σ dY − X̂ Σ dY·X̂)
                #    = k·dY − k·(Σ dY)/m − (X − μ)·k·invstd·(Σ dY·X̂)/m,   k = γ·invstd
                dX.mul_((-k * invstd * sum_dY_xhat / m).view(shape))
                dX.add_((-k * sum_dY / m).view(shape))
                dX.addcmul_(dY, k.view(shape))
            else:
                # dX = dY · γ · invstd
                torch.mul(dY, k.view(shape), out=dX)
        else:
            dX = None
        dgamma = sum_dY_xhat if need_dgamma else None
        dbeta = sum_dY if need_dbeta else None
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
    return BatchNorm.apply(input, running_mean, running_var, weight, bias, training, momentum, eps)
