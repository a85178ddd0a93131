import pytest
import torch
import torch.nn.functional as F

from dlnotes import functional as ours
from tests.compare import assert_matches_twin, gradcheck

D = torch.float64


@pytest.mark.parametrize(
    "shape", [(5, 3), (1, 3), (2, 4, 3), (2, 2, 2, 3), (3,)], ids=lambda s: str(s)
)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(shape, bias):
    torch.manual_seed(0)
    x, W = torch.randn(*shape, dtype=D), torch.randn(4, 3, dtype=D)
    b = torch.randn(4, dtype=D) if bias else None
    assert_matches_twin(ours.linear, F.linear, [x, W, b])
    gradcheck(ours.linear, [x, W, b])


def test_linear_only_requested_grads():
    x = torch.randn(5, 3, dtype=D)
    W = torch.randn(4, 3, dtype=D, requires_grad=True)
    ours.linear(x, W).sum().backward()
    assert x.grad is None and W.grad is not None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("bias", [True, False])
def test_cuda_matches_torch(bias):
    torch.manual_seed(3)
    x, W = torch.randn(6, 2, 3, dtype=D, device="cuda"), torch.randn(4, 3, dtype=D, device="cuda")
    b = torch.randn(4, dtype=D, device="cuda") if bias else None
    assert_matches_twin(ours.linear, F.linear, [x, W, b])
    assert ours.linear(x, W, b).device.type == "cuda"
