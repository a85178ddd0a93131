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
from torch.autograd.function import FunctionCtx

from dlnotes.functional._common import first_order, pair


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


def _first_max(win: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The maximum of every window of a window view, and the first position holding it.

    win: (..., kh, kw) → Z: (...), t*: (...) the row-major position u·kw + v of the first
    maximum, as a float of win's dtype. One pass per kernel offset, at the size of the
    output, and in place: the extra memory is three output-sized buffers. The comparison
    is written into a float buffer that holds a contiguous copy of the window's entries:
    on CPU a boolean mask plus a select (``torch.where``, ``masked_fill_``) costs several
    times as much, and so (~10×) does a comparison that reads the strided view itself
    and writes floats.
    """
    kh, kw = win.shape[-2:]
    Z = win[..., 0, 0].clone(memory_format=torch.contiguous_format)
    t_star, later = torch.zeros_like(Z), torch.empty_like(Z)
    for t in range(1, kh * kw):
        S = win[..., t // kw, t % kw]
        # 1 where S beats the maximum so far, 0 elsewhere: strictly greater, so that on
        # a tie the earlier position keeps it
        later.copy_(S).gt_(Z)
        # t* ← t there: positions only grow, so the last strictly better one is the largest
        torch.maximum(t_star, later.mul_(t), out=t_star)
        torch.maximum(Z, S, out=Z)
    return Z, t_star


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
        # Z[y, x] = max_{u,v} A_pad[s·y + u, s·x + v] and t* = u*·kw + v* of the first
        # maximum in row-major window order, over the window view (m, C, H_out, W_out, kh, kw)
        Z, t_star = _first_max(A_pad.unfold(2, kh, sh).unfold(3, kw, sw))
        H_out, W_out = Z.shape[-2:]
        # u* = ⌊t*/kw⌋ and v* = t* − u*·kw (int64 from here on, each in its own buffer)
        v_star = t_star.to(torch.int64)
        u_star = v_star.div(kw, rounding_mode="floor")
        v_star.sub_(u_star * kw)
        # (row, col) in A of each maximum: (s·y + u* − p, s·x + v* − p)
        i64 = {"dtype": torch.int64, "device": A.device}
        rows = u_star.add_((torch.arange(H_out, **i64) * sh - ph)[:, None])
        cols = v_star.add_(torch.arange(W_out, **i64) * sw - pw)
        if ph or pw:
            # a padded position wins only in a window that is −∞ throughout, where
            # PyTorch picks the window's first position inside A
            rows, cols = rows.clamp_min_(0), cols.clamp_min_(0)
        # cache: the flat index (in H·W) of every maximum — PyTorch's "indices"
        idx = rows.mul_(W).add_(cols)
        ctx.save_for_backward(idx)
        ctx.in_shape = A.shape
        return Z

    @staticmethod
    @first_order
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
    @first_order
    def backward(ctx: FunctionCtx, dZ: torch.Tensor):
        """dZ: (m, C, H_out, W_out) → dA: (m, C, H, W)."""
        m, C, H, W = ctx.in_shape
        (kh, kw), (sh, sw), (ph, pw) = ctx.geometry
        # every position of a window gets an equal share: dA_pad[s·y + u, s·x + v] += dZ / (kh·kw)
        dA_pad = dZ.new_zeros(m, C, H + 2 * ph, W + 2 * pw)
        # window view of dA_pad (m, C, H_out, W_out, kh, kw): writes land in dA_pad
        win = dA_pad.unfold(2, kh, sh).unfold(3, kw, sw)
        overlapping = sh < kh or sw < kw
        # one strided slice per kernel offset (u, v): Σ of dZ over the windows holding a
        # position, then the 1/(kh·kw) once, in place (no dZ-sized buffer)
        for u in range(kh):
            for v in range(kw):
                if overlapping:
                    win[..., u, v] += dZ  # overlapping windows accumulate
                else:
                    win[..., u, v] = dZ  # each position is in at most one window
        dA_pad.div_(kh * kw)
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
