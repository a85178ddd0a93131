"""Pooling modules over :func:`dlnotes.functional.max_pool2d` / ``avg_pool2d`` (notes 003)."""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.nn._switch import Switchable


class _Pool2d(Switchable, nn.Module):
    op = ""

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        backward: str = "manual",
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.backward = backward

    def forward(self, A: torch.Tensor) -> torch.Tensor:
        return getattr(self.F, self.op)(A, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Maximum of each window; the gradient goes to one maximum per window."""

    op = "max_pool2d"


class AvgPool2d(_Pool2d):
    """Mean of each window (zero padding counts in the divisor, like PyTorch)."""

    op = "avg_pool2d"
