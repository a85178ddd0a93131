"""Elman recurrent layer over :func:`dlnotes.functional.elman_rnn` (notes 003)."""

from __future__ import annotations

import math

import torch
from torch import nn

from dlnotes.nn._switch import Switchable


class ElmanRNN(Switchable, nn.Module):
    """One recurrent layer: a(t) = b + W h(t−1) + U x(t), h(t) = tanh(a(t)).

    Batch-first like ``torch.nn.RNN(batch_first=True)``; parameters U = ``weight_ih``
    (H, H_in), W = ``weight_hh`` (H, H), b = ``bias_ih`` + ``bias_hh`` (H,), initialized
    U(−1/√H, 1/√H) as PyTorch does. forward(X (N, T, H_in), h0 (N, H) or None) →
    (output (N, T, H), h_n (N, H)).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        nonlinearity: str = "tanh",
        bias: bool = True,
        backward: str = "manual",
    ) -> None:
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(hidden_size))
            self.bias_hh = nn.Parameter(torch.empty(hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.backward = backward
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for P in self.parameters():
            nn.init.uniform_(P, -bound, bound)

    def forward(
        self, X: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.F.elman_rnn(
            X, h0, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity
        )

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity}"
