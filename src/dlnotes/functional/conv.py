"""The 2-D convolution layer — notes 003, "Convolutional Neural Networks (CNN)".

The notes write the 2-D convolution of an image I with a kernel K as S = I * K; their
worked example (input a…l, kernel w x / y z, first output aw + bx + ey + fz) slides the
kernel *without* flipping it, i.e. a cross-correlation, which is what every deep-learning
library (and this module) calls a convolution. In the layer notation of notes 002 the
input activations are A (m, C, H, W), the kernels W (O, C, kh, kw), the bias b (O,), and
with stride s and zero padding p

    Z[i, o, y, x] = b[o] + Σ_c Σ_u Σ_v W[o, c, u, v] · A_pad[i, c, s·y + u, s·x + v],

so Z is (m, O, H_out, W_out) with H_out = ⌊(H + 2p − kh) / s⌋ + 1 (the same for W_out).

The backward is the notes' "the gradient of a convolution is itself a convolution":

- dA is the *full* convolution of dZ with the kernel rotated by 180° and its two channel
  axes swapped. With a stride s > 1, dZ is first spread out with s − 1 zeros between
  its entries (a "dilated" dZ); rows/columns of A that no window reached (when
  (H + 2p − kh) is not a multiple of s) get a zero gradient; the padding is cropped off.
- dW is the correlation of the padded input with dZ: a convolution in which the
  samples play the role of channels (A and dZ with their first two axes swapped) and
  dZ is read with dilation s; its output is cropped to (kh, kw).
- db is dZ summed over the samples and both spatial axes.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch.autograd.function import FunctionCtx

from dlnotes.functional._common import autocast_backward, autocast_forward, first_order, pair

CHANNELS_LAST_DA = torch.backends.cpu.get_cpu_capability() != "AVX512"
"""Whether dA's convolution runs on a channels-last copy of dZ on the CPU. At LeNet's
channel counts oneDNN's AVX2 kernels are ~3.5× faster on channels-last tensors, and its
AVX-512 kernels ~1.7× faster on the plain layout (BENCHMARKS.md)."""


class Conv2d(torch.autograd.Function):
    """Z = W * A + b (cross-correlation, stride s, zero padding p) with a hand-written backward."""

    @staticmethod
    @autocast_forward(cast="low")
    def forward(
        ctx: FunctionCtx,
        A: torch.Tensor,
        W: torch.Tensor,
        b: torch.Tensor | None,
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> torch.Tensor:
        """A: (m, C, H, W), W: (O, C, kh, kw), b: (O,) or None → Z: (m, O, H_out, W_out)."""
        # Z[i, o, y, x] = b[o] + Σ_{c,u,v} W[o, c, u, v] A_pad[i, c, s·y + u, s·x + v]
        Z = F.conv2d(A, W, b, stride, padding)
        ctx.save_for_backward(A, W)
        ctx.has_bias = b is not None
        ctx.stride = stride
        ctx.padding = padding
        return Z

    @staticmethod
    @first_order
    @autocast_backward
    def backward(ctx: FunctionCtx, dZ: torch.Tensor):
        """dZ: (m, O, H_out, W_out) → dA: (m, C, H, W), dW: (O, C, kh, kw), db: (O,)."""
        A, W = ctx.saved_tensors
        (sh, sw), (ph, pw) = ctx.stride, ctx.padding
        H, Wd = A.shape[-2:]
        kh, kw = W.shape[-2:]
        H_out, W_out = dZ.shape[-2:]
        dZ = dZ.contiguous()
        dA = dW = db = None
        # dW first: its temporaries (A and dZ with samples as channels) are freed before
        # dA is allocated, so the two never add up in memory
        if ctx.needs_input_grad[1]:
            dW = _conv2d_weight_grad(A, dZ, (kh, kw), (sh, sw), (ph, pw))
        if ctx.needs_input_grad[0]:
            dA = _conv2d_input_grad(dZ, W, (H, Wd), (sh, sw), (ph, pw), (H_out, W_out))
            dA = dA.contiguous(memory_format=_memory_format(A))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            # db[o] = Σ_{i,y,x} dZ[i, o, y, x]
            db = dZ.sum((0, 2, 3))
        return dA, dW, db, None, None


def _conv2d_weight_grad(
    A: torch.Tensor,
    dZ: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> torch.Tensor:
    """dW = correlation of the padded A with the dilated dZ, samples as channels.

    A: (m, C, H, W), dZ: (m, O, H_out, W_out) → dW: (O, C, kh, kw).
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    dtype, region = A.dtype, contextlib.nullcontext()
    if dtype == torch.bfloat16 and A.device.type == "cpu":
        # oneDNN's bfloat16 convolution on CPUs with AMX (torch 2.15: oneDNN 3.13) gets
        # sums over kernels as large as dZ wrong (tests/functional/test_conv.py): this
        # product runs in float32 there, outside autocast, rounded to bfloat16 at the end
        A, dZ, region = A.float(), dZ.float(), torch.autocast("cpu", enabled=False)
    dW_t = None
    with region:
        # dW[o, c, u, v] = Σ_{i,y,x} dZ[i, o, y, x] A_pad[i, c, s·y + u, s·x + v]
        #   (a convolution of A_pad with dZ, samples as channels, dZ dilated by s).
        # The Σ over samples i in two halves of the batch: the convolution copies its
        # transposed operands, and half-batch copies take half the memory
        for A_i, dZ_i in zip(A.chunk(2), dZ.chunk(2)):
            part = F.conv2d(A_i.transpose(0, 1), dZ_i.transpose(0, 1), None, 1, (ph, pw), (sh, sw))
            dW_t = part if dW_t is None else dW_t.add_(part)
    assert dW_t is not None
    # the last (H + 2p − kh) mod s rows/columns were never read: crop to (kh, kw)
    return dW_t[:, :, :kh, :kw].transpose(0, 1).to(dtype).contiguous()


def _conv2d_input_grad(
    dZ: torch.Tensor,
    W: torch.Tensor,
    in_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    out_size: tuple[int, int],
) -> torch.Tensor:
    """dA = full convolution of the dilated dZ with rot180(W), channels swapped.

    dZ: (m, O, H_out, W_out), W: (O, C, kh, kw) → dA: (m, C, H, W).
    """
    (H, Wd), (sh, sw), (ph, pw), (H_out, W_out) = in_size, stride, padding, out_size
    kh, kw = W.shape[-2:]
    # rows/columns of A_pad after the last window: (H + 2p − kh) mod s
    rh, rw = (H + 2 * ph - kh) % sh, (Wd + 2 * pw - kw) % sw
    if sh > 1 or sw > 1:
        # dilate dZ: s − 1 zeros between neighbouring entries, (H_out − 1)·s + 1 rows
        dZ_d = dZ.new_zeros(*dZ.shape[:2], (H_out - 1) * sh + 1, (W_out - 1) * sw + 1)
        dZ_d[:, :, ::sh, ::sw] = dZ
    else:
        dZ_d = dZ
    if dZ_d.device.type == "cpu" and CHANNELS_LAST_DA:
        # layout only (the values are the same), see CHANNELS_LAST_DA
        dZ_d = dZ_d.contiguous(memory_format=torch.channels_last)
    # a full convolution pads by k − 1; cropping p keeps the rows of A (not of A_pad),
    # the extra r rows at the bottom/right are the never-read rows (their gradient is 0).
    # A negative pad crops.
    top, left = kh - 1 - ph, kw - 1 - pw
    bottom, right = top + rh, left + rw
    # rot180(W) with C and O swapped: (C, O, kh, kw)
    W_rot = W.flip(-2, -1).transpose(0, 1).contiguous()
    if top == bottom >= 0 and left == right >= 0:
        # dA = dZ_d ⋆ rot180(W)ᵀ with symmetric zero padding k − 1 − p
        return F.conv2d(dZ_d, W_rot, None, 1, (top, left))
    # dA = pad(dZ_d, k − 1 − p, k − 1 − p + r) ⋆ rot180(W)ᵀ
    return F.conv2d(F.pad(dZ_d, (left, right, top, bottom)), W_rot)


def _memory_format(A: torch.Tensor) -> torch.memory_format:
    """The layout of A, so that dA is handed back in the same layout as the input."""
    if A.is_contiguous(memory_format=torch.channels_last) and not A.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> torch.Tensor:
    """Twin of :func:`torch.nn.functional.conv2d` (no dilation, groups = 1, numeric padding).

    Shapes: input (m, C, H, W) or unbatched (C, H, W), weight (O, C, kh, kw), bias (O,)
    → (m, O, H_out, W_out) with H_out = ⌊(H + 2p − kh) / s⌋ + 1.
    """
    s, p = pair(stride, "stride"), pair(padding, "padding")
    if input.dim() == 3:
        return Conv2d.apply(input.unsqueeze(0), weight, bias, s, p).squeeze(0)
    return Conv2d.apply(input, weight, bias, s, p)
