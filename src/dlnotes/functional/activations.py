"""Activation functions and their derivatives — notes 002, "Derivatives of Activation functions",
and notes 001 (ReLU, sigmoid, tanh, softmax).

Each activation A = g(Z) is applied element-wise; its backward is the notes'
dZ = dA * g'(Z). Where the derivative is cheapest to write from the output, the
forward saves A instead of Z (σ' = σ(1 − σ), tanh' = 1 − tanh²).
"""

from __future__ import annotations

import torch
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
        # dZ = dA * g'(Z),  g'(Z) = σ(Z)(1 − σ(Z))
        return dA * A * (1 - A)


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
        # dZ = dA * g'(Z),  g'(Z) = 1 − tanh²(Z)
        return dA * (1 - A * A)


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
        # dZ = dA * 1[Z > 0]
        return dA * (A > 0)


class LeakyReLU(torch.autograd.Function):
    """A = max(αZ, Z) for 0 ≤ α ≤ 1 (α = 0.01 in the notes)."""

    @staticmethod
    def forward(ctx: FunctionCtx, Z: torch.Tensor, negative_slope: float) -> torch.Tensor:
        # A = Z for Z > 0, αZ otherwise
        A = torch.where(Z > 0, Z, Z * negative_slope)
        ctx.save_for_backward(Z)
        ctx.negative_slope = negative_slope
        return A

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dA: torch.Tensor):
        (Z,) = ctx.saved_tensors
        # dZ = dA * g'(Z),  g'(Z) = 1 for Z > 0, α otherwise
        return torch.where(Z > 0, dA, dA * ctx.negative_slope), None


class Softmax(torch.autograd.Function):
    """A_k = e^{Z_k} / Σ_j e^{Z_j} along ``dim`` (notes 001: logits → probabilities)."""

    @staticmethod
    def forward(ctx: FunctionCtx, Z: torch.Tensor, dim: int) -> torch.Tensor:
        # subtracting max(Z) changes nothing mathematically and keeps e^Z finite
        E = torch.exp(Z - Z.amax(dim=dim, keepdim=True))
        # A = e^Z / Σ e^Z
        A = E / E.sum(dim=dim, keepdim=True)
        ctx.save_for_backward(A)
        ctx.dim = dim
        return A

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dA: torch.Tensor):
        (A,) = ctx.saved_tensors
        # ∂A_k/∂Z_j = A_k(δ_kj − A_j)  ⇒  dZ = A * (dA − Σ_k dA_k A_k)
        return A * (dA - (dA * A).sum(dim=ctx.dim, keepdim=True)), None


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
