"""Pooling layers — notes 003, "Max pooling example" and "Max pooling introduces invariance".

A pooling layer slides a kh × kw window with stride s over every channel of A
(m, C, H, W) and summarises each window by one number, giving Z (m, C, H_out, W_out)
with H_out = ⌊(H + 2p − kh) / s⌋ + 1. The notes' example is a 2 × 2 max pool with
stride 2 on a 4 × 4 image: [[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4],
[112, 100, 25, 12]] → [[20, 30], [112, 37]].

- Max pooling: Z = max over the window. Only the maximum depends on the input, so
  dA is zero everywhere except at the position that held it, which receives dZ
  (overlapping windows add up). Like PyTorch, a tie goes to the first maximum in
  row-major window order and the padding is −∞ (it never beats an entry of A).
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
    if stride is None or (not isinstance(stride, int) and len(stride) == 0):
        s = k  # PyTorch's default (None or an empty list): the windows tile the image
    else:
        s = pair(stride, "stride")
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


def _first_max(
    win: torch.Tensor, tag: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The maximum over the last axis of a window view, and the first position holding it.

    win: (..., k) → Z: (...), t*: (...) int32, and tag[..., t*] for a view ``tag`` (..., k).
    One pass per window position (a loop over kernel offsets); ``torch.where`` and
    ``masked_fill_`` are several times slower on CPU than the arithmetic selects below.
    """
    Z = win[..., 0]
    t_star = torch.zeros(Z.shape, dtype=torch.int32, device=Z.device)
    tag_star = None if tag is None else tag[..., 0]
    for t in range(1, win.shape[-1]):
        S = win[..., t]
        # strictly greater: on a tie the earlier position keeps the maximum
        better = (S > Z).to(torch.int32)
        Z = torch.maximum(Z, S)
        # positions only grow, so the last strictly better position is the largest one
        t_star = torch.maximum(t_star, better * t)
        if tag is not None:
            # tag* ← tag[t] where better, unchanged elsewhere
            tag_star = tag_star + better * (tag[..., t] - tag_star)
    return Z, t_star, tag_star


def _window_sum(win: torch.Tensor) -> torch.Tensor:
    """Σ over the last axis of a window view (..., k) → (...), one add per kernel offset."""
    S = win[..., 0]
    for t in range(1, win.shape[-1]):
        S = S + win[..., t]
    return S


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
        W = A.shape[-1]
        (kh, kw), (sh, sw), (ph, pw) = k, s, p
        A_pad = F.pad(A, (pw, pw, ph, ph), value=float("-inf")) if ph or pw else A
        # the window max taken one axis at a time; the first maximum of each row of the
        # window, then the first (topmost) of those, is the first maximum in row-major order
        # M[r, x] = max_v A_pad[r, s·x + v],  v* = the first v holding it
        M, v_star, _ = _first_max(A_pad.unfold(3, kw, sw))
        # Z[y, x] = max_u M[s·y + u, x],  u* = the first u holding it, v* of that row
        Z, u_star, v_win = _first_max(M.unfold(2, kh, sh), v_star.unfold(2, kh, sh))
        H_out, W_out = Z.shape[-2:]
        # (row, col) in A of each maximum: (s·y + u* − p, s·x + v* − p)
        i32 = {"dtype": torch.int32, "device": A.device}
        rows = (torch.arange(H_out, **i32) * sh - ph)[:, None] + u_star
        cols = torch.arange(W_out, **i32) * sw - pw + v_win
        if ph or pw:
            # a padded position wins only in a window that is −∞ throughout, where
            # PyTorch picks the window's first position inside A
            rows, cols = rows.clamp_min_(0), cols.clamp_min_(0)
        # cache: the flat index (in H·W) of every maximum — PyTorch's "indices"
        idx = (rows * W + cols).long()
        ctx.save_for_backward(idx)
        ctx.in_shape = A.shape
        # a 1 × 1 window would hand back a view of A: copy it
        return Z.clone(memory_format=torch.contiguous_format) if kh * kw == 1 else Z.contiguous()

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
    """Z = mean of each kh × kw window (stride s, zero padding p counted), hand-written backward."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        A: torch.Tensor,
        k: tuple[int, int],
        s: tuple[int, int],
        p: tuple[int, int],
    ) -> torch.Tensor:
        """A: (m, C, H, W) → Z: (m, C, H_out, W_out)."""
        (kh, kw), (sh, sw), (ph, pw) = k, s, p
        A_pad = F.pad(A, (pw, pw, ph, ph)) if ph or pw else A
        # the window sum one axis at a time: R[r, x] = Σ_v A_pad[r, s·x + v]
        R = _window_sum(A_pad.unfold(3, kw, sw))
        # Z = (1 / (kh·kw)) Σ_u R[s·y + u, x] = (1 / (kh·kw)) Σ_{u,v} A_pad[s·y + u, s·x + v]
        Z = _window_sum(R.unfold(2, kh, sh)) / (kh * kw)
        ctx.in_shape = A.shape
        ctx.geometry = (k, s, p)
        return Z.contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, dZ: torch.Tensor):
        """dZ: (m, C, H_out, W_out) → dA: (m, C, H, W)."""
        m, C, H, W = ctx.in_shape
        (kh, kw), (sh, sw), (ph, pw) = ctx.geometry
        # every position of a window gets an equal share: dA_pad[s·y + u, s·x + v] += dZ / (kh·kw)
        share = dZ / (kh * kw)
        dA_pad = dZ.new_zeros(m, C, H + 2 * ph, W + 2 * pw)
        # window view of dA_pad (m, C, H_out, W_out, kh, kw): writes land in dA_pad
        win = dA_pad.unfold(2, kh, sh).unfold(3, kw, sw)
        overlapping = sh < kh or sw < kw
        # one strided slice per kernel offset (u, v)
        for u in range(kh):
            for v in range(kw):
                if overlapping:
                    win[..., u, v] += share  # overlapping windows accumulate
                else:
                    win[..., u, v] = share  # each position is in at most one window
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
