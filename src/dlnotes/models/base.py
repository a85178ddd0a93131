"""What every model shares: the last layer's activation, the loss, predictions.

A model's ``forward`` returns Z[L], the pre-activation of its last layer (the logits for
classification). The loss is fused with the output activation where the notes fuse it:

| loss  | output A[L] = g(Z[L]) | dZ[L] handed back              |
| ----- | --------------------- | ------------------------------ |
| "bce" | sigmoid (1 unit)      | (A − Y)/m                      |
| "ce"  | softmax (C units)     | (softmax(Z) − onehot(Y))/m     |
| "mse" | ``output_activation`` | 2(A − Y)/m · g'(Z)             |
"""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.data.spec import DataSpec
from dlnotes.functional import losses
from dlnotes.functional.network import Cache, Layer, propagate
from dlnotes.names import LOSSES
from dlnotes.nn import Activation, Switchable, set_backward

LOSS_FUNCTIONS = {
    "bce": "binary_cross_entropy_with_logits",
    "ce": "cross_entropy",
    "mse": "mse_loss",
}
"""loss name → the op of dlnotes.functional (and of its reference twins)."""


def default_loss(task: str) -> str:
    """bce for binary, ce for multiclass, mse for regression."""
    return {"binary": "bce", "multiclass": "ce", "regression": "mse"}[task]


def resolve_loss(loss: str, out_features: int) -> str:
    """``loss="auto"`` for a model built by hand: bce for one output, ce for several."""
    return ("bce" if out_features == 1 else "ce") if loss == "auto" else loss


def data_loss(hparams: dict[str, object], spec: DataSpec) -> dict[str, object]:
    """Fill ``loss="auto"`` (or a missing loss) from the data's task."""
    if hparams.get("loss", "auto") == "auto":
        hparams["loss"] = default_loss(spec.task)
    return hparams


class Model(Switchable, nn.Module):
    """Base class: holds ``loss`` and the output activation; subclasses build the layers."""

    def __init__(
        self,
        out_features: int,
        loss: str,
        output_activation: str = "identity",
        backward: str = "manual",
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {loss!r}")
        if loss == "bce" and out_features != 1:
            raise ValueError(f"loss 'bce' needs one output unit, got out_features={out_features}")
        if loss == "ce" and out_features < 2:
            raise ValueError(
                f"loss 'ce' needs an output unit per class, 2 or more, got "
                f"out_features={out_features}; one unit for two classes takes sigmoid and bce"
            )
        self.loss_name = loss
        self.out_features = out_features
        self.output = Activation(output_activation, backward=backward)
        self.backward = backward
        self.loss_head = LossHead(loss, self.output)  # the cost of Model.cost's one node

    @property
    def task(self) -> str:
        return {"bce": "binary", "ce": "multiclass", "mse": "regression"}[self.loss_name]

    def set_backward(self, mode: str) -> Model:
        """Switch this model and every layer in it to ``mode`` ("manual" | "autograd")."""
        return set_backward(self, mode)

    def loss(self, Z: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """Cost J of a batch: Z from ``forward``, Y the targets of the data's task."""
        if self.loss_name == "mse":
            Z = self.output(Z)  # A[L] = g(Z[L])
        return getattr(self.F, LOSS_FUNCTIONS[self.loss_name])(*loss_inputs(self.loss_name, Z, Y))

    def cost(self, X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The forward of a training step: Z[L] = ``forward(X)`` and J = ``loss(Z, Y)``.

        With the hand-written backward, a model whose :meth:`dense_layers` are a plain
        stack runs forward and backward propagation as one node
        (:func:`dlnotes.functional.network.propagate`): the same numbers, at about the
        cost of autograd. Z may be used further (predictions, other terms of a cost).
        """
        layers = self.dense_layers() if self.backward == "manual" else None
        if layers is None or Y.requires_grad:  # propagate() gives Y no gradient
            Z = self(X)
            return Z, self.loss(Z, Y)
        A0 = X if X.dim() == 2 else X.flatten(1)
        return propagate(A0, layers, self.loss_head, Y)

    def dense_layers(self) -> list[Layer] | None:
        """The layers ``forward`` runs on the flattened X, in order, when they can run as
        one :func:`~dlnotes.functional.network.propagate`; None otherwise (the default)."""
        return None

    def probabilities(self, Z: torch.Tensor) -> torch.Tensor:
        """A[L]: P(y = 1 | x) for bce, the class distribution for ce, g(Z) for mse."""
        with torch.no_grad():
            if self.loss_name == "bce":
                return torch.sigmoid(Z).squeeze(-1)
            if self.loss_name == "ce":
                return torch.softmax(Z, dim=-1)
            return self.output(Z)

    def predict(self, Z: torch.Tensor) -> torch.Tensor:
        """Predicted labels (classification) or values (regression)."""
        with torch.no_grad():
            if self.loss_name == "bce":
                return (Z.squeeze(-1) > 0).long()
            if self.loss_name == "ce":
                return Z.argmax(dim=-1)
            return self.output(Z).squeeze(-1) if self.out_features == 1 else self.output(Z)

    @classmethod
    def from_data(cls, spec: DataSpec, **hparams: object) -> Model:
        """Build the model with the sizes the data dictates and the user's hyperparameters."""
        raise NotImplementedError


def check_positive(name: str, values: list[int] | tuple[int, ...]) -> None:
    """A clear error for layer sizes that are not positive integers."""
    for v in values:
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be positive integers, got {list(values)}")


def loss_inputs(loss: str, A: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two arguments of the loss op: A (Z[L] for bce/ce, g(Z[L]) for mse) and Y in
    the op's shapes and dtypes. For ce, (N, T, C) many-to-many outputs count every time
    step as a sample."""
    if loss == "ce":
        if A.dim() == 2:  # (m, C) already: skip two no-op reshapes (~5 µs each)
            return A, Y
        return A.reshape(-1, A.shape[-1]), Y.reshape(-1)
    return A.reshape(Y.shape), Y.to(A.dtype)


class LossHead:
    """The cost of :func:`~dlnotes.functional.network.propagate`: the model's loss fused
    with its output activation, as in the table above. It keeps no state between calls,
    so a model builds it once."""

    def __init__(self, loss: str, output: Activation) -> None:
        self.loss, self.output = loss, output
        self.forward_pair, self.backward_pair = losses.PAIRS[loss]

    def forward_cached(self, Z: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, Cache]:
        output_cache: Cache = ()
        if self.loss == "mse":
            # A[L] = g(Z[L])
            Z, output_cache = self.output.forward_cached(Z)
        J, cache = self.forward_pair(*loss_inputs(self.loss, Z, Y), "mean")
        return J, (*cache, *output_cache)

    def backward_cached(self, dJ: torch.Tensor, cache: Cache, z_shape: torch.Size) -> torch.Tensor:
        if self.loss == "mse":
            cache, output_cache = cache[:-1], cache[-1:]
        # dZ[L] (bce, ce) or dA[L] (mse) from the loss's own derivative
        dZ = self.backward_pair(dJ, *cache, "mean")
        if dZ.shape != z_shape:
            dZ = dZ.reshape(z_shape)
        if self.loss == "mse":
            # dZ[L] = dA[L] * g'(Z[L])
            dZ, _ = self.output.backward_cached(dZ, output_cache, True)
        return dZ
