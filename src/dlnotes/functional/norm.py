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

import torch
from torch.autograd.function import FunctionCtx, once_differentiable


def _channel_layout(X: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """The reduced dims, the broadcast shape of a per-channel vector, and m."""
    if X.dim() == 2:  # (N, C): the common case of an MLP, without the general bookkeeping
        return (0,), (1, X.shape[1]), X.shape[0]
    dims = (0, *range(2, X.dim()))
    shape = (1, X.shape[1]) + (1,) * (X.dim() - 2)
    return dims, shape, X.numel() // X.shape[1]


class BatchNorm(torch.autograd.Function):
    """Y = γ (X − μ) / √(σ² + ε) + β with batch (training) or running (evaluation) statistics.

    Speed: on small inputs such as (128, 64) the cost is the number of eager ops, not the
    arithmetic, so each line below is one op on the big tensor where possible (``addcmul``
    fuses a multiply and an add) and the per-channel factors are formed once.
    """

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
            mu = X.sum(dims).div_(m)
            # X − μ, in the buffer that becomes Y
            Y = torch.sub(X, mu.view(shape))
            # σ² = (1/m) Σ (X − μ)²
            var = Y.square().sum(dims).div_(m)
            if running_mean is not None:
                # running_mean ← (1 − momentum) running_mean + momentum μ
                running_mean.lerp_(mu, momentum)
            if running_var is not None:
                # running_var ← (1 − momentum) running_var + momentum σ² m/(m − 1)
                running_var.lerp_(var * (m / (m - 1)), momentum)
        else:
            mu, var = running_mean.clone(), running_var
            Y = torch.sub(X, mu.view(shape))
        # invstd = 1 / √(σ² + ε)
        invstd = torch.add(var, eps).rsqrt_()
        # k = γ·invstd: the slope of Y in X when μ and σ² are held fixed
        k = invstd if gamma is None else gamma * invstd
        if beta is None:
            # Y = γ X̂ = (X − μ)·k
            Y.mul_(k.view(shape))
        else:
            # Y = γ X̂ + β = β + (X − μ)·k
            torch.addcmul(beta.view(shape), Y, k.view(shape), out=Y)
        ctx.save_for_backward(X, mu, invstd, k)
        ctx.training = training
        return Y

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dY: torch.Tensor):
        """dY: (N, C, *) → dX: (N, C, *), dγ: (C,), dβ: (C,)."""
        X, mu, invstd, k = ctx.saved_tensors
        dims, shape, m = _channel_layout(X)
        need_dX, need_dgamma, need_dbeta = (ctx.needs_input_grad[i] for i in (0, 3, 4))
        full_dX = need_dX and ctx.training  # the batch statistics depend on X
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
            #    = k·dY − k·[(X − μ)·invstd·(Σ dY·X̂)/m + (Σ dY)/m],   k = γ·invstd
            # the bracket, c + (X − μ)·a with per-channel a and c, in one pass
            a = (invstd * sum_dY_xhat).div_(m)
            c = sum_dY / m
            dX = torch.sub(X, mu_c, out=buf)
            torch.addcmul(c.view(shape), dX, a.view(shape), out=dX)
            # dX = (dY − bracket)·k
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
