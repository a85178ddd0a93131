"""Model.cost, the training step's forward: one propagate() node for the dense models,
the same Z, J, gradients and batch-norm statistics as the per-layer ops and as autograd."""

import copy

import pytest
import torch

from dlnotes.models import DeepMLP, LogisticRegression
from tests.models.test_manual_vs_autograd import CASES, TAB3, TOL, D, batch_for


def _run(model, X, Y, extra=None):
    torch.manual_seed(1)  # the same dropout masks on every path
    model.zero_grad(set_to_none=True)
    if extra == "per-layer":
        Z = model(X)
        J = model.loss(Z, Y)
    else:
        Z, J = model.cost(X, Y)
    J.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    return Z.detach(), J.detach(), grads, [b.clone() for b in model.buffers()]


@pytest.mark.parametrize("case", CASES)
def test_cost_equals_per_layer_ops_and_autograd(case):
    cls, spec, hparams = CASES[case]
    torch.manual_seed(0)
    model = cls.from_data(spec, **hparams).to(D)
    X, Y = batch_for(spec)
    fused = _run(copy.deepcopy(model), X, Y)
    per_layer = _run(copy.deepcopy(model), X, Y, "per-layer")
    auto = _run(copy.deepcopy(model).set_backward("autograd"), X, Y)
    for other in (per_layer, auto):
        for a, b in zip(fused[:2], other[:2]):
            torch.testing.assert_close(a, b, **TOL)
        for a, b in zip(fused[2] + fused[3], other[2] + other[3]):
            torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize(
    "model",
    [
        LogisticRegression(5, 3),
        DeepMLP(5, hidden=[4, 4], out_features=3),
        DeepMLP(5, hidden=[4], out_features=3, batch_norm=True, activation="sigmoid"),
    ],
    ids=["logistic", "deep", "deep-bn"],
)
def test_dense_models_run_one_node(model):
    X, Y = batch_for(TAB3)
    model = model.to(D)
    Z, J = model.cost(X, Y)
    assert type(J.grad_fn).__name__ == "PropagateBackward"
    assert Z.grad_fn is J.grad_fn  # Z and J are the two outputs of the same node
    _, J_a = model.set_backward("autograd").cost(X, Y)
    assert type(J_a.grad_fn).__name__ != "PropagateBackward"


def test_input_gradient_and_z_used_beyond_the_cost():
    """dX (a GAN's generator needs it) and a cost that uses Z[L] twice both match autograd."""
    torch.manual_seed(0)
    model = DeepMLP(5, hidden=[6, 4], out_features=3, activation="tanh").to(D)
    X, Y = batch_for(TAB3)
    results = []
    for m in (model, copy.deepcopy(model).set_backward("autograd")):
        Xl = X.clone().requires_grad_()
        Z, J = m.cost(Xl, Y)
        (J + 0.5 * Z.square().sum()).backward()
        results.append([Xl.grad, *(p.grad for p in m.parameters())])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, **TOL)


def test_cost_gradcheck():
    """Numerical derivatives of J and of Z[L] with respect to X (the parameters' gradients
    are compared with autograd above)."""
    torch.manual_seed(0)
    model = DeepMLP(4, hidden=[3, 3], out_features=3, activation="leaky_relu").to(D)
    X, Y = batch_for(TAB3)
    X = X[:, :4].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda X: model.cost(X, Y), (X,))


def test_targets_that_need_a_gradient_take_the_per_layer_path():
    torch.manual_seed(0)
    model = LogisticRegression(3, 1, activation="identity").to(D)
    X, Y = torch.randn(5, 3, dtype=D), torch.randn(5, dtype=D)
    grads = []
    for m in (model, copy.deepcopy(model).set_backward("autograd")):
        Yl = Y.clone().requires_grad_()
        m.cost(X, Yl)[1].backward()
        grads.append(Yl.grad)
    torch.testing.assert_close(grads[0], grads[1], **TOL)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cost_on_cuda_equals_cpu():
    torch.manual_seed(0)
    model = DeepMLP(5, hidden=[6, 4], out_features=3, batch_norm=True).to(D)
    X, Y = batch_for(TAB3)
    results = []
    for device in ("cpu", "cuda"):
        m = copy.deepcopy(model).to(device)
        Z, J = m.cost(X.to(device), Y.to(device))
        J.backward()
        results.append([t.detach().cpu() for t in (Z, J, *(p.grad for p in m.parameters()))])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, **TOL)
