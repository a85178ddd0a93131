"""One test per slip of the notes listed in docs/errata.md: the test asserts what is
mathematically right (the printed version fails it)."""

import torch

from dlnotes import functional as F
from dlnotes.models import LogisticRegression, ShallowMLP

D = torch.float64


def test_neuron_sums_each_input_with_its_own_weight():
    """001: H = X1·W1 + X2·W2 + X3·W2 + B should read … + X3·W3 + B."""
    X = torch.tensor([[1.0, 2.0, 3.0]], dtype=D)
    W = torch.tensor([[0.1, 0.2, 0.3]], dtype=D)
    B = torch.tensor([0.5], dtype=D)
    H = F.linear(X, W, B)
    assert float(H) == 1 * 0.1 + 2 * 0.2 + 3 * 0.3 + 0.5  # X3·W3
    assert float(H) != 1 * 0.1 + 2 * 0.2 + 3 * 0.2 + 0.5  # the printed X3·W2


def test_mse_averages_n_terms():
    """001: Loss = 1/n Σ_{i=0}^{n} (…)² has n + 1 terms; the sum runs over i = 1 … n."""
    Y = torch.tensor([1.0, 2.0, 3.0], dtype=D)
    A = torch.tensor([1.5, 2.0, 2.0], dtype=D)
    assert float(F.mse_loss(A, Y)) == float(((Y - A) ** 2).sum() / 3)


def test_tanh_is_a_shifted_and_scaled_sigmoid():
    """002: tanh "can be seen as a shifted version of Sigmoid" — it is shifted *and*
    scaled: tanh(x) = 2σ(2x) − 1."""
    x = torch.linspace(-5, 5, 101, dtype=D)
    torch.testing.assert_close(F.tanh(x), 2 * F.sigmoid(2 * x) - 1)
    assert not torch.allclose(F.tanh(x), F.sigmoid(x) - 0.5)


def test_cross_entropy_makes_logistic_regression_convex_mse_does_not():
    """002: "This loss formulation works even when the optimization is a non-convex
    problem" — the point of cross-entropy is that it makes logistic regression's cost
    *convex* in (w, b); σ followed by MSE is not. Second differences along a line in w:"""
    x = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=D)
    y = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=D)
    w = torch.linspace(-8, 8, 801, dtype=D)
    Z = w[:, None] * x[None, :]
    bce = torch.stack([F.binary_cross_entropy_with_logits(z, y) for z in Z])
    mse = torch.stack([F.mse_loss(F.sigmoid(z), y) for z in Z])
    curvature = lambda J: J[2:] - 2 * J[1:-1] + J[:-2]  # noqa: E731
    assert float(curvature(bce).min()) >= -1e-12
    assert float(curvature(mse).min()) < 0


def test_batch_gradient_descent_sums_over_m_samples():
    """002, "Gradient Descent on m samples": the loop `for i = 1:n` should run over the
    m samples (n is the number of features); the result equals the vectorized dW."""
    torch.manual_seed(0)
    m, n = 5, 2
    X, y = torch.randn(m, n, dtype=D), torch.randint(2, (m,)).to(D)
    W = torch.randn(1, n, dtype=D, requires_grad=True)
    b = torch.zeros(1, dtype=D, requires_grad=True)
    F.binary_cross_entropy_with_logits(F.linear(X, W, b).squeeze(1), y).backward()
    dW, db = torch.zeros(n, dtype=D), torch.zeros((), dtype=D)
    for i in range(m):  # for i = 1:m
        a = torch.sigmoid(X[i] @ W.detach()[0] + b.detach()[0])
        dW += X[i] * (a - y[i])
        db += a - y[i]
    torch.testing.assert_close(W.grad[0], dW / m)
    torch.testing.assert_close(b.grad[0], db / m)


def test_one_hidden_layer_update_uses_its_own_db():
    """002: `b[2] = b[2] − α db[1]` should use db[2] (and the init snippet's second
    `b1 = 0` is b2). Every parameter gets its own gradient of its own shape."""
    net = ShallowMLP(3, hidden=4).double()
    X, Y = torch.randn(6, 3, dtype=D), torch.randint(2, (6,)).to(D)
    net.loss(net(X), Y).backward()
    b1, b2 = net.body[0].bias, net.head.bias
    assert b1.grad.shape == (4,) and b2.grad.shape == (1,)
    dZ2 = torch.sigmoid(net(X).detach().squeeze(1)) - Y
    torch.testing.assert_close(b2.grad, dZ2.mean().reshape(1))  # db[2] = mean(dZ[2])


def test_notes_2d_convolution_example_entries():
    """003: in the a…l ⋆ [[w, x], [y, z]] example the top-right entry is cw + dx + gy + hz
    (printed "ew + dx + gy + hz") and the middle bottom entry is fw + gx + jy + kz
    (printed "fw + gx + iy + kz"). The layer computes the cross-correlation the example
    shows; the formula S(i, j) = Σ_m Σ_n I(m, n) K(i − n, j − n) should read K(i − m, j − n)."""
    a, b, c, d, e, f, g, h, i, j, k, l = (float(2**p) for p in range(12))
    w, x, y, z = 1.0, 1e4, 1e8, 1e12  # keeps every term identifiable in the sum
    I = torch.tensor([[a, b, c, d], [e, f, g, h], [i, j, k, l]], dtype=D).reshape(1, 1, 3, 4)
    K = torch.tensor([[w, x], [y, z]], dtype=D).reshape(1, 1, 2, 2)
    S = F.conv2d(I, K)[0, 0]
    assert float(S[0, 2]) == c * w + d * x + g * y + h * z
    assert float(S[0, 2]) != e * w + d * x + g * y + h * z
    assert float(S[1, 1]) == f * w + g * x + j * y + k * z
    assert float(S[1, 1]) != f * w + g * x + i * y + k * z


def test_convolution_is_equivariant_to_translation():
    """003: "f(x) is equivalent to g if g(f(x)) = g(f(x))" — the definition is
    f(g(x)) = g(f(x)) (equi*variant*): convolving a shifted image = shifting the map."""
    torch.manual_seed(0)
    X = torch.zeros(1, 1, 12, 12, dtype=D)
    X[0, 0, 3:6, 2:5] = torch.randn(3, 3, dtype=D)
    K = torch.randn(1, 1, 3, 3, dtype=D)
    shift = lambda T: torch.roll(T, shifts=(2, 3), dims=(2, 3))  # noqa: E731
    torch.testing.assert_close(F.conv2d(shift(X), K), shift(F.conv2d(X, K)))


def test_squared_error_gradient_keeps_the_input_factor():
    """003: for E = ½(y(x, w) − t)² with y = wᵀx, ∂E/∂w = (y − t)·x = δ·x; the printed
    "∂E/∂w = (y(x, w) − t) = δ·x" drops the x of the middle term."""
    x = torch.tensor([[2.0, -3.0]], dtype=D)
    w = torch.tensor([[0.5, 0.25]], dtype=D, requires_grad=True)
    t = torch.tensor([[1.0]], dtype=D)
    y = F.linear(x, w)
    (0.5 * F.mse_loss(y, t, reduction="sum")).backward()
    delta = (y - t).detach()
    torch.testing.assert_close(w.grad, delta * x)


def test_sequence_loss_is_minus_sum_of_log_probabilities():
    """003: L = Σ_t L(t) = −Σ_t log p_model(y(t) | x(1..t)); the printed line lacks the
    minus sign (a sum of log-probabilities is ≤ 0, a loss is ≥ 0)."""
    torch.manual_seed(0)
    o = torch.randn(1, 4, 5, dtype=D)  # o(t) for T = 4 steps, 5 classes
    y = torch.tensor([[1, 0, 4, 2]])
    L = F.cross_entropy(o.reshape(-1, 5), y.reshape(-1), reduction="sum")
    log_p = torch.log_softmax(o, -1).gather(2, y.unsqueeze(-1)).sum()
    torch.testing.assert_close(L, -log_p)
    assert float(L) > 0 > float(log_p)


def test_one_wide_hidden_layer_is_not_just_logistic_regression():
    """000: "If we have a single layer with the number of neurons equal to the number of
    neurons in multiple layers we still be able to only learn as much as a simple
    linear/logistic regression" — not so: one hidden layer with a non-linear g already
    separates XOR, which no logistic regression can (the collapse happens only for a
    linear g, notes 002)."""
    X = torch.tensor([[0.0, 0], [0, 1], [1, 0], [1, 1]], dtype=D).repeat(8, 1)
    Y = torch.tensor([0.0, 1, 1, 0], dtype=D).repeat(8)
    accuracies = {}
    for name, model in {
        "logistic": LogisticRegression(2),
        "shallow": ShallowMLP(2, hidden=8, activation="tanh"),
    }.items():
        torch.manual_seed(0)
        model = model.double()
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(400):
            opt.zero_grad()
            model.loss(model(X), Y).backward()
            opt.step()
        accuracies[name] = float((model.predict(model(X)) == Y).double().mean())
    assert accuracies["logistic"] <= 0.75
    assert accuracies["shallow"] == 1.0
