import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlnotes.functional.norm import batch_norm
from tests.compare import TOL, leaves

D = torch.float64
SHAPES = [(8, 3), (4, 3, 5), (4, 3, 5, 6)]


def _params(C: int, affine: bool):
    w = torch.rand(C, dtype=D) + 0.5 if affine else None
    b = torch.randn(C, dtype=D) if affine else None
    return w, b


def _assert_matches_twin(X, w, b, training, momentum=0.1, eps=1e-5, stats=True, requires=None):
    """Output, running statistics and every requested gradient equal F.batch_norm's."""
    C = X.shape[1]
    rm0 = torch.randn(C, dtype=D) if stats else None
    rv0 = torch.rand(C, dtype=D) + 0.5 if stats else None
    dY = torch.randn_like(X)
    results = []
    for fn in (batch_norm, F.batch_norm):
        inputs = leaves([X, w, b])
        if requires is not None:
            for t, r in zip(inputs, requires):
                if t is not None:
                    t.requires_grad_(r)
        rm = rm0.clone() if stats else None
        rv = rv0.clone() if stats else None
        Y = fn(inputs[0], rm, rv, inputs[1], inputs[2], training, momentum, eps)
        if Y.requires_grad:
            Y.backward(dY)
        results.append((Y, rm, rv, [t.grad if t is not None else None for t in inputs]))
    (Ya, rma, rva, ga), (Yb, rmb, rvb, gb) = results
    torch.testing.assert_close(Ya, Yb, **TOL)
    if stats:
        torch.testing.assert_close(rma, rmb, **TOL)
        torch.testing.assert_close(rva, rvb, **TOL)
    for a, b_ in zip(ga, gb):
        assert (a is None) == (b_ is None)
        if a is not None:
            torch.testing.assert_close(a, b_, **TOL)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_matches_torch(shape, affine, training):
    torch.manual_seed(0)
    X = torch.randn(shape, dtype=D) * 2 + 1
    w, b = _params(shape[1], affine)
    _assert_matches_twin(X, w, b, training, momentum=0.3, eps=1e-3)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_training_without_running_stats(shape):
    torch.manual_seed(1)
    X = torch.randn(shape, dtype=D)
    _assert_matches_twin(X, *_params(shape[1], True), training=True, stats=False)


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 4), (1, 3, 2, 2)], ids=str)
def test_batch_of_one(shape):
    """Evaluation mode always allows it; training needs more than one value per channel."""
    torch.manual_seed(2)
    X = torch.randn(shape, dtype=D)
    w, b = _params(shape[1], True)
    _assert_matches_twin(X, w, b, training=False)
    if shape == (1, 3):
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            batch_norm(X, None, None, w, b, training=True)
    else:
        _assert_matches_twin(X, w, b, training=True)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(
    "requires", [(True, False, False), (False, True, False), (False, False, True)]
)
def test_only_requested_grads(training, requires):
    torch.manual_seed(3)
    X = torch.randn(4, 3, 2, 2, dtype=D)
    _assert_matches_twin(X, *_params(3, True), training=training, requires=requires)


def test_non_contiguous_input():
    torch.manual_seed(4)
    X = torch.randn(4, 5, 6, 3, dtype=D).permute(0, 3, 1, 2)  # (4, 3, 5, 6), channels last
    for training in (True, False):
        _assert_matches_twin(X, *_params(3, True), training=training)


def test_large_mean_small_spread():
    """X̂ is formed from X − μ, so a large common offset costs (almost) no precision.

    Batch norm is shift invariant and X − 10⁴ is exact here, so the well-conditioned
    input X − 10⁴ gives the true values; F.batch_norm itself is ~7e-9 off on this input.
    """
    torch.manual_seed(5)
    small = torch.randn(16, 3, 4, 4, dtype=D) * 1e-2
    w, b = _params(3, True)
    dY = torch.randn_like(small)
    results = []
    for X in (small + 1e4, small):
        Xl, wl, bl = leaves([X, w, b])
        Y = batch_norm(Xl, None, None, wl, bl, training=True)
        Y.backward(dY)
        results.append((Y, Xl.grad, wl.grad, bl.grad))
    for a, b_ in zip(*results):
        torch.testing.assert_close(a, b_, atol=3e-9, rtol=0)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_gradcheck(shape, training):
    torch.manual_seed(6)
    C = shape[1]
    X = torch.randn(shape, dtype=D)
    w, b = _params(C, True)
    rm, rv = torch.randn(C, dtype=D), torch.rand(C, dtype=D) + 0.5

    def fn(X, w, b):
        # fresh copies: training mode updates the running statistics in place
        return batch_norm(X, rm.clone(), rv.clone(), w, b, training)

    assert torch.autograd.gradcheck(fn, tuple(leaves([X, w, b])), eps=1e-6, atol=1e-7)


def test_errors_like_torch():
    X = torch.randn(4, 3, dtype=D)
    with pytest.raises(RuntimeError, match="running_mean must be defined in evaluation mode"):
        batch_norm(X, None, torch.ones(3, dtype=D))
    with pytest.raises(RuntimeError, match="running_var must be defined in evaluation mode"):
        batch_norm(X, torch.zeros(3, dtype=D), None)
    with pytest.raises(RuntimeError, match="should contain 3 elements"):
        batch_norm(X, torch.zeros(2, dtype=D), torch.ones(2, dtype=D), training=True)


@settings(max_examples=40)
@given(
    N=st.integers(1, 4),
    C=st.integers(1, 3),
    spatial=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    affine=st.booleans(),
    training=st.booleans(),
)
def test_property_shapes(N, C, spatial, affine, training):
    shape = (N, C, *spatial)
    if training and N * torch.Size(spatial).numel() == 1:
        training = False  # torch refuses one value per channel in training mode
    torch.manual_seed(7)
    X = torch.randn(shape, dtype=D)
    _assert_matches_twin(X, *_params(C, affine), training=training)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_cuda_matches_torch(training):
    torch.manual_seed(8)
    dev = "cuda"
    X = torch.randn(16, 6, 12, 12, device=dev)
    w, b = torch.rand(6, device=dev) + 0.5, torch.randn(6, device=dev)
    dY = torch.randn_like(X)
    out = []
    for fn in (batch_norm, F.batch_norm):
        Xl, wl, bl = (t.clone().requires_grad_() for t in (X, w, b))
        rm, rv = torch.zeros(6, device=dev), torch.ones(6, device=dev)
        Y = fn(Xl, rm, rv, wl, bl, training)
        Y.backward(dY)
        out.append((Y, rm, rv, Xl.grad, wl.grad, bl.grad))
    for a, b_ in zip(*out):
        torch.testing.assert_close(a, b_, atol=1e-4, rtol=1e-4)
