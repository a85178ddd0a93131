"""2-D convolution module over :func:`dlnotes.functional.conv2d` (notes 003)."""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.nn._switch import Switchable


class Conv2d(Switchable, nn.Conv2d):
    """``torch.nn.Conv2d`` (zero padding, no dilation or groups) with our backward.

    Weight (C_out, C_in, kh, kw), bias (C_out,); input (N, C_in, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        backward: str = "manual",
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self.backward = backward

    def forward(self, A: torch.Tensor) -> torch.Tensor:
        return self.F.conv2d(A, self.weight, self.bias, self.stride, self.padding)
