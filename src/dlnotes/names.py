"""The names a config chooses among: activations, backward modes, losses, init schemes.

They live here, in a module that imports nothing, so that ``dlnotes-train`` checks a
value such as ``model.activation=relu`` before it spends seconds importing PyTorch and
Lightning; the modules that implement them import their names from here.
"""

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
"""Hidden-layer activations g of :class:`dlnotes.nn.Activation` (alias: linear = identity)."""

BACKWARDS = ("manual", "autograd")
"""The ``backward=`` switch: the hand-written backward pass, or PyTorch's autograd."""

LOSSES = ("bce", "ce", "mse")
"""Losses of :class:`dlnotes.models.Model`: binary / categorical cross-entropy, squared error."""

SCHEMES = (
    "default",
    "zeros",
    "constant",
    "small",
    "large",
    "normal",
    "xavier",
    "xavier_uniform",
    "xavier_normal",
    "he",
    "he_normal",
    "he_uniform",
    "lecun",
    "lecun_normal",
    "lecun_uniform",
)
"""Initialization schemes of :func:`dlnotes.init.apply`."""
