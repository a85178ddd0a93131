"""The worked examples of the notes, each checked against the code.

Where a printed number does not follow from its own formula the test asserts what is
mathematically right and docs/errata.md records the slip.
"""

import math

import pytest
import torch

from dlnotes import functional as F
from dlnotes import information as info

D = torch.float64
LOGITS = torch.tensor([3.2, 1.3, 0.2, 0.8], dtype=D)


def test_softmax_of_notes_001_example():
    """Notes 001: exp(3.2) = 24.5325 … and S(3.2) = 0.775."""
    exps = torch.exp(LOGITS)
    torch.testing.assert_close(
        exps, torch.tensor([24.5325, 3.6693, 1.2214, 2.2255], dtype=D), atol=5e-5, rtol=0
    )
    S = F.softmax(LOGITS, dim=0)
    torch.testing.assert_close(S, exps / exps.sum())
    assert round(float(S[0]), 3) == 0.775
    assert round(float(S[2]), 3) == 0.039
    assert round(float(S[3]), 3) == 0.070


def test_softmax_second_entry_is_0_116_not_0_126():
    """Erratum: the notes print 0.126 for S(1.3); 3.6693 / 31.6487 = 0.116 (and the
    printed four values would sum to 1.010)."""
    S = F.softmax(LOGITS, dim=0)
    assert round(float(S[1]), 3) == 0.116
    assert abs(0.775 + 0.126 + 0.039 + 0.070 - 1) > 5e-3  # the printed vector is no distribution
    assert abs(0.775 + 0.116 + 0.039 + 0.070 - 1) < 1e-9


def test_cross_entropy_in_bits_of_softmax_example():
    """−log2(0.775) = 0.3677 and −log2(0.936) = 0.095 bits."""
    S = F.softmax(LOGITS, dim=0)
    onehot = torch.tensor([1.0, 0, 0, 0], dtype=D)
    assert float(info.cross_entropy(onehot, S, base=2)) == pytest.approx(0.3677, abs=5e-4)
    # the same number through the loss op: cross_entropy(logits, class 0) in nats / ln 2
    ce = F.cross_entropy(LOGITS.unsqueeze(0), torch.tensor([0]))
    assert float(ce) / math.log(2) == pytest.approx(0.3677, abs=5e-4)
    assert float(info.cross_entropy([1.0, 0, 0, 0], [0.936, 0.03, 0.02, 0.014], base=2)) == (
        pytest.approx(0.095, abs=5e-4)
    )


def test_minus_ln_0_3():
    """Notes 001: the raccoon example, −log(0.3) = 1.20 (printed 1.203; it is 1.2040)."""
    true = [0, 0, 0, 0, 1.0, 0, 0]
    pred = [0.05, 0.02, 0.45, 0.10, 0.30, 0.01, 0.02]
    h = float(info.cross_entropy(true, pred))
    assert h == pytest.approx(1.20, abs=5e-3)
    assert round(h, 3) == 1.204


def test_kl_divergence_notes_003_in_bits():
    P, Q = [0.10, 0.40, 0.50], [0.80, 0.15, 0.05]
    assert float(info.kl_divergence(P, Q, base=2)) == pytest.approx(1.927, abs=5e-4)
    assert float(info.kl_divergence(Q, P, base=2)) == pytest.approx(2.022, abs=5e-4)
    # "There is more divergence in this second case": KL is asymmetric
    assert info.kl_divergence(Q, P) > info.kl_divergence(P, Q)


def test_cross_entropy_is_entropy_plus_kl():
    """Notes 001/000: H(P, Q) = H(P) + D_KL(P‖Q), in any base."""
    g = torch.Generator().manual_seed(0)
    for base in (None, 2, 10):
        P = torch.softmax(torch.randn(5, 6, generator=g, dtype=D), -1)
        Q = torch.softmax(torch.randn(5, 6, generator=g, dtype=D), -1)
        torch.testing.assert_close(
            info.cross_entropy(P, Q, base), info.entropy(P, base) + info.kl_divergence(P, Q, base)
        )
        assert torch.all(info.kl_divergence(P, Q, base) >= 0)
        torch.testing.assert_close(info.kl_divergence(P, P, base), torch.zeros(5, dtype=D))


def test_kl_from_ratios_notes_001():
    """Notes 001 builds KL from ratios: the plain average of (1, 1/4, 4) is 1.75, while
    log treats 4 and 1/4 as opposite influences of equal size."""
    ratios = torch.tensor([1.0, 0.25, 4.0], dtype=D)
    assert float(ratios.mean()) == 1.75
    logs = torch.log(ratios)
    assert float(logs[1] + logs[2]) == pytest.approx(0.0)


def test_entropy_of_certain_and_uniform_distributions():
    assert float(info.entropy([0.0, 1.0, 0.0])) == 0.0
    assert float(info.entropy([0.25] * 4, base=2)) == pytest.approx(2.0)


def test_max_pool_notes_003_example():
    from dlnotes.functional import max_pool2d

    X = torch.tensor(
        [[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4], [112, 100, 25, 12]], dtype=D
    ).reshape(1, 1, 4, 4)
    torch.testing.assert_close(max_pool2d(X, 2), torch.tensor([[[[20.0, 30], [112, 37]]]], dtype=D))


def test_sigmoid_and_tanh_derivatives():
    """Notes 002: σ' = σ(1 − σ), tanh' = 1 − tanh²."""
    z = torch.linspace(-6, 6, 41, dtype=D, requires_grad=True)
    F.sigmoid(z).sum().backward()
    s = torch.sigmoid(z.detach())
    torch.testing.assert_close(z.grad, s * (1 - s))
    z.grad = None
    F.tanh(z).sum().backward()
    torch.testing.assert_close(z.grad, 1 - torch.tanh(z.detach()) ** 2)
    # and σ'(0) = 1/4, σ(0) = 0.5 ("Z is 0 → σ(z) = 0.5")
    assert float(F.sigmoid(torch.zeros(1, dtype=D))) == 0.5


def test_logistic_regression_dz_is_a_minus_y():
    """Notes 002: dL/dz = a − y for one sample, and dW = x (a − y), db = a − y."""
    x = torch.tensor([[0.5, -1.5]], dtype=D)
    W = torch.tensor([[0.3, 0.2]], dtype=D, requires_grad=True)
    b = torch.tensor([0.1], dtype=D, requires_grad=True)
    y = torch.tensor([1.0], dtype=D)
    z = F.linear(x, W, b).squeeze(1)
    F.binary_cross_entropy_with_logits(z, y).backward()
    a = torch.sigmoid(z.detach())
    torch.testing.assert_close(W.grad, (a - y) * x)
    torch.testing.assert_close(b.grad, a - y)


def test_identity_activation_collapses_to_one_linear_map():
    """Notes 002: with g(z) = z, W2 (W1 x + b1) + b2 = W' x + b' with W' = W2 W1,
    b' = W2 b1 + b2 — no better than a single layer."""
    from dlnotes.models import DeepMLP

    torch.manual_seed(0)
    net = DeepMLP(3, hidden=[5], out_features=2, activation="identity", loss="ce").double()
    W1, b1 = net.body[0].weight, net.body[0].bias
    W2, b2 = net.head.weight, net.head.bias
    W_, b_ = W2 @ W1, W2 @ b1 + b2
    x = torch.randn(10, 3, dtype=D)
    torch.testing.assert_close(net(x), x @ W_.T + b_)


@pytest.mark.parametrize("scheme", ["zeros", "constant"])
def test_symmetric_initialization_never_breaks_symmetry(scheme):
    """Notes 002: with identical weights every hidden unit computes the same function and
    receives the same gradient, so after any number of steps they are still identical."""
    from dlnotes import init
    from dlnotes.models import ShallowMLP

    torch.manual_seed(0)
    net = init.apply(ShallowMLP(2, hidden=4, activation="tanh").double(), scheme, value=0.5)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    X = torch.randn(32, 2, dtype=D)
    Y = (X[:, 0] * X[:, 1] > 0).to(D)
    for _ in range(20):
        opt.zero_grad()
        net.loss(net(X), Y).backward()
        opt.step()
    W1 = net.body[0].weight
    assert torch.allclose(W1, W1[0].expand_as(W1))  # every row (hidden unit) identical
    A1 = net.features(X)[0]
    assert torch.allclose(A1, A1[:, :1].expand_as(A1))
    # a random initialization breaks it
    init.apply(net, "he", seed=1)
    assert not torch.allclose(net.body[0].weight[0], net.body[0].weight[1])
