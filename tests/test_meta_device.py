"""Every op and every model runs its forward and hand-written backward on a tensor device
other than the CPU: PyTorch's ``meta`` device, which computes shapes and no values.

This is the CPU-only stand-in for the CUDA tests (which skip without a GPU): a tensor
made on the default device inside an op (``torch.zeros(n)`` instead of
``Z.new_zeros(n)``) fails here as it would on CUDA, with "Tensor on device cpu is not on
the expected device meta". Meta tensors have no values and take any generator, so the
values, and a CPU generator drawing into a device tensor, are checked by the
``test_cuda_*`` tests, where a GPU exists.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import dlnotes.functional as ours
import dlnotes.init
from dlnotes.functional import reference
from tests.models.test_manual_vs_autograd import CASES, batch_for

META = torch.device("meta")


def _x(*shape: int) -> torch.Tensor:
    return torch.empty(shape, device=META)


def _labels(*shape: int, classes: int) -> torch.Tensor:
    return torch.empty(shape, dtype=torch.long, device=META).random_(classes)


# op name → its arguments, made on the meta device (float tensors get gradients)
OPS: dict[str, Callable[[], tuple]] = {
    "linear": lambda: (_x(4, 5), _x(3, 5), _x(3)),
    "identity": lambda: (_x(4, 5),),
    "sigmoid": lambda: (_x(4, 5),),
    "tanh": lambda: (_x(4, 5),),
    "relu": lambda: (_x(4, 5),),
    "leaky_relu": lambda: (_x(4, 5), 0.1),
    "softmax": lambda: (_x(4, 5), 1),
    "dropout": lambda: (_x(4, 5), 0.5, True),
    "batch_norm": lambda: (_x(4, 5, 3, 3), _x(5).zero_(), _x(5).fill_(1), _x(5), _x(5), True),
    "conv2d": lambda: (_x(2, 3, 8, 7), _x(4, 3, 3, 2), _x(4), (2, 1), 1),
    "max_pool2d": lambda: (_x(2, 3, 8, 8), 2),
    "avg_pool2d": lambda: (_x(2, 3, 8, 8), 2),
    "mse_loss": lambda: (_x(4, 5), _x(4, 5)),
    "binary_cross_entropy_with_logits": lambda: (_x(4, 1), _x(4, 1)),
    "cross_entropy": lambda: (_x(4, 5), _labels(4, classes=5)),
    "elman_rnn": lambda: (_x(3, 6, 4), _x(3, 5), _x(5, 4), _x(5, 5), _x(5), _x(5)),
}
# more forms of the same ops: other branches of their code
VARIANTS: dict[str, tuple[str, Callable[[], tuple]]] = {
    "batch_norm, (m, n), eval": (
        "batch_norm",
        lambda: (_x(4, 5), _x(5).zero_(), _x(5).fill_(1), _x(5), _x(5), False),
    ),
    "batch_norm, no running statistics": (
        "batch_norm",
        lambda: (_x(4, 5), None, None, None, None, True),
    ),
    "cross_entropy, (m, C, T)": ("cross_entropy", lambda: (_x(3, 5, 6), _labels(3, 6, classes=5))),
    "elman_rnn, relu, no h0, no bias": (
        "elman_rnn",
        lambda: (_x(3, 6, 4), None, _x(5, 4), _x(5, 5), None, None, "relu"),
    ),
}


# arguments that take no gradient: batch norm's running statistics
NO_GRAD = {"batch_norm": {1, 2}}


def _with_grads(name: str, args: tuple) -> list:
    """The arguments, float tensors as fresh leaves that require a gradient."""
    return [
        a.detach().requires_grad_(i not in NO_GRAD.get(name, ()))
        if torch.is_tensor(a) and a.is_floating_point()
        else a
        for i, a in enumerate(args)
    ]


def _run(fn: Callable[..., torch.Tensor | tuple], args: list) -> tuple[list, list]:
    """Forward, backward of the outputs' sum; (outputs, gradients of the float inputs)."""
    out = fn(*args)
    outputs = list(out) if isinstance(out, tuple) else [out]
    sum(o.sum() for o in outputs).backward()
    grads = [a.grad for a in args if torch.is_tensor(a) and a.requires_grad]
    return outputs, grads


def test_every_op_is_covered():
    assert set(OPS) == set(ours.__all__)


@pytest.mark.parametrize("case", [*OPS, *VARIANTS])
def test_op_runs_on_the_device_of_its_inputs(case):
    name, make = (case, OPS[case]) if case in OPS else VARIANTS[case]
    args = make()
    outputs, grads = _run(getattr(ours, name), _with_grads(name, args))
    # the PyTorch twin on the same inputs gives the shapes to expect
    twin_outputs, twin_grads = _run(getattr(reference, name), _with_grads(name, args))
    assert len(grads) == len(twin_grads) > 0
    for ours_t, twin_t in zip(outputs + grads, twin_outputs + twin_grads, strict=True):
        assert ours_t is not None and ours_t.device == META
        assert ours_t.shape == twin_t.shape and ours_t.dtype == twin_t.dtype


def _meta_batch(spec) -> tuple[torch.Tensor, torch.Tensor]:
    X, Y = batch_for(spec)
    return tuple(t.to(META, torch.float32 if t.is_floating_point() else t.dtype) for t in (X, Y))


@pytest.mark.parametrize("case", CASES)
def test_model_trains_and_predicts_on_the_device_of_its_weights(case):
    cls, spec, hparams = CASES[case]
    model = cls.from_data(spec, **hparams).to(META)
    # a seeded initialization draws on the CPU and copies to the weights' device
    dlnotes.init.apply(model, "he", seed=0)
    assert model.backward == "manual"
    X, Y = _meta_batch(spec)
    Z, J = model.cost(X, Y)
    J.backward()
    for P in model.parameters():
        assert P.grad is not None and P.grad.device == META and P.grad.shape == P.shape
    for tensor in [Z, J, *model.buffers()]:
        assert tensor.device == META
    model.eval()
    with torch.no_grad():
        assert model.predict(model(X)).device == META


def test_the_meta_device_catches_a_cpu_tensor_in_an_op():
    """The premise of this file: an op that mixes a CPU tensor in fails on meta."""

    def leaky(Z: torch.Tensor) -> torch.Tensor:
        return torch.where(Z > 0, Z, torch.zeros(Z.shape))

    with pytest.raises(RuntimeError, match="device"):
        leaky(_x(4, 5))
