"""propagate(): a stack of dlnotes.nn layers as one node, equal to the layers run one by
one; and first_order, the guard every hand-written backward carries."""

import pytest
import torch

from dlnotes import functional as F
from dlnotes.functional.network import propagate
from dlnotes.nn import Activation, BatchNorm1d, Dropout, Linear

D = torch.float64


def _stack():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        Linear(5, 6), BatchNorm1d(6), Activation("sigmoid"), Dropout(0.25),
        Linear(6, 4, bias=False), Activation("leaky_relu", 0.2), Linear(4, 3),
    ).to(D)  # fmt: skip


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_propagate_without_head_equals_the_layers(mode):
    stacks = [_stack(), _stack()]
    X = torch.randn(7, 5, dtype=D)
    dZ = torch.randn(7, 3, dtype=D)
    results = []
    for i, stack in enumerate(stacks):
        stack.train(mode == "train")
        Xl = X.clone().requires_grad_()
        torch.manual_seed(1)
        Z = propagate(Xl, list(stack)) if i == 0 else stack(Xl)
        Z.backward(dZ)
        results.append([Z, Xl.grad, *(p.grad for p in stack.parameters()), *stack.buffers()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


def test_parameters_without_gradient_and_unused_output():
    stack = _stack().eval()
    stack[0].weight.requires_grad_(False)
    Z = propagate(torch.randn(4, 5, dtype=D), list(stack))
    Z.sum().backward()
    assert stack[0].weight.grad is None and stack[-1].weight.grad is not None


def test_first_order_refuses_a_second_derivative():
    """Under create_graph=True the gradient comes back, but it is not differentiable again
    (the backward is a formula, not a graph), as with torch's once_differentiable."""
    A = torch.randn(3, 4, dtype=D, requires_grad=True)
    W = torch.randn(2, 4, dtype=D, requires_grad=True)
    v = torch.randn(3, 2, dtype=D, requires_grad=True)
    Z = F.tanh(F.linear(A, W))
    (dA,) = torch.autograd.grad(Z, A, grad_outputs=v, create_graph=True)
    torch.testing.assert_close(dA, ((v * (1 - torch.tanh(A @ W.T) ** 2)) @ W).detach())
    with pytest.raises(RuntimeError, match="once_differentiable"):
        dA.sum().backward()
