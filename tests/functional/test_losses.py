import pytest
import torch
import torch.nn.functional as F

from dlnotes import functional as ours
from tests.compare import assert_matches_twin, gradcheck

D = torch.float64
REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6,), (6, 3), (1, 1), (2, 3, 4)])
def test_mse(reduction, shape):
    torch.manual_seed(0)
    a, y = torch.randn(*shape, dtype=D), torch.randn(*shape, dtype=D)
    fn = lambda a, y: ours.mse_loss(a, y, reduction=reduction)  # noqa: E731
    assert_matches_twin(fn, lambda a, y: F.mse_loss(a, y, reduction=reduction), [a, y])
    gradcheck(fn, [a, y])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(8,), (8, 1), (1,), (3, 4)])
def test_bce_with_logits(reduction, shape):
    torch.manual_seed(1)
    z = torch.randn(*shape, dtype=D) * 3
    y = torch.rand(*shape, dtype=D)  # soft targets in [0, 1] are allowed, like PyTorch
    fn = lambda z, y: ours.binary_cross_entropy_with_logits(z, y, reduction=reduction)  # noqa: E731
    twin = lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction=reduction)  # noqa: E731
    assert_matches_twin(fn, twin, [z, y])
    gradcheck(fn, [z, y])


def test_bce_gradient_is_a_minus_y_over_m():
    """Notes 002: dz = a − y, and the cost's 1/m."""
    z = torch.tensor([0.3, -1.2, 2.0, 0.0], dtype=D, requires_grad=True)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=D)
    ours.binary_cross_entropy_with_logits(z, y).backward()
    torch.testing.assert_close(z.grad, (torch.sigmoid(z) - y).detach() / 4)


def test_bce_huge_logits_stable():
    z = torch.tensor([1000.0, -1000.0, 5000.0, -5000.0], dtype=D)
    y = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=D)
    fn = ours.binary_cross_entropy_with_logits
    assert_matches_twin(fn, F.binary_cross_entropy_with_logits, [z, y])
    assert torch.isfinite(fn(z, y))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (1, 3), (3, 4, 6), (2, 5, 3, 2)])
def test_cross_entropy(reduction, shape):
    torch.manual_seed(2)
    z = torch.randn(*shape, dtype=D) * 2
    y = torch.randint(shape[1], (shape[0], *shape[2:]))
    fn = lambda z, y: ours.cross_entropy(z, y, reduction=reduction)  # noqa: E731
    assert_matches_twin(fn, lambda z, y: F.cross_entropy(z, y, reduction=reduction), [z, y])
    gradcheck(fn, [z, y])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_of_one_unbatched_sample(reduction):
    """(C,) logits and a () class index, as PyTorch takes them."""
    z, y = torch.randn(5, dtype=D), torch.tensor(2)
    fn = lambda z, y: ours.cross_entropy(z, y, reduction=reduction)  # noqa: E731
    assert_matches_twin(fn, lambda z, y: F.cross_entropy(z, y, reduction=reduction), [z, y])
    gradcheck(fn, [z, y])


@pytest.mark.parametrize("loss", ["mse_loss", "binary_cross_entropy_with_logits", "cross_entropy"])
def test_reduction_is_keyword_only(loss):
    """PyTorch's third positional is size_average or weight: a positional "sum" would
    mean something else there, so ours takes reduction= only."""
    z, y = torch.zeros(3, 2), torch.zeros(3, 2)
    with pytest.raises(TypeError):
        getattr(ours, loss)(z, y, "sum")


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_m():
    z = torch.tensor([[3.2, 1.3, 0.2, 0.8], [0.0, 1.0, 2.0, 3.0]], dtype=D, requires_grad=True)
    y = torch.tensor([0, 2])
    ours.cross_entropy(z, y).backward()
    expected = (torch.softmax(z, 1) - F.one_hot(y, 4)).detach() / 2
    torch.testing.assert_close(z.grad, expected)


def test_cross_entropy_huge_logits_stable():
    z = torch.tensor([[1000.0, -1000.0, 0.0], [-5000.0, 5000.0, 1.0]], dtype=D)
    y = torch.tensor([1, 0])
    assert_matches_twin(ours.cross_entropy, F.cross_entropy, [z, y])
    assert torch.isfinite(ours.cross_entropy(z, y))


def test_bad_reduction_is_a_clear_error():
    with pytest.raises(ValueError, match="reduction"):
        ours.mse_loss(torch.zeros(2), torch.zeros(2), reduction="avg")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cuda_matches_torch(reduction):
    """The three losses on CUDA tensors: values and gradients equal PyTorch's there."""
    torch.manual_seed(4)
    dev = "cuda"
    a, y = torch.randn(8, 3, dtype=D, device=dev), torch.randn(8, 3, dtype=D, device=dev)
    p = torch.rand(8, 3, dtype=D, device=dev)
    c = torch.randint(3, (8,), device=dev)
    cases = [
        (ours.mse_loss, F.mse_loss, [a, y]),
        (ours.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, [a, p]),
        (ours.cross_entropy, F.cross_entropy, [a, c]),
    ]
    for fn, twin, inputs in cases:
        assert_matches_twin(
            lambda *t, fn=fn: fn(*t, reduction=reduction),
            lambda *t, twin=twin: twin(*t, reduction=reduction),
            inputs,
        )
