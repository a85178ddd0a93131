import pytest
import torch
import torch.nn.functional as F

from dlnotes import functional as ours
from tests.compare import assert_matches_twin, gradcheck

D = torch.float64
TWINS = {
    "sigmoid": (ours.sigmoid, torch.sigmoid),
    "tanh": (ours.tanh, torch.tanh),
    "relu": (ours.relu, F.relu),
    "leaky_relu": (ours.leaky_relu, F.leaky_relu),
    "leaky_relu_0.2": (
        lambda z: ours.leaky_relu(z, 0.2),
        lambda z: F.leaky_relu(z, 0.2),
    ),
    "identity": (ours.identity, lambda z: z * 1),
}


@pytest.mark.parametrize("name", TWINS)
def test_random_inputs(name):
    torch.manual_seed(1)
    z = torch.randn(7, 5, dtype=D)
    fn, twin = TWINS[name]
    assert_matches_twin(fn, twin, [z])
    gradcheck(fn, [z])


@pytest.mark.parametrize("name", TWINS)
def test_saturated_and_zero_inputs(name):
    """Saturated sigmoid/tanh (|z| up to 1000) and exact zeros for ReLU."""
    z = torch.tensor([-1000.0, -40.0, -1e-12, 0.0, 0.0, 1e-12, 40.0, 1000.0], dtype=D)
    fn, twin = TWINS[name]
    assert_matches_twin(fn, twin, [z])


def test_relu_derivative_at_zero_is_zero():
    z = torch.zeros(3, dtype=D, requires_grad=True)
    ours.relu(z).sum().backward()
    assert torch.equal(z.grad, torch.zeros(3, dtype=D))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax(dim):
    torch.manual_seed(2)
    z = torch.randn(4, 6, dtype=D) * 3
    assert_matches_twin(lambda t: ours.softmax(t, dim), lambda t: torch.softmax(t, dim), [z])
    gradcheck(lambda t: ours.softmax(t, dim), [z])


def test_softmax_huge_logits_stay_finite():
    z = torch.tensor([[1000.0, 0.0, -1000.0], [5000.0, 5000.0, 0.0]], dtype=D)
    assert_matches_twin(lambda t: ours.softmax(t, 1), lambda t: torch.softmax(t, 1), [z])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", [*TWINS, "softmax"])
def test_cuda_matches_torch(name):
    """Every activation on CUDA tensors: values and gradients equal PyTorch's there."""
    torch.manual_seed(2)
    z = torch.randn(64, 10, dtype=D, device="cuda")
    if name == "softmax":
        fn, twin = (lambda z: ours.softmax(z, 1)), (lambda z: torch.softmax(z, 1))
    else:
        fn, twin = TWINS[name]
    assert_matches_twin(fn, twin, [z])
    assert fn(z).device.type == "cuda"
