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
            mu = X.mean(dims)
            mu_c = mu.view(shape)  # per-channel values broadcast as (1, C, 1, …)
            # (X − μ)², squared in the buffer that becomes Y (the forward allocates only Y)
            Y = torch.sub(X, mu_c).square_()
            # σ² = (1/m) Σ (X − μ)²
            var = Y.sum(dims).div_(m)
            if running_mean is not None:
                # running_mean ← (1 − momentum) running_mean + momentum μ
                running_mean.lerp_(mu, momentum)
            if running_var is not None:
                # running_var ← (1 − momentum) running_var + momentum σ² m/(m − 1)
                running_var.lerp_(var * (m / (m - 1)), momentum)
            torch.sub(X, mu_c, out=Y)
        else:
            mu, var = running_mean.clone(), running_var
            Y = torch.sub(X, mu.view(shape))
        # invstd = 1 / √(σ² + ε)
        invstd = torch.rsqrt(var + eps)
        # Y = γ X̂ + β = (X − μ)·(γ·invstd) + β
        Y.mul_((invstd if gamma is None else gamma * invstd).view(shape))
        if beta is not None:
            Y.add_(beta.view(shape))
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
        full_dX = need_dX and ctx.training  # the batch statistics depend on X
        # γ·invstd: the slope of Y in X when μ and σ² are held fixed
        k = invstd if gamma is None else gamma * invstd
        buf = sum_dY = sum_dY_xhat = dX = None
        if need_dbeta or full_dX:
            # dβ = Σ dY
            sum_dY = dY.sum(dims)
        mu_c = mu.view(shape)
        if need_dgamma or full_dX:
            # dγ = Σ dY·X̂ = invstd · Σ dY·(X − μ)   (the product is formed in dX's buffer)
            buf = torch.sub(X, mu_c)
            sum_dY_xhat = buf.mul_(dY).sum(dims).mul_(invstd)
        if full_dX:
            # dX = (γ·invstd/m)(m·dY − Σ dY − X̂ Σ dY·X̂)
            #    = k · (dY − [(X − μ)·invstd·(Σ dY·X̂)/m + (Σ dY)/m]),   k = γ·invstd
            dX = torch.sub(X, mu_c, out=buf)
            dX.mul_((invstd * sum_dY_xhat).div_(m).view(shape))
            dX.add_((sum_dY / m).view(shape))
            torch.sub(dY, dX, out=dX).mul_(k.view(shape))
        elif need_dX:
            # dX = dY · γ · invstd   (evaluation: μ and σ² are constants)
            dX = torch.mul(dY, k.view(shape), out=buf) if buf is not None else dY * k.view(shape)
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
