"""The targets of the performance issue (2-core CPU, float32, batch 128), in one place.

Each time target is the largest acceptable ratio of our time to PyTorch's built-in
(forward + backward of the same shapes), or of the Lightning fit to a plain loop.
"""

from __future__ import annotations

# ratio to the PyTorch twin, by op of dlnotes.functional
OP_TIME: dict[str, float] = {
    # matmul / reduction-bound
    "linear": 1.10,
    "mse_loss": 1.10,
    "binary_cross_entropy_with_logits": 1.10,
    "cross_entropy": 1.10,
    # element-wise, memory-bound
    "identity": 1.5,
    "sigmoid": 1.5,
    "tanh": 1.5,
    "relu": 1.5,
    "leaky_relu": 1.5,
    "softmax": 1.5,
    "dropout": 1.5,
    "batch_norm": 1.5,
    "conv2d": 2.0,
    "max_pool2d": 2.0,
    "avg_pool2d": 2.0,
    # against torch.nn.RNN's kernel
    "elman_rnn": 1.10,
}
# peak memory of any op, ratio to its twin
OP_MEMORY = 1.2
# one training step, backward="manual" vs "autograd" (the MLP and logistic models)
MODEL_STEP: dict[str, float] = {
    "logistic_regression": 1.10,
    "shallow_mlp": 1.10,
    "deep_mlp": 1.10,
}
# Lightning fit time / plain PyTorch loop time (MLP, batch 128): at most 15 % slower
LIGHTNING = 1.15
# wall time of each demo at its default size, seconds
DEMO_SECONDS = 120.0


def verdict(value: float | None, target: float | None) -> str | None:
    """ "pass" when ``value`` ≤ ``target``, "miss" above it, None without a target."""
    if value is None or target is None:
        return None
    return "pass" if value <= target else "miss"
