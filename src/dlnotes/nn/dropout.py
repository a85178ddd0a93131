"""Inverted-dropout module over :func:`dlnotes.functional.dropout` (notes 001)."""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.nn._switch import Switchable


class Dropout(Switchable, nn.Module):
    """Zero each unit with probability ``p`` while training and scale the rest by 1/(1−p)."""

    def __init__(self, p: float = 0.5, backward: str = "manual") -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be between 0 and 1, got {p}")
        self.p = p
        self.backward = backward

    def forward(self, A: torch.Tensor) -> torch.Tensor:
        return self.F.dropout(A, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
