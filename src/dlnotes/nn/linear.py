"""Dense layer module over :func:`dlnotes.functional.linear` (notes 002)."""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.functional.dense import linear_backward, linear_forward
from dlnotes.functional.network import Cache, Grads
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

    # the layer in dlnotes.functional.network.propagate (A: (m, n_in))
    def propagated_params(self) -> tuple[torch.Tensor, ...]:
        # W, b read from the parameter dict: each ``self.weight`` goes through
        # nn.Module.__getattr__, ~1–2 µs on a small CPU, paid every training step
        W, b = self._parameters["weight"], self._parameters["bias"]
        return (W,) if b is None else (W, b)

    def forward_cached(
        self, A: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Cache]:
        # Z = A Wᵀ + b; the cache is (A, W, b)
        return linear_forward(A, W, b), (A, W, b)

    def backward_cached(
        self, dZ: torch.Tensor, cache: Cache, need_dA: bool
    ) -> tuple[torch.Tensor | None, Grads]:
        A, W, b = cache
        dA, dW, db = linear_backward(dZ, A, W, b is not None, need_dA)
        return dA, (dW,) if db is None else (dW, db)
