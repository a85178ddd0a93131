"""Dense layer module over :func:`dlnotes.functional.linear` (notes 002)."""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.nn._switch import Switchable


class Linear(Switchable, nn.Linear):
    """``torch.nn.Linear`` with our backward: Z = A Wᵀ + b, W: (n[l], n[l-1]), b: (n[l],).

    Same parameter names, shapes and default initialization as ``torch.nn.Linear``.
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, backward: str = "manual"
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.backward = backward

    def forward(self, A: torch.Tensor) -> torch.Tensor:
        return self.F.linear(A, self.weight, self.bias)
