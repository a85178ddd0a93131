"""Logistic regression — notes 002, "Logistic Regression", and its relatives.

One layer of neurons: Z = X Wᵀ + b, ŷ = g(Z). With g = σ and binary cross-entropy this
is the notes' logistic regression (dZ = A − Y); with softmax and cross-entropy it is
softmax regression; with g = ReLU and MSE it is the notes' housing-price neuron, and with
the identity it is linear regression — all the same class.
"""

from __future__ import annotations

import torch

from dlnotes.data.spec import DataSpec
from dlnotes.functional.network import Layer
from dlnotes.models.base import Model
from dlnotes.nn import Linear


class LogisticRegression(Model):
    """X (m, n_x) (any trailing shape is flattened) → Z (m, out_features).

    activation: "sigmoid" (binary, BCE), "softmax" (multiclass, CE), or any activation
                name for regression with MSE ("relu": the housing neuron; "identity":
                linear regression). None picks from ``out_features``: sigmoid for 1,
                softmax for more.
    loss:       "auto" (from the activation), or force "mse" (e.g. sigmoid + MSE, the
                non-convex choice the notes warn about), "bce", "ce".
    """

    def __init__(
        self,
        in_features: int,
        out_features: int = 1,
        activation: str | None = None,
        loss: str = "auto",
        backward: str = "manual",
    ) -> None:
        activation = activation or ("sigmoid" if out_features == 1 else "softmax")
        if loss == "auto":
            loss = {"sigmoid": "bce", "softmax": "ce"}.get(activation, "mse")
        output = "identity" if activation == "softmax" else activation
        if loss == "ce" and activation != "softmax":
            raise ValueError("loss 'ce' goes with activation 'softmax'")
        super().__init__(out_features, loss, output, backward)
        self.activation = activation
        # Z = X Wᵀ + b,  W: (n_y, n_x)
        self.linear = Linear(in_features, out_features, backward=backward)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.linear(X.flatten(1))

    def dense_layers(self) -> list[Layer]:
        return [self.linear]

    @classmethod
    def from_data(cls, spec: DataSpec, **hparams: object) -> LogisticRegression:
        if "activation" not in hparams or hparams["activation"] is None:
            hparams["activation"] = {
                "binary": "sigmoid",
                "multiclass": "softmax",
                "regression": "identity",
            }[spec.task]
        return cls(_flat_inputs(spec), spec.out_features, **hparams)


def _flat_inputs(spec: DataSpec) -> int:
    """n_x of a flattened sample (a sequence of T steps of n features counts T·n)."""
    if spec.kind == "sequence":
        if spec.vocab_size:
            raise ValueError(f"data '{spec.name}' is a token sequence; use model=elman_rnn for it")
        return spec.in_features * (spec.seq_len or 1)
    return spec.in_features
