import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from dlnotes.functional.dropout import dropout
from tests.compare import TOL, leaves

D = torch.float64


def _seeded(fn, p, seed=0, **kwargs):
    """fn(X, p) under a fixed seed: the same mask on every call."""

    def run(X):
        torch.manual_seed(seed)
        return fn(X, p, **kwargs)

    return run


def _assert_matches_twin(X, p, seed=0):
    """Same value, same gradient and the same random stream afterwards as F.dropout."""
    dA = torch.randn_like(X)
    results = []
    for fn in (dropout, F.dropout):
        (Xl,) = leaves([X])
        A = _seeded(fn, p, seed)(Xl)
        after = torch.rand(3, dtype=D)  # the generator has advanced by the same draws
        A.backward(dA)
        results.append((A, Xl.grad, after))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9], ids=str)
@pytest.mark.parametrize("shape", [(7,), (16, 9), (4, 3, 5, 5)], ids=str)
def test_matches_torch_under_same_seed(p, shape):
    torch.manual_seed(1)
    _assert_matches_twin(torch.randn(shape, dtype=D), p, seed=11)


@pytest.mark.parametrize("p", [0.0, 1.0, 0.5], ids=str)
def test_edge_probabilities_and_eval_mode_match_torch(p):
    torch.manual_seed(2)
    X = torch.randn(6, 5, dtype=D)
    _assert_matches_twin(X, p)
    (Xa,), (Xb,) = leaves([X]), leaves([X])
    A, B = dropout(Xa, p, training=False), F.dropout(Xb, p, training=False)
    torch.testing.assert_close(A, B, **TOL)
    A.sum().backward()
    B.sum().backward()
    torch.testing.assert_close(Xa.grad, Xb.grad, **TOL)


def test_identity_cases_return_input_and_p1_gives_zeros():
    X = torch.randn(4, 3, dtype=D, requires_grad=True)
    assert dropout(X, 0.0) is X
    assert dropout(X, 0.7, training=False) is X
    A = dropout(X, 1.0)
    assert torch.equal(A, torch.zeros_like(X))
    A.sum().backward()
    assert torch.equal(X.grad, torch.zeros_like(X))


def test_mask_is_inverted_dropout():
    """Kept units are X / (1 − p), about 1 − p of them are kept, dX = dA · M / (1 − p)."""
    torch.manual_seed(3)
    p = 0.3
    X = torch.rand(200, 100, dtype=D) + 1  # no zeros, so the mask is A != 0
    (Xl,) = leaves([X])
    A = dropout(Xl, p)
    M = A != 0
    torch.testing.assert_close(A[M], X[M] / (1 - p), **TOL)
    assert abs(M.double().mean().item() - (1 - p)) < 0.02
    dA = torch.randn_like(X)
    A.backward(dA)
    torch.testing.assert_close(Xl.grad, dA * M / (1 - p), **TOL)


@pytest.mark.parametrize("p", [0.2, 0.5, 1.0], ids=str)
def test_inplace_matches_torch(p):
    torch.manual_seed(4)
    X = torch.randn(5, 8, dtype=D)
    dA = torch.randn_like(X)
    results = []
    for fn in (dropout, F.dropout):
        (Xl,) = leaves([X])
        Z = Xl * 1  # a non-leaf that may be overwritten
        torch.manual_seed(5)
        A = fn(Z, p, True, True)
        assert A is Z
        A.backward(dA)
        results.append((A, Xl.grad))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_invalid_probability(p):
    X = torch.randn(3)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        dropout(X, p)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        F.dropout(X, p)


@pytest.mark.parametrize("p", [0.25, 0.6], ids=str)
def test_gradcheck(p):
    torch.manual_seed(6)
    X = torch.randn(5, 4, dtype=D)
    # reseeding inside the function keeps the mask fixed across gradcheck's evaluations
    assert torch.autograd.gradcheck(
        _seeded(dropout, p, seed=7), tuple(leaves([X])), eps=1e-6, atol=1e-7
    )


@given(
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=3),
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_property_matches_torch(shape, p, seed):
    torch.manual_seed(seed)
    _assert_matches_twin(torch.randn(shape, dtype=D), p, seed=seed)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_inverted_dropout():
    """CUDA draws its mask with another generator than F.dropout's fused kernel, so check
    the defining properties instead of equality."""
    torch.manual_seed(8)
    p = 0.4
    X = torch.rand(256, 256, device="cuda") + 1
    Xl = X.clone().requires_grad_()
    A = dropout(Xl, p)
    M = A != 0
    torch.testing.assert_close(A[M], X[M] / (1 - p))
    assert abs(M.float().mean().item() - (1 - p)) < 0.01
    dA = torch.randn_like(X)
    A.backward(dA)
    torch.testing.assert_close(Xl.grad, dA * M / (1 - p))
    torch.manual_seed(9)
    first = dropout(X, p)
    torch.manual_seed(9)
    assert torch.equal(first, dropout(X, p))  # the seed fixes the mask on CUDA too
