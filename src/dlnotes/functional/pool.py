"""Pooling layers — notes 003, "Max pooling example" and "Max pooling introduces invariance".

A pooling layer slides a kh × kw window with stride s over every channel of A
(m, C, H, W) and summarises each window by one number, giving Z (m, C, H_out, W_out)
with H_out = ⌊(H + 2p − kh) / s⌋ + 1. The notes' example is a 2 × 2 max pool with
stride 2 on a 4 × 4 image: [[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4],
[112, 100, 25, 12]] → [[20, 30], [112, 37]].

- Max pooling: Z = max over the window. Only the maximum depends on the input, so
  dA is zero everywhere except at the position that held it, which receives dZ
  (overlapping windows add up). Like PyTorch, a tie goes to the first maximum in
  row-major window order and the padding is −∞ (it can never win).
- Average pooling: Z = (1 / (kh·kw)) Σ over the window, the zero padding included in
  the count; every position of a window receives dZ / (kh·kw).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import FunctionCtx, once_differentiable

from ._common import pair


def _pool_geometry(
    A: torch.Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None,
    padding: int | tuple[int, int],
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Kernel, stride (defaults to the kernel) and padding as pairs, checked like PyTorch."""
    k = pair(kernel_size, "kernel_size")
    s = (
        k
        if stride is None or (not isinstance(stride, int) and len(stride) == 0)
        else pair(stride, "stride")
    )
    p = pair(padding, "padding")
    if min(k) <= 0 or min(s) <= 0 or min(p) < 0:
        raise ValueError(f"kernel_size and stride must be > 0 and padding >= 0, got {k}, {s}, {p}")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"pad should be at most half of kernel size, got padding={p}, kernel={k}")
    H, W = A.shape[-2:]
    if H + 2 * p[0] < k[0] or W + 2 * p[1] < k[1]:
        raise ValueError(
            f"input of size {(H, W)} padded by {p} is smaller than the kernel {k}: "
            "output size is too small"
        )
    return k, s, p


def _windows(A_pad: torch.Tensor, k: tuple[int, int], s: tuple[int, int]) -> torch.Tensor:
    """Strided view of all windows: A_pad (m, C, H_p, W_p) → (m, C, H_out, W_out, kh, kw)."""
    return A_pad.unfold(2, k[0], s[0]).unfold(3, k[1], s[1])


class MaxPool2d(torch.autograd.Function):
    """Z = max of each kh × kw window (stride s, −∞ padding p) with a hand-written backward."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        A: torch.Tensor,
        k: tuple[int, int],
        s: tuple[int, int],
        p: tuple[int, int],
    ) -> torch.Tensor:
        """A: (m, C, H, W) → Z: (m, C, H_out, W_out)."""
        m, C, H, W = A.shape
        (kh, kw), (ph, pw) = k, p
        A_pad = F.pad(A, (pw, pw, ph, ph), value=float("-inf")) if ph or pw else A
        win = _windows(A_pad, k, s)
        H_out, W_out = win.shape[2:4]
        # Z = max_{u,v} A_pad[s·y + u, s·x + v];  j = the first (row-major) window
        # position holding it
        Z, j = win.reshape(m, C, H_out, W_out, kh * kw).max(-1)
        # flat index in A (H·W) of every window position; a padded position maps to the
        # nearest row/column of A — only chosen when the whole window is −∞, where
        # PyTorch also returns the first position of the window inside A
        rows = torch.arange(-ph, H + ph, device=A.device).clamp_(0, H - 1)
        cols = torch.arange(-pw, W + pw, device=A.device).clamp_(0, W - 1)
        pos = _windows((rows[:, None] * W + cols[None, :])[None, None], k, s)
        pos = pos.reshape(1, 1, H_out, W_out, kh * kw)
        # cache: where each maximum came from (what PyTorch calls the indices)
        idx = pos.expand(m, C, -1, -1, -1).gather(-1, j.unsqueeze(-1)).squeeze(-1)
        ctx.save_for_backward(idx)
        ctx.in_shape = A.shape
        return Z

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dZ: torch.Tensor):
        """dZ: (m, C, H_out, W_out) → dA: (m, C, H, W)."""
        (idx,) = ctx.saved_tensors
        m, C, H, W = ctx.in_shape
        dA = dZ.new_zeros(m, C, H * W)
        # dA[argmax of window (y, x)] += dZ[y, x];  every other position gets 0
        dA.scatter_add_(2, idx.reshape(m, C, -1), dZ.reshape(m, C, -1))
        return dA.view(m, C, H, W), None, None, None


class AvgPool2d(torch.autograd.Function):
    """Z = mean of each kh × kw window (stride s, zero padding p counted) with a hand-written backward."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        A: torch.Tensor,
        k: tuple[int, int],
        s: tuple[int, int],
        p: tuple[int, int],
    ) -> torch.Tensor:
        """A: (m, C, H, W) → Z: (m, C, H_out, W_out)."""
        (ph, pw) = p
        A_pad = F.pad(A, (pw, pw, ph, ph)) if ph or pw else A
        # Z = (1 / (kh·kw)) Σ_{u,v} A_pad[s·y + u, s·x + v]
        Z = _windows(A_pad, k, s).sum((-2, -1)) / (k[0] * k[1])
        ctx.in_shape = A.shape
        ctx.geometry = (k, s, p)
        return Z

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dZ: torch.Tensor):
        """dZ: (m, C, H_out, W_out) → dA: (m, C, H, W)."""
        m, C, H, W = ctx.in_shape
        (kh, kw), (sh, sw), (ph, pw) = ctx.geometry
        H_out, W_out = dZ.shape[-2:]
        # every position of a window gets an equal share: dA_pad[s·y + u, s·x + v] += dZ / (kh·kw)
        share = dZ / (kh * kw)
        dA_pad = dZ.new_zeros(m, C, H + 2 * ph, W + 2 * pw)
        if sh >= kh and sw >= kw:
            # windows do not overlap: write every share into its window in one go
            _windows(dA_pad, (kh, kw), (sh, sw)).copy_(
                share[..., None, None].expand(-1, -1, -1, -1, kh, kw)
            )
        else:
            # overlapping windows accumulate: one strided slice per kernel offset (u, v)
            for u in range(kh):
                for v in range(kw):
                    dA_pad[
                        :, :, u : u + sh * (H_out - 1) + 1 : sh, v : v + sw * (W_out - 1) + 1 : sw
                    ] += share
        # the padding is not part of A: crop it
        dA = dA_pad[:, :, ph : ph + H, pw : pw + W]
        return dA.contiguous(), None, None, None


def _batched(op, input: torch.Tensor, *args) -> torch.Tensor:
    """Apply a pooling op to (m, C, H, W) or to an unbatched (C, H, W) input."""
    if input.dim() == 3:
        return op.apply(input.unsqueeze(0), *args).squeeze(0)
    return op.apply(input, *args)


def max_pool2d(
    input: torch.Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> torch.Tensor:
    """Twin of :func:`torch.nn.functional.max_pool2d` (no dilation, ceil_mode=False).

    Shapes: input (m, C, H, W) or (C, H, W) → (m, C, H_out, W_out),
    H_out = ⌊(H + 2p − kh) / s⌋ + 1; ``stride`` defaults to ``kernel_size``.
    """
    k, s, p = _pool_geometry(input, kernel_size, stride, padding)
    return _batched(MaxPool2d, input, k, s, p)


def avg_pool2d(
    input: torch.Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> torch.Tensor:
    """Twin of :func:`torch.nn.functional.avg_pool2d` (ceil_mode=False, count_include_pad=True).

    Shapes: input (m, C, H, W) or (C, H, W) → (m, C, H_out, W_out),
    H_out = ⌊(H + 2p − kh) / s⌋ + 1; ``stride`` defaults to ``kernel_size``.
    """
    k, s, p = _pool_geometry(input, kernel_size, stride, padding)
    return _batched(AvgPool2d, input, k, s, p)
