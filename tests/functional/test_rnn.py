import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlnotes.functional.rnn import elman_rnn
from tests.compare import TOL, leaves

D = torch.float64


def _twin(N, T, H_in, H, nonlinearity="tanh", bias=True, scale=1.0, device="cpu", dtype=D):
    """A torch.nn.RNN(batch_first=True) with random weights, and its parameters."""
    rnn = torch.nn.RNN(H_in, H, nonlinearity=nonlinearity, bias=bias, batch_first=True)
    rnn = rnn.to(device=device, dtype=dtype)
    with torch.no_grad():
        for P in rnn.parameters():
            P.mul_(scale)
    return rnn


def _assert_matches_twin(
    N, T, H_in, H, nonlinearity="tanh", bias=True, hx=True, scale=1.0, use=("out", "h_n")
):
    """output, h_n and the gradients of X, h0 and every parameter equal nn.RNN's."""
    rnn = _twin(N, T, H_in, H, nonlinearity, bias, scale)
    X = torch.randn(N, T, H_in, dtype=D)
    h0 = torch.randn(N, H, dtype=D) if hx else None
    d_out, d_hn = torch.randn(N, T, H, dtype=D), torch.randn(N, H, dtype=D)

    def loss(out, h_n):
        terms = []
        if "out" in use:
            terms.append((out * d_out).sum())
        if "h_n" in use:
            terms.append((h_n * d_hn).sum())
        return sum(terms)

    Xa, h0a = leaves([X, h0])
    params = leaves([rnn.weight_ih_l0, rnn.weight_hh_l0])
    params += leaves([rnn.bias_ih_l0, rnn.bias_hh_l0]) if bias else [None, None]
    out_a, hn_a = elman_rnn(Xa, h0a, *params, nonlinearity=nonlinearity)
    loss(out_a, hn_a).backward()

    Xb, h0b = leaves([X, h0])
    out_b, hn_b = rnn(Xb, None if h0b is None else h0b.unsqueeze(0))
    loss(out_b, hn_b.squeeze(0)).backward()

    torch.testing.assert_close(out_a, out_b, **TOL)
    torch.testing.assert_close(hn_a, hn_b.squeeze(0), **TOL)
    torch.testing.assert_close(Xa.grad, Xb.grad, **TOL)
    if hx:
        torch.testing.assert_close(h0a.grad, h0b.grad, **TOL)
    for P_a, P_b in zip([p for p in params if p is not None], rnn.parameters()):
        torch.testing.assert_close(P_a.grad, P_b.grad, **TOL)
    return out_a.detach()


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("hx", [True, False], ids=["hx", "no_hx"])
@pytest.mark.parametrize("N, T", [(4, 6), (3, 1), (1, 5), (1, 1)], ids=str)
def test_matches_nn_rnn(nonlinearity, bias, hx, N, T):
    torch.manual_seed(0)
    _assert_matches_twin(N, T, 3, 5, nonlinearity, bias, hx)


@pytest.mark.parametrize("use", [("out",), ("h_n",)], ids=str)
def test_one_output_used(use):
    """Only the outputs of every step, or only the last state (one output at the end)."""
    torch.manual_seed(1)
    _assert_matches_twin(3, 4, 2, 5, use=use)


def test_saturated_tanh():
    """Large weights push |a(t)| far past 1: h(t) = ±1 and tanh′ underflows to 0."""
    torch.manual_seed(2)
    out = _assert_matches_twin(4, 6, 3, 5, scale=100.0)
    assert (out.abs() == 1).float().mean() > 0.5


def test_output_layout_is_that_of_nn_rnn():
    torch.manual_seed(3)
    rnn = _twin(2, 3, 4, 5)
    X = torch.randn(2, 3, 4, dtype=D)
    out, h_n = elman_rnn(X, None, *rnn.parameters())
    ref, _ = rnn(X)
    assert out.shape == ref.shape and out.stride() == ref.stride()
    assert not out._is_view() and h_n.shape == (2, 5)


def test_only_requested_grads():
    torch.manual_seed(4)
    rnn = _twin(2, 3, 4, 5)
    U, W, b_ih, b_hh = (P.detach().clone() for P in rnn.parameters())
    W.requires_grad_()
    X = torch.randn(2, 3, 4, dtype=D)
    out, _ = elman_rnn(X, torch.randn(2, 5, dtype=D), U, W, b_ih, b_hh)
    out.sum().backward()
    assert W.grad is not None and U.grad is None and X.grad is None


def test_two_biases_get_separate_grads():
    torch.manual_seed(5)
    params = leaves(list(_twin(2, 3, 4, 5).parameters()))
    X = torch.randn(2, 3, 4, dtype=D)
    elman_rnn(X, None, *params)[0].sum().backward()
    b_ih, b_hh = params[2:]
    torch.testing.assert_close(b_ih.grad, b_hh.grad, **TOL)
    assert b_ih.grad.data_ptr() != b_hh.grad.data_ptr()


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_gradcheck(nonlinearity):
    torch.manual_seed(6)
    params = list(_twin(2, 4, 3, 4, nonlinearity).parameters())
    X, h0 = torch.randn(2, 4, 3, dtype=D), torch.randn(2, 4, dtype=D)

    def fn(X, h0, U, W, b_ih, b_hh):
        return elman_rnn(X, h0, U, W, b_ih, b_hh, nonlinearity)

    assert torch.autograd.gradcheck(fn, tuple(leaves([X, h0, *params])), eps=1e-6, atol=1e-7)


def test_errors():
    X = torch.randn(2, 3, 4)
    U, W = torch.randn(5, 4), torch.randn(5, 5)
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        elman_rnn(X, None, U, W, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"hx must be \(N, H\)"):
        elman_rnn(X, torch.randn(1, 2, 5), U, W)
    with pytest.raises(ValueError, match="weight_ih"):
        elman_rnn(X, None, torch.randn(5, 3), W)


@settings(max_examples=25)
@given(
    N=st.integers(1, 4),
    T=st.integers(1, 5),
    H_in=st.integers(1, 4),
    H=st.integers(1, 5),
    nonlinearity=st.sampled_from(["tanh", "relu"]),
    bias=st.booleans(),
    hx=st.booleans(),
)
def test_property_shapes(N, T, H_in, H, nonlinearity, bias, hx):
    torch.manual_seed(7)
    _assert_matches_twin(N, T, H_in, H, nonlinearity, bias, hx)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_cuda_matches_nn_rnn(nonlinearity):
    torch.manual_seed(8)
    rnn = _twin(8, 7, 6, 16, nonlinearity, device="cuda", dtype=torch.float32)
    X = torch.randn(8, 7, 6, device="cuda")
    h0 = torch.randn(8, 16, device="cuda")
    Xa, h0a = (t.clone().requires_grad_() for t in (X, h0))
    params = [P.detach().clone().requires_grad_() for P in rnn.parameters()]
    out_a, hn_a = elman_rnn(Xa, h0a, *params, nonlinearity=nonlinearity)
    (out_a.square().sum() + hn_a.sum()).backward()
    Xb, h0b = (t.clone().requires_grad_() for t in (X, h0))
    out_b, hn_b = rnn(Xb, h0b.unsqueeze(0))
    (out_b.square().sum() + hn_b.sum()).backward()
    tol = {"atol": 1e-4, "rtol": 1e-4}
    torch.testing.assert_close(out_a, out_b, **tol)
    torch.testing.assert_close(hn_a, hn_b.squeeze(0), **tol)
    torch.testing.assert_close(Xa.grad, Xb.grad, **tol)
    torch.testing.assert_close(h0a.grad, h0b.grad, **tol)
    for P_a, P_b in zip(params, rnn.parameters()):
        torch.testing.assert_close(P_a.grad, P_b.grad, **tol)
