"""Batch-normalization modules over :func:`dlnotes.functional.batch_norm` (notes 001)."""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.nn._switch import Switchable


class _BatchNorm(Switchable):
    """Shared forward of BatchNorm1d/2d: the bookkeeping of ``torch.nn`` batch norm."""

    def forward(self, A: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(A)
        momentum = self.momentum
        use_batch_stats = self.training or self.running_mean is None
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if momentum is None:  # cumulative moving average, as in torch.nn
                momentum = 1.0 / float(self.num_batches_tracked)
        keep_stats = not self.training or self.track_running_stats
        return self.F.batch_norm(
            A,
            self.running_mean if keep_stats else None,
            self.running_var if keep_stats else None,
            self.weight,
            self.bias,
            use_batch_stats,
            momentum if momentum is not None else 0.0,
            self.eps,
        )


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
