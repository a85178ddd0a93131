"""Inverted-dropout module over :func:`dlnotes.functional.dropout` (notes 001)."""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.functional.dropout import dropout_backward, dropout_forward
from dlnotes.functional.network import Cache, Grads
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

    # the layer in dlnotes.functional.network.propagate: no parameters
    def propagated_params(self) -> tuple[torch.Tensor, ...]:
        return ()

    def forward_cached(self, X: torch.Tensor) -> tuple[torch.Tensor, Cache]:
        if not self.training or self.p == 0:
            return X, ()  # A = X
        # A = X · M / (1 − p); the cache is M / (1 − p)
        A, scaled_mask = dropout_forward(X, self.p)
        return A, (scaled_mask,)

    def backward_cached(
        self, dA: torch.Tensor, cache: Cache, need_dA: bool
    ) -> tuple[torch.Tensor | None, Grads]:
        # dX = dA · M / (1 − p)   (dA itself where nothing was dropped)
        return (dropout_backward(dA, cache[0]) if cache else dA), ()

    def extra_repr(self) -> str:
        return f"p={self.p}"
