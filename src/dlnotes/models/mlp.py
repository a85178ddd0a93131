"""Multi-layer perceptrons — notes 002, "One hidden-layer neural network" and "Deep
Neural Networks".

Layer l computes Z[l] = A[l-1] W[l]ᵀ + b[l] and A[l] = g(Z[l]); A[0] = X is the flattened
input, W[l] is (n[l], n[l-1]). The last layer's activation is fused with the loss (see
:mod:`dlnotes.models.base`).
"""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.data.spec import DataSpec
from dlnotes.functional.network import Layer
from dlnotes.models.base import Model, check_positive, data_loss, resolve_loss
from dlnotes.models.logistic import _flat_inputs
from dlnotes.nn import Activation, BatchNorm1d, Dropout, Linear


class DeepMLP(Model):
    """L-layer network: n_x → hidden[0] → … → hidden[L-2] → out_features.

    hidden:      the sizes n[1] … n[L-1] of the hidden layers.
    activation:  g of every hidden layer (sigmoid, tanh, relu, leaky_relu, identity).
    batch_norm:  normalize Z[l] before g (Linear → BatchNorm → g); the bias is then
                 redundant and dropped, as usual.
    dropout:     drop probability applied after each hidden activation.
    loss:        "auto" (bce / ce / mse from the task) or explicit.
    output_activation: g[L] for regression (mse); ignored for bce/ce.
    """

    def __init__(
        self,
        in_features: int,
        hidden: list[int] | tuple[int, ...] = (64, 32),
        out_features: int = 1,
        activation: str = "relu",
        batch_norm: bool = False,
        dropout: float = 0.0,
        loss: str = "auto",
        output_activation: str = "identity",
        backward: str = "manual",
    ) -> None:
        hidden = list(hidden)
        check_positive("hidden", hidden)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        loss = resolve_loss(loss, out_features)
        super().__init__(out_features, loss, output_activation, backward)
        self.activation, self.hidden = activation, hidden
        layers: list[nn.Module] = []
        n_prev = in_features
        for n in hidden:
            layers.append(Linear(n_prev, n, bias=not batch_norm, backward=backward))
            if batch_norm:
                layers.append(BatchNorm1d(n, backward=backward))
            layers.append(Activation(activation, backward=backward))
            if dropout > 0:
                layers.append(Dropout(dropout, backward=backward))
            n_prev = n
        self.body = nn.Sequential(*layers)
        self.head = Linear(n_prev, out_features, backward=backward)

    def features(self, X: torch.Tensor) -> list[torch.Tensor]:
        """A[1] … A[L-1]: the activation of every hidden layer (for statistics and plots)."""
        A, out = X.flatten(1), []
        for layer in self.body:
            A = layer(A)
            if isinstance(layer, Activation):
                out.append(A)
        return out

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(X.flatten(1)))

    def dense_layers(self) -> list[Layer]:
        return [*self.body, self.head]

    @classmethod
    def from_data(cls, spec: DataSpec, **hparams: object) -> DeepMLP:
        data_loss(hparams, spec)
        return cls(_flat_inputs(spec), out_features=spec.out_features, **hparams)


class ShallowMLP(DeepMLP):
    """The notes' one-hidden-layer network n_x → n_h → n_y (default n_h = 4, tanh)."""

    def __init__(
        self,
        in_features: int,
        hidden: int = 4,
        out_features: int = 1,
        activation: str = "tanh",
        loss: str = "auto",
        output_activation: str = "identity",
        backward: str = "manual",
    ) -> None:
        if isinstance(hidden, (list, tuple)):
            if len(hidden) != 1:
                raise ValueError(f"shallow_mlp has one hidden layer; got hidden={list(hidden)}")
            hidden = hidden[0]
        super().__init__(
            in_features,
            [hidden],
            out_features,
            activation,
            loss=loss,
            output_activation=output_activation,
            backward=backward,
        )
