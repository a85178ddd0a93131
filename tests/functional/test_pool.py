"""max_pool2d / avg_pool2d: values and hand-written gradients equal to torch's pooling."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlnotes.functional.pool import avg_pool2d, max_pool2d
from tests.compare import assert_matches_twin, gradcheck

D = torch.float64
OPS = [(max_pool2d, F.max_pool2d), (avg_pool2d, F.avg_pool2d)]
OP_IDS = ["max", "avg"]

# notes 003, "Max pooling example": 2 × 2 max pool, stride 2
NOTES_X = [[12.0, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4], [112, 100, 25, 12]]
NOTES_Z = [[20.0, 30], [112, 37]]


def _assert_pool_matches_torch(ours, twin, A, kernel_size, stride=None, padding=0) -> None:
    assert_matches_twin(
        partial(ours, kernel_size=kernel_size, stride=stride, padding=padding),
        partial(twin, kernel_size=kernel_size, stride=stride, padding=padding),
        [A],
    )


@pytest.mark.parametrize(("ours", "twin"), OPS, ids=OP_IDS)
@pytest.mark.parametrize(
    ("shape", "kernel_size", "stride", "padding"),
    [
        ((2, 3, 8, 8), 2, None, 0),  # stride defaults to the kernel
        ((2, 3, 8, 8), 2, 2, 0),
        ((2, 3, 7, 7), 3, 2, 0),  # overlapping windows, kernel 3 stride 2
        ((2, 3, 7, 6), 3, 1, 0),  # overlapping windows, kernel 3 stride 1
        ((2, 3, 7, 7), 3, 2, 1),  # padding (−∞ for max, counted zeros for avg)
        ((2, 2, 6, 9), (2, 3), (1, 2), (1, 1)),  # non-square image and kernel, tuples
        ((1, 1, 5, 5), 2, 2, 0),  # batch of 1, (5 − 2) % 2 != 0: last row/col unused
        ((2, 2, 9, 10), (3, 4), (2, 3), (1, 2)),  # (H + 2p − k) % s != 0 both ways
        ((2, 2, 5, 6), (5, 6), None, 0),  # kernel as large as the image → 1 × 1
        ((2, 2, 5, 6), (5, 6), 1, (2, 3)),  # … with the largest padding allowed
        ((2, 2, 4, 5), 1, 2, 0),  # 1 × 1 kernel with stride: plain subsampling
        ((2, 2, 6, 6), 2, 3, 0),  # stride larger than the kernel: gaps get 0
    ],
)
def test_matches_torch_edge_cases(ours, twin, shape, kernel_size, stride, padding):
    torch.manual_seed(0)
    _assert_pool_matches_torch(
        ours, twin, torch.randn(shape, dtype=D), kernel_size, stride, padding
    )


@pytest.mark.parametrize(("ours", "twin"), OPS, ids=OP_IDS)
@pytest.mark.parametrize(("kernel_size", "stride", "padding"), [(2, None, 0), (3, 2, 1), (3, 1, 0)])
def test_gradcheck(ours, twin, kernel_size, stride, padding):
    torch.manual_seed(2)
    A = torch.randn(2, 2, 6, 5, dtype=D)
    gradcheck(partial(ours, kernel_size=kernel_size, stride=stride, padding=padding), [A])


def test_notes_max_pool_example_values_and_gradient_positions():
    """Each dZ entry goes to the one position of its window that held the maximum."""
    X = torch.tensor(NOTES_X, dtype=D).reshape(1, 1, 4, 4).requires_grad_()
    Z = max_pool2d(X, 2)
    torch.testing.assert_close(Z, torch.tensor([[NOTES_Z]], dtype=D))
    Z.backward(torch.tensor([[[[1.0, 2], [3, 4]]]], dtype=D))
    expected = torch.zeros(4, 4, dtype=D)
    expected[0, 1], expected[0, 2] = 1, 2  # 20 and 30
    expected[3, 0], expected[2, 2] = 3, 4  # 112 and 37
    torch.testing.assert_close(X.grad[0, 0], expected)
    _assert_pool_matches_torch(max_pool2d, F.max_pool2d, X.detach(), 2)


@pytest.mark.parametrize(
    ("window", "winner"),
    [
        ([[5.0, 5.0], [5.0, 1.0]], (0, 0)),
        ([[1.0, 7.0], [7.0, 7.0]], (0, 1)),
        ([[0.0, 2.0], [3.0, 3.0]], (1, 0)),
    ],
)
def test_tied_maximum_gradient_goes_to_the_first_one(window, winner):
    X = torch.tensor(window, dtype=D).reshape(1, 1, 2, 2).requires_grad_()
    max_pool2d(X, 2).backward(torch.full((1, 1, 1, 1), 3.0, dtype=D))
    expected = torch.zeros(2, 2, dtype=D)
    expected[winner] = 3.0
    torch.testing.assert_close(X.grad[0, 0], expected)
    _assert_pool_matches_torch(max_pool2d, F.max_pool2d, X.detach(), 2)


@pytest.mark.parametrize(("kernel_size", "stride", "padding"), [(3, 1, 0), (3, 2, 1), (2, 1, 1)])
def test_ties_everywhere_match_torch(kernel_size, stride, padding):
    """A constant image (every window tied) and a few-valued one, overlapping windows."""
    _assert_pool_matches_torch(
        max_pool2d, F.max_pool2d, torch.ones(2, 2, 6, 7, dtype=D), kernel_size, stride, padding
    )
    A = torch.randint(0, 3, (2, 2, 6, 7), generator=torch.Generator().manual_seed(0)).to(D)
    _assert_pool_matches_torch(max_pool2d, F.max_pool2d, A, kernel_size, stride, padding)


def test_overlapping_windows_accumulate():
    """One peak that is the maximum of all nine 3 × 3 windows (stride 1) collects all of dZ."""
    X = torch.zeros(1, 1, 5, 5, dtype=D)
    X[0, 0, 2, 2] = 100.0
    X.requires_grad_()
    Z = max_pool2d(X, 3, 1)
    torch.testing.assert_close(Z, torch.full((1, 1, 3, 3), 100.0, dtype=D))
    dZ = torch.arange(1.0, 10.0, dtype=D).reshape(1, 1, 3, 3)
    Z.backward(dZ)
    assert X.grad[0, 0, 2, 2].item() == dZ.sum().item()
    assert torch.count_nonzero(X.grad).item() == 1


def test_avg_pool_spreads_dZ_and_counts_the_padding():
    X = torch.ones(1, 1, 2, 2, dtype=D, requires_grad=True)
    Z = avg_pool2d(X, 2, 1, 1)  # nine windows, each holding 1 to 4 ones out of 4
    torch.testing.assert_close(Z[0, 0, 0, 0], torch.tensor(0.25, dtype=D))
    torch.testing.assert_close(Z[0, 0, 1, 1], torch.tensor(1.0, dtype=D))
    Z.backward(torch.ones_like(Z))
    # each input position lies in four windows, each giving it 1/4
    torch.testing.assert_close(X.grad, torch.ones_like(X))


@pytest.mark.parametrize(("kernel_size", "stride", "padding"), [(3, 1, 1), (2, 2, 1), (3, 2, 1)])
def test_max_pool_windows_of_only_minus_infinity(kernel_size, stride, padding):
    """Real −∞ entries next to the −∞ padding: the gradient still lands where PyTorch puts it."""
    A = torch.randn(1, 2, 4, 5, dtype=D)
    A[0, 0] = float("-inf")
    A[0, 1, :2] = float("-inf")
    _assert_pool_matches_torch(max_pool2d, F.max_pool2d, A, kernel_size, stride, padding)


@pytest.mark.parametrize(("ours", "twin"), OPS, ids=OP_IDS)
def test_unbatched_input(ours, twin):
    torch.manual_seed(0)
    _assert_pool_matches_torch(ours, twin, torch.randn(3, 7, 6, dtype=D), 3, 2, 1)


@pytest.mark.parametrize(("ours", "twin"), OPS, ids=OP_IDS)
@pytest.mark.parametrize(
    ("shape", "kernel_size", "padding"), [((1, 1, 6, 6), 2, 2), ((1, 1, 6, 6), (3, 2), (1, 2))]
)
def test_padding_over_half_the_kernel_is_rejected_like_torch(
    ours, twin, shape, kernel_size, padding
):
    A = torch.randn(shape)
    with pytest.raises(RuntimeError):
        twin(A, kernel_size, 1, padding)
    with pytest.raises(ValueError, match="at most half"):
        ours(A, kernel_size, 1, padding)


@pytest.mark.parametrize(("ours", "twin"), OPS, ids=OP_IDS)
def test_gradient_of_a_sum(ours, twin):
    """Z.sum().backward() hands the op an expanded (stride-0) dZ."""
    A = torch.randn(2, 3, 7, 6, dtype=D, requires_grad=True)
    A_ref = A.detach().clone().requires_grad_()
    ours(A, 3, 2, 1).sum().backward()
    twin(A_ref, 3, 2, 1).sum().backward()
    torch.testing.assert_close(A.grad, A_ref.grad, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize(("ours", "twin"), OPS, ids=OP_IDS)
def test_float32_lenet_shapes(ours, twin):
    torch.manual_seed(0)
    for shape in ((8, 6, 28, 28), (8, 16, 10, 10)):
        A = torch.randn(shape, requires_grad=True)
        A_ref = A.detach().clone().requires_grad_()
        Z, Z_ref = ours(A, 2, 2), twin(A_ref, 2, 2)
        torch.testing.assert_close(Z, Z_ref)
        dZ = torch.randn_like(Z)
        Z.backward(dZ)
        Z_ref.backward(dZ)
        torch.testing.assert_close(A.grad, A_ref.grad)


@st.composite
def pool_cases(draw):
    m, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    H = draw(st.integers(max(1, kh - 2 * ph), 9))
    W = draw(st.integers(max(1, kw - 2 * pw), 9))
    ties = draw(st.booleans())  # few distinct values: many windows with a tied maximum
    return (m, C, H, W), (kh, kw), stride, (ph, pw), ties


@pytest.mark.parametrize(("ours", "twin"), OPS, ids=OP_IDS)
@settings(max_examples=60, deadline=None)
@given(case=pool_cases(), seed=st.integers(0, 2**16))
def test_property_matches_torch(ours, twin, case, seed):
    shape, kernel_size, stride, padding, ties = case
    g = torch.Generator().manual_seed(seed)
    if ties:
        A = torch.randint(-2, 3, shape, generator=g).to(D)
    else:
        A = torch.randn(shape, generator=g, dtype=D)
    _assert_pool_matches_torch(ours, twin, A, kernel_size, stride, padding)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize(("ours", "twin"), OPS, ids=OP_IDS)
def test_cuda_matches_torch(ours, twin):
    g = torch.Generator().manual_seed(0)
    A = torch.randn(2, 3, 9, 8, generator=g, dtype=D).cuda()
    _assert_pool_matches_torch(ours, twin, A, 3, 2, 1)
    _assert_pool_matches_torch(ours, twin, A, (2, 3), None, 0)
    ties = torch.randint(0, 3, (2, 3, 9, 8), generator=g).to(D).cuda()
    _assert_pool_matches_torch(ours, twin, ties, 3, 1, 1)


@pytest.mark.parametrize(("kernel_size", "stride", "padding"), [(3, 1, 1), (2, 2, 1), (2, 1, 0)])
def test_max_pool_with_infinite_entries_matches_torch(kernel_size, stride, padding):
    """Ties between infinities (+∞ = +∞, and −∞ entries beside the −∞ padding) keep the
    first position, as PyTorch does."""
    inf = float("inf")
    A = torch.tensor(
        [[inf, inf, 1.0, -inf], [-inf, 2.0, inf, -inf], [-inf, -inf, 0.5, inf]], dtype=D
    )
    A = A.reshape(1, 1, 3, 4)
    _assert_pool_matches_torch(max_pool2d, F.max_pool2d, A, kernel_size, stride, padding)
