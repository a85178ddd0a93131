"""Forward and backward propagation of a whole network as one step — notes 002, "Deep
Neural Networks: building blocks" and "Forward and backward propagation".

The notes' training step for an L-layer network: forward propagation from A[0] = X
through l = 1 … L, every layer keeping a *cache*; the cost J; then backward propagation
from dZ[L] (the loss's derivative, fused with the output activation) through
l = L … 1, every layer turning dA[l] and its cache into dA[l-1] and the gradients of its
own parameters. :func:`propagate` is that loop, run as **one** autograd node.

Each layer runs the forward/backward pair of :mod:`dlnotes.functional` that its own
autograd Function runs (``linear_forward``/``linear_backward``, ``relu_forward``/
``relu_backward``, …), so every equation is written once and both paths compute the same
numbers. Why one node: a ``torch.autograd.Function`` costs ~25 µs per call on a small
CPU, as much as a whole small layer, so an MLP built from one Function per op pays it
six times a step; as one node the hand-written step costs about what autograd's does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from torch.autograd.function import FunctionCtx

from dlnotes.functional._common import (
    autocast_backward,
    autocast_forward,
    autocast_off,
    first_order,
    widen,
)

Cache = tuple[torch.Tensor | None, ...]
Grads = tuple[torch.Tensor | None, ...]


class Layer(Protocol):
    """One layer of :func:`propagate` (the dlnotes.nn modules implement it)."""

    def propagated_params(self) -> tuple[torch.Tensor, ...]:
        """The parameters the layer's backward returns gradients for, in that order."""
        ...

    def forward_cached(self, A: torch.Tensor, *params: torch.Tensor) -> tuple[torch.Tensor, Cache]:
        """A[l-1] and the layer's parameters (those of :meth:`propagated_params`, as the
        node received them) → A[l] (or Z[l]), and the cache its backward needs."""
        ...

    def backward_cached(
        self, dA: torch.Tensor, cache: Cache, need_dA: bool
    ) -> tuple[torch.Tensor | None, Grads]:
        """dA[l] (or dZ[l]) and the cache → dA[l-1] (None unless ``need_dA``) and the
        gradients of :meth:`propagated_params`."""
        ...


class Head(Protocol):
    """The cost of :func:`propagate`: the loss fused with the output activation."""

    def forward_cached(self, Z: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, Cache]:
        """Z[L], Y → J, and the cache."""
        ...

    def backward_cached(self, dJ: torch.Tensor, cache: Cache, z_shape: torch.Size) -> torch.Tensor:
        """dJ and the cache → dZ[L], of Z[L]'s shape ``z_shape``."""
        ...


class Propagate(torch.autograd.Function):
    """X → Z[L] and J, with the notes' backward propagation as the backward."""

    @staticmethod
    @autocast_forward
    def forward(
        ctx: FunctionCtx,
        X: torch.Tensor,
        Y: torch.Tensor | None,
        layers: Sequence[Layer],
        head: Head | None,
        counts: Sequence[int],
        *params: torch.Tensor,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        A, saved, sizes, start = X, [], [], 0
        for layer, count in zip(layers, counts):
            # A[l] = g(Z[l]), Z[l] = A[l-1] W[l]ᵀ + b[l], …: each layer keeps its cache
            A, cache = layer.forward_cached(A, *params[start : start + count])
            start += count
            saved += cache
            sizes.append(len(cache))
        Z = A
        J = None
        if head is not None:
            # J = (1/m) Σ L(g[L](Z[L]), Y)   (in float32 under mixed precision, as
            # PyTorch's losses)
            with autocast_off(ctx.autocast):
                J, cache = head.forward_cached(widen(Z) if ctx.autocast else Z, Y)
            saved += cache
            sizes.append(len(cache))
        # the caches go through save_for_backward, which checks them for in-place changes
        # and keeps the outputs among them without a reference cycle
        ctx.save_for_backward(*saved)
        ctx.sizes, ctx.layers, ctx.head, ctx.counts = sizes, layers, head, counts
        ctx.z_shape = Z.shape
        ctx.set_materialize_grads(False)
        return Z if head is None else (Z, J)

    @staticmethod
    @first_order
    @autocast_backward
    def backward(ctx: FunctionCtx, dZ_out: torch.Tensor | None, dJ: torch.Tensor | None = None):
        saved, caches, start = ctx.saved_tensors, [], 0
        for size in ctx.sizes:
            caches.append(saved[start : start + size])
            start += size
        dA = None
        if ctx.head is not None and dJ is not None:
            # dZ[L] = dJ · ∂J/∂Z[L]   (e.g. (A[L] − Y)/m for sigmoid + cross-entropy)
            with autocast_off(ctx.autocast):
                dA = ctx.head.backward_cached(dJ, caches.pop(), ctx.z_shape)
        if dZ_out is not None:
            # Z[L] was also used outside the cost: its gradient adds
            dA = dZ_out if dA is None else dA + dZ_out
        layers = ctx.layers
        grads: list[torch.Tensor | None] = []
        if dA is None:
            grads = [None] * sum(ctx.counts)
        else:
            need_dX = ctx.needs_input_grad[0]
            for l in range(len(layers) - 1, -1, -1):
                # dA[l] → dA[l-1], dW[l], db[l], …   (dA[0] = dX only when X asks for it)
                dA, layer_grads = layers[l].backward_cached(dA, caches[l], l > 0 or need_dX)
                grads[:0] = layer_grads
        return (dA, None, None, None, None, *grads)


def propagate(
    X: torch.Tensor,
    layers: Sequence[Layer],
    head: Head | None = None,
    Y: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Forward propagation through ``layers`` (and the cost, with ``head``) as one node.

    X: (m, n[0]); layers: e.g. Linear, Activation, …, Linear (dlnotes.nn modules);
    head: the loss, with Y its targets → Z[L]: (m, n[L]), or (Z[L], J) with a head.
    Backward gives X (when it requires grad) and every layer's parameters the gradients
    of the notes' backward propagation; Z[L] may also be used in other terms.
    """
    params: list[torch.Tensor] = []
    counts: list[int] = []  # how many of params each layer takes, in order
    for layer in layers:
        layer_params = layer.propagated_params()
        params += layer_params
        counts.append(len(layer_params))
    return Propagate.apply(X, Y, layers, head, counts, *params)
