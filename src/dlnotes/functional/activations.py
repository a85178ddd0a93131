"""Activation functions and their derivatives — notes 002, "Derivatives of Activation functions",
and notes 001 (ReLU, sigmoid, tanh, softmax).

Each activation A = g(Z) is applied element-wise; its backward is the notes'
dZ = dA * g'(Z). Where the derivative is cheapest to write from the output, the
forward saves A instead of Z (σ' = σ(1 − σ), tanh' = 1 − tanh²).

Speed: these ops are memory-bound, so every backward forms g'(Z) in the one buffer that
becomes dZ and multiplies dA into it in place (two passes over memory, one allocation,
as many bytes as PyTorch's own backward). Masks are written with arithmetic (sign,
clamp) rather than booleans: on CPU a boolean mask plus ``torch.where`` costs several
passes more.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.autograd.function import FunctionCtx

from dlnotes.functional._common import first_order

# Each activation is a pair: forward Z → (A, cache), backward (dA, cache) → dZ; the
# autograd Functions below and the whole-network propagation of dlnotes.functional.network
# both run these pairs.
Cache = torch.Tensor | None


def sigmoid_forward(Z: torch.Tensor) -> tuple[torch.Tensor, Cache]:
    """A = σ(Z) = 1 / (1 + e^{-Z}); the cache is A."""
    # A = 1 / (1 + e^{-Z})   (torch.sigmoid is the numerically safe evaluation)
    A = torch.sigmoid(Z)
    return A, A


def sigmoid_backward(dA: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    # dZ = dA * g'(Z),  g'(Z) = σ(Z)(1 − σ(Z)) = A − A·A
    return torch.addcmul(A, A, A, value=-1).mul_(dA)


def tanh_forward(Z: torch.Tensor) -> tuple[torch.Tensor, Cache]:
    """A = tanh(Z) = (e^Z − e^{-Z}) / (e^Z + e^{-Z}); the cache is A."""
    A = torch.tanh(Z)
    return A, A


def tanh_backward(dA: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    # dZ = dA * g'(Z),  g'(Z) = 1 − tanh²(Z) = 1 − A·A
    return torch.addcmul(A.new_ones(()), A, A, value=-1).mul_(dA)


def relu_forward(Z: torch.Tensor) -> tuple[torch.Tensor, Cache]:
    """A = max(0, Z); the cache is A (A > 0 exactly where Z > 0)."""
    A = torch.clamp_min(Z, 0)
    return A, A


def relu_backward(dA: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    # dZ = dA * 1[Z > 0],  and 1[Z > 0] = sign(A) since A = max(0, Z) ≥ 0
    # (ReLU'(0) = 0, as PyTorch)
    return A.sign().mul_(dA)


def leaky_relu_forward(Z: torch.Tensor, negative_slope: float) -> tuple[torch.Tensor, Cache]:
    """A = max(αZ, Z) for 0 ≤ α ≤ 1 (α = 0.01 in the notes); the cache is Z."""
    # A = Z for Z > 0, αZ otherwise   (PyTorch's kernel evaluates it in one pass)
    return F.leaky_relu(Z, negative_slope), Z


def leaky_relu_backward(dA: torch.Tensor, Z: torch.Tensor, negative_slope: float) -> torch.Tensor:
    alpha = negative_slope
    if 0 <= alpha <= 1:
        # g'(Z) = 1 for Z > 0, α otherwise = max(sign(Z), α)   (sign(Z) ∈ {−1, 0, 1})
        g_prime = Z.sign().clamp_min_(alpha)
    else:
        # g'(Z) = α + (1 − α)·1[Z > 0],  1[Z > 0] = max(sign(Z), 0)
        g_prime = Z.sign().clamp_min_(0).mul_(1 - alpha).add_(alpha)
    # dZ = dA * g'(Z)
    return g_prime.mul_(dA)


def identity_forward(Z: torch.Tensor) -> tuple[torch.Tensor, Cache]:
    """A = Z; nothing to cache."""
    return Z, None


def identity_backward(dA: torch.Tensor, cache: Cache) -> torch.Tensor:
    # dZ = dA * g'(Z),  g' = 1
    return dA


def softmax_forward(Z: torch.Tensor, dim: int) -> tuple[torch.Tensor, Cache]:
    """A_k = e^{Z_k} / Σ_j e^{Z_j} along ``dim`` (notes 001: logits → probabilities)."""
    # A = e^Z / Σ e^Z = e^{Z − max Z} / Σ e^{Z − max Z}   (torch.softmax evaluates it
    # that way, so that no exponent overflows, in one pass)
    A = torch.softmax(Z, dim=dim)
    return A, A


def softmax_backward(dA: torch.Tensor, A: torch.Tensor, dim: int) -> torch.Tensor:
    # ∂A_k/∂Z_j = A_k(δ_kj − A_j)  ⇒  dZ = A * (dA − Σ_k dA_k A_k) = A·dA − A·Σ_k dA_k A_k
    dZ = torch.mul(A, dA)
    return dZ.addcmul_(A, dZ.sum(dim=dim, keepdim=True), value=-1)


Forward = Callable[..., tuple[torch.Tensor, Cache]]
Backward = Callable[..., torch.Tensor]

PAIRS: dict[str, tuple[Forward, Backward]] = {
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "identity": (identity_forward, identity_backward),
    "softmax": (softmax_forward, softmax_backward),
}
"""name → (forward, backward); extra arguments (negative_slope, dim) follow the tensor."""


def _function(name: str, forward: Forward, backward: Backward) -> type[torch.autograd.Function]:
    """The autograd Function of one pair: forward saves the pair's cache, backward runs
    the pair's backward on it; non-tensor arguments (α, dim) get no gradient."""

    class Op(torch.autograd.Function):
        @staticmethod
        def forward(ctx: FunctionCtx, Z: torch.Tensor, *args: object) -> torch.Tensor:
            A, cache = forward(Z, *args)
            ctx.save_for_backward(cache)
            ctx.args = args
            return A

        @staticmethod
        @first_order
        def backward(ctx: FunctionCtx, dA: torch.Tensor):
            (cache,) = ctx.saved_tensors
            return (backward(dA, cache, *ctx.args), *(None for _ in ctx.args))

    Op.__name__ = Op.__qualname__ = name
    Op.__doc__ = forward.__doc__
    return Op


Sigmoid = _function("Sigmoid", *PAIRS["sigmoid"])
Tanh = _function("Tanh", *PAIRS["tanh"])
ReLU = _function("ReLU", *PAIRS["relu"])
LeakyReLU = _function("LeakyReLU", *PAIRS["leaky_relu"])
Softmax = _function("Softmax", *PAIRS["softmax"])


def sigmoid(input: torch.Tensor) -> torch.Tensor:
    """Twin of :func:`torch.sigmoid`; backward σ'(Z) = σ(Z)(1 − σ(Z))."""
    return Sigmoid.apply(input)


def tanh(input: torch.Tensor) -> torch.Tensor:
    """Twin of :func:`torch.tanh`; backward tanh'(Z) = 1 − tanh²(Z)."""
    return Tanh.apply(input)


def relu(input: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Twin of :func:`torch.nn.functional.relu`.

    ReLU is not differentiable at 0; like PyTorch we use the subgradient ReLU'(0) = 0.
    ``inplace`` is accepted for signature compatibility and ignored (never in place).
    """
    return ReLU.apply(input)


def leaky_relu(
    input: torch.Tensor, negative_slope: float = 0.01, inplace: bool = False
) -> torch.Tensor:
    """Twin of :func:`torch.nn.functional.leaky_relu`; g'(0) = negative_slope, as PyTorch."""
    return LeakyReLU.apply(input, negative_slope)


def identity(input: torch.Tensor) -> torch.Tensor:
    """The linear activation g(Z) = Z (g' = 1): the notes' example of a network that collapses."""
    return identity_forward(input)[0]


def softmax(input: torch.Tensor, dim: int) -> torch.Tensor:
    """Twin of :func:`torch.softmax` (``dim`` required); backward dZ = A(dA − Σ dA·A)."""
    return Softmax.apply(input, dim)
