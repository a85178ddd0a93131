"""The maths of the notes: every op with a hand-written backward.

Each public function has the signature and defaults of its ``torch.nn.functional`` twin
(see :mod:`dlnotes.functional.reference` for the twins themselves), so one can be
swapped for the other.
"""

from dlnotes.functional.activations import identity, leaky_relu, relu, sigmoid, softmax, tanh
from dlnotes.functional.conv import conv2d
from dlnotes.functional.dense import linear
from dlnotes.functional.dropout import dropout
from dlnotes.functional.losses import binary_cross_entropy_with_logits, cross_entropy, mse_loss
from dlnotes.functional.norm import batch_norm
from dlnotes.functional.pool import avg_pool2d, max_pool2d
from dlnotes.functional.rnn import elman_rnn

__all__ = [
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "cross_entropy",
    "dropout",
    "elman_rnn",
    "identity",
    "leaky_relu",
    "linear",
    "max_pool2d",
    "mse_loss",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]
