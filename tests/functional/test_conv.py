"""conv2d: values and hand-written gradients equal to torch.nn.functional.conv2d."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import dlnotes.functional.conv as conv_module
from dlnotes.functional.conv import conv2d
from tests.compare import TOL, assert_matches_twin, gradcheck

D = torch.float64


def _assert_matches_torch(
    a_shape: tuple[int, ...],
    w_shape: tuple[int, int, int, int],
    bias: bool = True,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    seed: int = 0,
    device: str = "cpu",
) -> None:
    """Z, dA, dW, db of ours and of torch agree to 1e-9 in float64."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(a_shape, generator=g, dtype=D).to(device)
    W = torch.randn(w_shape, generator=g, dtype=D).to(device)
    b = torch.randn(w_shape[0], generator=g, dtype=D).to(device) if bias else None
    assert_matches_twin(
        partial(conv2d, stride=stride, padding=padding),
        partial(F.conv2d, stride=stride, padding=padding),
        [A, W, b],
    )


@pytest.mark.parametrize(
    ("a_shape", "w_shape", "stride", "padding"),
    [
        ((2, 3, 7, 7), (4, 3, 3, 3), 1, 0),
        ((2, 3, 7, 7), (4, 3, 3, 3), 2, 0),  # stride 2, (7 − 3) % 2 == 0
        ((2, 3, 8, 8), (4, 3, 3, 3), 2, 0),  # (8 − 3) % 2 != 0: last row/col never read
        ((2, 3, 7, 9), (4, 3, 3, 3), 1, 1),  # padding, non-square image
        ((2, 2, 6, 9), (3, 2, 2, 4), 1, 0),  # non-square kernel
        ((2, 2, 9, 8), (3, 2, 3, 2), (2, 3), (1, 0)),  # tuple stride and padding
        ((1, 1, 5, 5), (2, 1, 3, 3), 1, 1),  # batch of 1
        ((3, 2, 5, 6), (4, 2, 5, 6), 1, 0),  # kernel as large as the image → 1 × 1
        ((3, 2, 5, 6), (4, 2, 5, 6), 2, (1, 2)),  # … with stride and padding
        ((2, 2, 10, 11), (3, 2, 4, 3), (3, 2), (2, 1)),  # (H + 2p − k) % s != 0 both ways
        ((2, 1, 4, 4), (2, 1, 2, 2), 1, 3),  # padding larger than the kernel
        ((2, 1, 4, 5), (2, 1, 1, 1), 3, 2),  # 1 × 1 kernel, big stride and padding
    ],
)
@pytest.mark.parametrize("bias", [True, False])
def test_matches_torch_edge_cases(a_shape, w_shape, stride, padding, bias):
    _assert_matches_torch(a_shape, w_shape, bias, stride, padding)


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1), ((2, 1), (0, 1)), (3, 0)])
def test_gradcheck(stride, padding):
    torch.manual_seed(1)
    A, W, b = (
        torch.randn(2, 2, 6, 5, dtype=D),
        torch.randn(3, 2, 3, 2, dtype=D),
        torch.randn(3, dtype=D),
    )
    gradcheck(partial(conv2d, stride=stride, padding=padding), [A, W, b])


def test_unbatched_input():
    _assert_matches_torch((3, 6, 5), (2, 3, 3, 2), stride=(1, 2), padding=1)


def test_no_input_grad_needed():
    """The first layer of a network: A needs no gradient, dW and db still match."""
    torch.manual_seed(0)
    A = torch.randn(4, 1, 12, 12, dtype=D)
    W = torch.randn(6, 1, 5, 5, dtype=D, requires_grad=True)
    b = torch.randn(6, dtype=D, requires_grad=True)
    Z, Z_ref = conv2d(A, W, b), F.conv2d(A, W, b)
    dZ = torch.randn_like(Z)
    for g, g_ref in zip(torch.autograd.grad(Z, (W, b), dZ), torch.autograd.grad(Z_ref, (W, b), dZ)):
        torch.testing.assert_close(g, g_ref, **TOL)


def test_notes_2d_convolution_example():
    """Notes 003: the kernel [[w, x], [y, z]] slides unflipped; first output aw + bx + ey + fz."""
    I = torch.arange(1.0, 13.0, dtype=D).reshape(1, 1, 3, 4)  # a … l = 1 … 12
    K = torch.tensor([[[[2.0, 3.0], [5.0, 7.0]]]], dtype=D)  # w x / y z
    S = conv2d(I, K)
    assert S.shape == (1, 1, 2, 3)
    a, b, e, f = 1.0, 2.0, 5.0, 6.0
    assert S[0, 0, 0, 0].item() == a * 2 + b * 3 + e * 5 + f * 7


def test_float32_lenet_shapes():
    """LeNet-5's two convolutions in float32 agree with torch to float32 accuracy."""
    torch.manual_seed(0)
    for a_shape, w_shape in (((8, 1, 32, 32), (6, 1, 5, 5)), ((8, 6, 14, 14), (16, 6, 5, 5))):
        A = torch.randn(a_shape, requires_grad=True)
        W = torch.randn(w_shape, requires_grad=True)
        b = torch.randn(w_shape[0], requires_grad=True)
        Z, Z_ref = conv2d(A, W, b), F.conv2d(A, W, b)
        torch.testing.assert_close(Z, Z_ref)
        dZ = torch.randn_like(Z)
        for g, g_ref in zip(
            torch.autograd.grad(Z, (A, W, b), dZ), torch.autograd.grad(Z_ref, (A, W, b), dZ)
        ):
            torch.testing.assert_close(g, g_ref, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("channels_last", [True, False])
def test_either_layout_of_the_input_gradient(monkeypatch, channels_last):
    """dA's convolution runs on a channels-last dZ on some CPUs and not on others (the
    faster layout there): the same values either way."""
    monkeypatch.setattr(conv_module, "CHANNELS_LAST_DA", channels_last)
    _assert_matches_torch((2, 3, 8, 8), (4, 3, 3, 3), True, 2, 0)
    _assert_matches_torch((2, 6, 14, 14), (16, 6, 5, 5), True, 1, 1)


@pytest.mark.parametrize(
    ("a_shape", "w_shape", "padding"),
    [((16, 1, 28, 28), (6, 1, 5, 5), 2), ((16, 3, 32, 32), (6, 3, 5, 5), 0)],
)
def test_bfloat16_lenet_weight_gradient(a_shape, w_shape, padding):
    """LeNet's first convolution in bfloat16: dW is the float32 one to bfloat16 precision.
    (oneDNN 3.13's bfloat16 convolution on CPUs with AMX sums these half-batch
    correlations wrongly, 90-120 % off; the weight gradient is taken in float32 there.)"""
    torch.manual_seed(0)
    A, W = torch.randn(a_shape), torch.randn(w_shape, requires_grad=True)
    dZ = torch.randn_like(F.conv2d(A, W, padding=padding))
    (exact,) = torch.autograd.grad(F.conv2d(A, W, padding=padding), W, dZ)
    W16 = W.detach().bfloat16().requires_grad_()
    (dW,) = torch.autograd.grad(conv2d(A.bfloat16(), W16, padding=padding), W16, dZ.bfloat16())
    assert dW.dtype == torch.bfloat16
    assert (dW.float() - exact).abs().max() <= 0.02 * exact.abs().max()


def test_channels_last_input_keeps_its_layout():
    torch.manual_seed(0)
    A = torch.randn(2, 3, 6, 6, dtype=D, requires_grad=True)
    W = torch.randn(4, 3, 3, 3, dtype=D)
    A_cl = A.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    (dA,) = torch.autograd.grad(conv2d(A_cl, W, padding=1).sum(), A_cl)
    (dA_ref,) = torch.autograd.grad(F.conv2d(A, W, padding=1).sum(), A)
    torch.testing.assert_close(dA, dA_ref, **TOL)
    assert dA.is_contiguous(memory_format=torch.channels_last)


@st.composite
def conv_cases(draw):
    m, C, O = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    # any image at least as large as the kernel once padded
    H = draw(st.integers(max(1, kh - 2 * ph), 9))
    W = draw(st.integers(max(1, kw - 2 * pw), 9))
    return (m, C, H, W), (O, C, kh, kw), (sh, sw), (ph, pw), draw(st.booleans())


@settings(max_examples=60, deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_property_matches_torch(case, seed):
    a_shape, w_shape, stride, padding, bias = case
    _assert_matches_torch(a_shape, w_shape, bias, stride, padding, seed=seed)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_matches_torch():
    _assert_matches_torch((2, 3, 10, 9), (4, 3, 3, 2), True, (2, 1), (1, 0), device="cuda")
    _assert_matches_torch((2, 3, 8, 8), (4, 3, 3, 3), False, 1, 1, device="cuda")
