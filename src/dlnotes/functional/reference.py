"""PyTorch's own ops under the names and signatures of :mod:`dlnotes.functional`.

``backward="autograd"`` modules call these, so the same architecture runs on PyTorch's
built-ins and can be compared with the hand-written backward on identical weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

linear = F.linear
sigmoid = torch.sigmoid
tanh = torch.tanh
relu = F.relu
leaky_relu = F.leaky_relu
softmax = torch.softmax
conv2d = F.conv2d
max_pool2d = F.max_pool2d
avg_pool2d = F.avg_pool2d
batch_norm = F.batch_norm
dropout = F.dropout
mse_loss = F.mse_loss
binary_cross_entropy_with_logits = F.binary_cross_entropy_with_logits
cross_entropy = F.cross_entropy


def identity(input: torch.Tensor) -> torch.Tensor:
    """g(Z) = Z."""
    return input


def elman_rnn(
    input: torch.Tensor,
    hx: torch.Tensor | None,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
    nonlinearity: str = "tanh",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel behind ``torch.nn.RNN(batch_first=True)``: (N, T, H_in) → (N, T, H), (N, H)."""
    H = weight_hh.shape[0]
    if hx is None:
        hx = input.new_zeros(input.shape[0], H)
    weights = [weight_ih, weight_hh]
    has_bias = bias_ih is not None or bias_hh is not None
    if has_bias:
        zeros = weight_hh.new_zeros(H)
        weights += [
            bias_ih if bias_ih is not None else zeros,
            bias_hh if bias_hh is not None else zeros,
        ]
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    kernel = torch._VF.rnn_tanh if nonlinearity == "tanh" else torch._VF.rnn_relu
    output, h_n = kernel(input, hx.unsqueeze(0), weights, has_bias, 1, 0.0, False, False, True)
    return output, h_n.squeeze(0)
