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

import torch
import torch.nn.functional as F
from torch.autograd.function import FunctionCtx, once_differentiable


class Sigmoid(torch.autograd.Function):
    """A = σ(Z) = 1 / (1 + e^{-Z})."""

    @staticmethod
    def forward(ctx: FunctionCtx, Z: torch.Tensor) -> torch.Tensor:
        # A = 1 / (1 + e^{-Z})   (torch.sigmoid is the numerically safe evaluation)
        A = torch.sigmoid(Z)
        ctx.save_for_backward(A)
        return A

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dA: torch.Tensor) -> torch.Tensor:
        (A,) = ctx.saved_tensors
        # dZ = dA * g'(Z),  g'(Z) = σ(Z)(1 − σ(Z)) = A − A·A
        return torch.addcmul(A, A, A, value=-1).mul_(dA)


class Tanh(torch.autograd.Function):
    """A = tanh(Z) = (e^Z − e^{-Z}) / (e^Z + e^{-Z})."""

    @staticmethod
    def forward(ctx: FunctionCtx, Z: torch.Tensor) -> torch.Tensor:
        A = torch.tanh(Z)
        ctx.save_for_backward(A)
        return A

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dA: torch.Tensor) -> torch.Tensor:
        (A,) = ctx.saved_tensors
        # dZ = dA * g'(Z),  g'(Z) = 1 − tanh²(Z) = 1 − A·A
        return torch.addcmul(A.new_ones(()), A, A, value=-1).mul_(dA)


class ReLU(torch.autograd.Function):
    """A = max(0, Z); g'(Z) = 1 for Z > 0 and 0 otherwise (0 at Z = 0, as PyTorch)."""

    @staticmethod
    def forward(ctx: FunctionCtx, Z: torch.Tensor) -> torch.Tensor:
        A = torch.clamp_min(Z, 0)
        # A > 0 exactly where Z > 0, so A is all the backward needs
        ctx.save_for_backward(A)
        return A

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dA: torch.Tensor) -> torch.Tensor:
        (A,) = ctx.saved_tensors
        # dZ = dA * 1[Z > 0],  and 1[Z > 0] = sign(A) since A = max(0, Z) ≥ 0
        return A.sign().mul_(dA)


class LeakyReLU(torch.autograd.Function):
    """A = max(αZ, Z) for 0 ≤ α ≤ 1 (α = 0.01 in the notes)."""

    @staticmethod
    def forward(ctx: FunctionCtx, Z: torch.Tensor, negative_slope: float) -> torch.Tensor:
        # A = Z for Z > 0, αZ otherwise   (PyTorch's kernel evaluates it in one pass)
        A = F.leaky_relu(Z, negative_slope)
        ctx.save_for_backward(Z)
        ctx.negative_slope = negative_slope
        return A

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dA: torch.Tensor):
        (Z,) = ctx.saved_tensors
        alpha = ctx.negative_slope
        if 0 <= alpha <= 1:
            # g'(Z) = 1 for Z > 0, α otherwise = max(sign(Z), α)   (sign(Z) ∈ {−1, 0, 1})
            g_prime = Z.sign().clamp_min_(alpha)
        else:
            # g'(Z) = α + (1 − α)·1[Z > 0],  1[Z > 0] = max(sign(Z), 0)
            g_prime = Z.sign().clamp_min_(0).mul_(1 - alpha).add_(alpha)
        # dZ = dA * g'(Z)
        return g_prime.mul_(dA), None


class Softmax(torch.autograd.Function):
    """A_k = e^{Z_k} / Σ_j e^{Z_j} along ``dim`` (notes 001: logits → probabilities)."""

    @staticmethod
    def forward(ctx: FunctionCtx, Z: torch.Tensor, dim: int) -> torch.Tensor:
        # A = e^Z / Σ e^Z = e^{Z − max Z} / Σ e^{Z − max Z}   (torch.softmax evaluates it
        # that way, so that no exponent overflows, in one pass)
        A = torch.softmax(Z, dim=dim)
        ctx.save_for_backward(A)
        ctx.dim = dim
        return A

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dA: torch.Tensor):
        (A,) = ctx.saved_tensors
        # ∂A_k/∂Z_j = A_k(δ_kj − A_j)  ⇒  dZ = A * (dA − Σ_k dA_k A_k) = A·dA − A·Σ_k dA_k A_k
        dZ = torch.mul(A, dA)
        return dZ.addcmul_(A, dZ.sum(dim=ctx.dim, keepdim=True), value=-1), None


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
    return input


def softmax(input: torch.Tensor, dim: int) -> torch.Tensor:
    """Twin of :func:`torch.softmax` (``dim`` required); backward dZ = A(dA − Σ dA·A)."""
    return Softmax.apply(input, dim)
