"""Elman recurrent network — notes 003, "Recurrent Neural Network (RNN)".

a(t) = b + W h(t−1) + U x(t),  h(t) = tanh(a(t)),  o(t) = c + V h(t),  ŷ(t) = softmax(o(t)).

many_to_many=False reads the whole sequence and produces one output from the last state
h(T) (e.g. parity, sequential MNIST); many_to_many=True produces o(t) at every step and
the loss is summed (averaged) over time (e.g. next-character prediction).
"""

from __future__ import annotations

import torch
import torch.nn.functional as torch_F

from dlnotes.data.spec import DataSpec
from dlnotes.models.base import Model, data_loss, resolve_loss
from dlnotes.nn import ElmanRNN as ElmanLayer
from dlnotes.nn import Linear


class ElmanRNN(Model):
    """X (m, T, n_x) floats, or (m, T) token indices when ``vocab_size`` is set.

    Returns Z = o: (m, out_features) for many-to-one, (m, T, out_features) for many-to-many.
    activation: the recurrent nonlinearity, "tanh" (the notes) or "relu".
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 64,
        out_features: int = 1,
        activation: str = "tanh",
        many_to_many: bool = False,
        vocab_size: int | None = None,
        loss: str = "auto",
        output_activation: str = "identity",
        backward: str = "manual",
    ) -> None:
        if activation not in ("tanh", "relu"):
            raise ValueError(
                f"model.activation for elman_rnn must be 'tanh' or 'relu' (the recurrences "
                f"torch.nn.RNN offers), got {activation!r}"
            )
        loss = resolve_loss(loss, out_features)
        super().__init__(out_features, loss, output_activation, backward)
        self.vocab_size, self.many_to_many, self.activation = vocab_size, many_to_many, activation
        self.rnn = ElmanLayer(input_size, hidden_size, activation, backward=backward)
        # o(t) = c + V h(t)
        self.head = Linear(hidden_size, out_features, backward=backward)

    def encode(self, X: torch.Tensor) -> torch.Tensor:
        """Token indices → one-hot vectors x(t) (the input U x(t) then picks a column of U)."""
        if self.vocab_size:
            return torch_F.one_hot(X.long(), self.vocab_size).to(self.head.weight.dtype)
        return X if X.dim() == 3 else X.unsqueeze(-1)

    def forward(
        self, X: torch.Tensor, h0: torch.Tensor | None = None, return_state: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        H, h_n = self.rnn(self.encode(X), h0)
        Z = self.head(H) if self.many_to_many else self.head(h_n)
        return (Z, h_n) if return_state else Z

    @torch.no_grad()
    def generate(
        self,
        prefix: torch.Tensor,
        length: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Sample ``length`` tokens after ``prefix`` (T0,) from softmax(o(t) / temperature)."""
        if not (self.vocab_size and self.many_to_many):
            raise ValueError("generate needs a many-to-many model over tokens (data=text)")
        Z, h = self.forward(prefix.unsqueeze(0), return_state=True)
        out = []
        for _ in range(length):
            p = torch.softmax(Z[:, -1] / max(temperature, 1e-6), dim=-1)
            token = torch.multinomial(p, 1, generator=generator)
            out.append(token)
            Z, h = self.forward(token, h, return_state=True)
        return torch.cat(out, dim=1).squeeze(0)

    @classmethod
    def from_data(cls, spec: DataSpec, **hparams: object) -> ElmanRNN:
        if spec.kind != "sequence":
            raise ValueError(
                f"model=elman_rnn needs sequence data (parity, adding, seq_mnist, text); "
                f"data '{spec.name}' is {spec.kind}"
            )
        data_loss(hparams, spec)
        return cls(
            input_size=spec.vocab_size or spec.in_features,
            out_features=spec.out_features,
            many_to_many=spec.many_to_many,
            vocab_size=spec.vocab_size,
            **hparams,
        )
