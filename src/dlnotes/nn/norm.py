"""Batch-normalization modules over :func:`dlnotes.functional.batch_norm` (notes 001)."""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.functional.network import Cache, Grads
from dlnotes.functional.norm import batch_norm_backward, batch_norm_forward, check_batch_norm
from dlnotes.nn._switch import Switchable


class _BatchNorm(Switchable):
    """Shared forward of BatchNorm1d/2d: the bookkeeping of ``torch.nn`` batch norm."""

    def _arguments(self, A: torch.Tensor) -> tuple:
        """The arguments after the input of F.batch_norm for this call (running
        statistics, γ, β, mode, momentum, ε), counting the batch as torch.nn does."""
        self._check_input_dim(A)
        # buffers and parameters read from their dicts once: every ``self.running_mean``
        # goes through nn.Module.__getattr__ (~1–2 µs in a training step)
        buffers, params = self._buffers, self._parameters
        running_mean, running_var = buffers["running_mean"], buffers["running_var"]
        momentum = self.momentum
        use_batch_stats = self.training or running_mean is None
        count = buffers["num_batches_tracked"]
        if self.training and self.track_running_stats and count is not None:
            count.add_(1)
            if momentum is None:  # cumulative moving average, as in torch.nn
                momentum = 1.0 / float(count)
        keep_stats = not self.training or self.track_running_stats
        return (
            running_mean if keep_stats else None,
            running_var if keep_stats else None,
            params["weight"],
            params["bias"],
            use_batch_stats,
            momentum if momentum is not None else 0.0,
            self.eps,
        )

    def forward(self, A: torch.Tensor) -> torch.Tensor:
        return self.F.batch_norm(A, *self._arguments(A))

    # the layer in dlnotes.functional.network.propagate: parameters γ, β (when affine)
    def propagated_params(self) -> tuple[torch.Tensor, ...]:
        gamma, beta = self._parameters["weight"], self._parameters["bias"]
        return () if gamma is None else (gamma, beta)

    def forward_cached(
        self, Z: torch.Tensor, *gamma_beta: torch.Tensor
    ) -> tuple[torch.Tensor, Cache]:
        # γ, β as the node received them; the running statistics and the mode from self
        running_mean, running_var, _, _, *rest = self._arguments(Z)
        args = (running_mean, running_var, *(gamma_beta or (None, None)), *rest)
        check_batch_norm(Z, *args[:5])
        # Z̃ = γ (Z − μ)/√(σ² + ε) + β; the cache is (Ẑ, invstd, γ)
        return batch_norm_forward(Z, *args)

    def backward_cached(
        self, dY: torch.Tensor, cache: Cache, need_dA: bool
    ) -> tuple[torch.Tensor | None, Grads]:
        # batch statistics (training) or running ones, as in the forward just before
        training = self.training or self._buffers["running_mean"] is None
        affine = self._parameters["weight"] is not None
        dZ, dgamma, dbeta = batch_norm_backward(dY, cache, training, need_dA, affine, affine)
        return dZ, (dgamma, dbeta) if affine else ()


class BatchNorm1d(_BatchNorm, nn.BatchNorm1d):
    """Batch norm over (N, C) or (N, C, L): X̂ = (X − μ_B)/√(σ²_B + ε), A = γ X̂ + β."""

    def __init__(self, num_features: int, backward: str = "manual", **kwargs: object) -> None:
        nn.BatchNorm1d.__init__(self, num_features, **kwargs)
        self.backward = backward


class BatchNorm2d(_BatchNorm, nn.BatchNorm2d):
    """Batch norm over (N, C, H, W), statistics per channel C."""

    def __init__(self, num_features: int, backward: str = "manual", **kwargs: object) -> None:
        nn.BatchNorm2d.__init__(self, num_features, **kwargs)
        self.backward = backward
