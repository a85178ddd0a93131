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
        return (self.weight,) if self.bias is None else (self.weight, self.bias)

    def forward_cached(self, A: torch.Tensor) -> tuple[torch.Tensor, Cache]:
        # Z = A Wᵀ + b; the cache is (A, W)
        return linear_forward(A, self.weight, self.bias), (A, self.weight)

    def backward_cached(
        self, dZ: torch.Tensor, cache: Cache, need_dA: bool
    ) -> tuple[torch.Tensor | None, Grads]:
        A, W = cache
        dA, dW, db = linear_backward(dZ, A, W, self.bias is not None, need_dA)
        return dA, (dW,) if db is None else (dW, db)
