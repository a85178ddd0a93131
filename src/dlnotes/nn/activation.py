"""Activation modules chosen by name (notes 002, "Activation functions")."""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.nn._switch import Switchable

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")


class Activation(Switchable, nn.Module):
    """A = g(Z) for g in sigmoid, tanh, relu, leaky_relu, identity (alias: linear)."""

    def __init__(self, name: str, negative_slope: float = 0.01, backward: str = "manual") -> None:
        super().__init__()
        name = "identity" if name == "linear" else name
        if name not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}")
        self.name = name
        self.negative_slope = negative_slope
        self.backward = backward

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        if self.name == "leaky_relu":
            return self.F.leaky_relu(Z, self.negative_slope)
        return getattr(self.F, self.name)(Z)

    def extra_repr(self) -> str:
        return self.name
