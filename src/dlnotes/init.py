"""Named weight-initialization schemes — notes 002 ("Random initialization": symmetry
breaking, W = randn · 0.01) and notes 001 ("Weight Initialization → xavier, lecun").

``apply(model, scheme)`` initializes every weight matrix / kernel (every parameter with
two or more dimensions: dense W, conv kernels, the RNN's U and W) and sets biases to zero
unless ``bias=`` says otherwise. One-dimensional non-bias parameters (batch norm's γ) are
left alone. fan_in = n[l-1] (· kernel area for convolutions), fan_out = n[l] (· area).

| scheme        | W ~                                  |
| ------------- | ------------------------------------ |
| zeros         | 0 (every unit identical: no symmetry breaking) |
| constant      | ``value`` everywhere (same symmetry problem) |
| small         | N(0, 1) · 0.01  (the notes' ``randn * 0.01``) |
| large         | N(0, 1) · 10    (saturates sigmoid/tanh, explodes ReLU) |
| normal        | N(0, std²)                           |
| xavier / xavier_uniform | U(−a, a), a = gain · √(6 / (fan_in + fan_out))  (Glorot) |
| xavier_normal | N(0, gain² · 2 / (fan_in + fan_out)) |
| he / he_normal | N(0, 2 / fan_in)   (Kaiming, for ReLU) |
| he_uniform    | U(−a, a), a = √(6 / fan_in)          |
| lecun / lecun_normal | N(0, 1 / fan_in)              |
| lecun_uniform | U(−a, a), a = √(3 / fan_in)          |
| default       | leave PyTorch's default initialization |
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from dlnotes.names import SCHEMES


def fans(W: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (n[l], n[l-1], *kernel)."""
    area = math.prod(W.shape[2:])
    return W.shape[1] * area, W.shape[0] * area


def _normal(W: torch.Tensor, std: float, g: torch.Generator | None) -> None:
    W.normal_(0.0, std, generator=g)


def _uniform(W: torch.Tensor, a: float, g: torch.Generator | None) -> None:
    W.uniform_(-a, a, generator=g)


def _initializer(
    scheme: str, gain: float, value: float, std: float
) -> Callable[[torch.Tensor, torch.Generator | None], None]:
    def fan_in(W: torch.Tensor) -> int:
        return fans(W)[0]

    def fan_sum(W: torch.Tensor) -> int:
        return sum(fans(W))

    table: dict[str, Callable[[torch.Tensor, torch.Generator | None], None]] = {
        "zeros": lambda W, g: W.zero_(),
        "constant": lambda W, g: W.fill_(value),
        # W = randn · 0.01
        "small": lambda W, g: _normal(W, 0.01, g),
        # W = randn · 10
        "large": lambda W, g: _normal(W, 10.0, g),
        "normal": lambda W, g: _normal(W, std, g),
        # a = gain √(6 / (fan_in + fan_out))
        "xavier_uniform": lambda W, g: _uniform(W, gain * math.sqrt(6 / fan_sum(W)), g),
        # std = gain √(2 / (fan_in + fan_out))
        "xavier_normal": lambda W, g: _normal(W, gain * math.sqrt(2 / fan_sum(W)), g),
        # std = √(2 / fan_in)
        "he_normal": lambda W, g: _normal(W, math.sqrt(2 / fan_in(W)), g),
        # a = √(6 / fan_in)
        "he_uniform": lambda W, g: _uniform(W, math.sqrt(6 / fan_in(W)), g),
        # std = √(1 / fan_in)
        "lecun_normal": lambda W, g: _normal(W, math.sqrt(1 / fan_in(W)), g),
        # a = √(3 / fan_in)
        "lecun_uniform": lambda W, g: _uniform(W, math.sqrt(3 / fan_in(W)), g),
    }
    aliases = {"xavier": "xavier_uniform", "he": "he_normal", "lecun": "lecun_normal"}
    return table[aliases.get(scheme, scheme)]


def apply(
    model: nn.Module,
    scheme: str,
    *,
    bias: float = 0.0,
    gain: float = 1.0,
    value: float = 0.0,
    std: float = 0.01,
    seed: int | None = None,
) -> nn.Module:
    """Initialize ``model`` in place with the named ``scheme`` and return it.

    bias:  value every bias is set to (0 by default, as the notes advise: biases do not
           create symmetry problems).
    gain:  Glorot gain for xavier schemes (e.g. 5/3 for tanh).
    value: the constant of ``constant``; std: the σ of ``normal``.
    seed:  draw from a private generator seeded with ``seed`` (reproducible, leaves the
           global RNG untouched); None uses the global RNG.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"init scheme must be one of {', '.join(SCHEMES)}; got {scheme!r}")
    if scheme == "default":
        return model
    init = _initializer(scheme, gain, value, std)
    g = None
    if seed is not None:
        g = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for name, P in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if P.dim() >= 2:
                _fill(P, init, g)
            elif leaf.startswith("bias"):
                P.fill_(bias)
    return model


def _fill(
    P: torch.Tensor,
    init: Callable[[torch.Tensor, torch.Generator | None], None],
    g: torch.Generator | None,
) -> None:
    """Run ``init`` on CPU when a CPU generator drives a tensor that lives elsewhere."""
    if g is not None and P.device.type != "cpu":
        W = torch.empty(P.shape, dtype=P.dtype)
        init(W, g)
        P.copy_(W)
    else:
        init(P, g)
