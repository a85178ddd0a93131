"""Activation modules chosen by name (notes 002, "Activation functions")."""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.functional.activations import PAIRS
from dlnotes.functional.network import Cache, Grads
from dlnotes.names import ACTIVATIONS
from dlnotes.nn._switch import Switchable


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

    # the layer in dlnotes.functional.network.propagate: no parameters
    def propagated_params(self) -> tuple[torch.Tensor, ...]:
        return ()

    def _extra_args(self) -> tuple[float, ...]:
        return (self.negative_slope,) if self.name == "leaky_relu" else ()

    def forward_cached(self, Z: torch.Tensor) -> tuple[torch.Tensor, Cache]:
        # A = g(Z); the cache is A or Z, whichever g' is written from
        A, cache = PAIRS[self.name][0](Z, *self._extra_args())
        return A, (cache,)

    def backward_cached(
        self, dA: torch.Tensor, cache: Cache, need_dA: bool
    ) -> tuple[torch.Tensor | None, Grads]:
        # dZ = dA * g'(Z)
        return PAIRS[self.name][1](dA, cache[0], *self._extra_args()), ()

    def extra_repr(self) -> str:
        return self.name
