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

import pytest
import torch

import dlnotes.functional as ours
import dlnotes.init
from dlnotes.functional import reference
from tests.functional.op_cases import op_cases, run_op, with_grads
from tests.models.test_manual_vs_autograd import CASES, batch_for

META = torch.device("meta")


def _x(*shape: int) -> torch.Tensor:
    return torch.empty(shape, device=META)


def _labels(*shape: int, classes: int) -> torch.Tensor:
    return torch.empty(shape, dtype=torch.long, device=META).random_(classes)


CASES_OPS = op_cases(_x, _labels)


def test_every_op_is_covered():
    assert {name for name, _ in CASES_OPS.values()} == set(ours.__all__)


@pytest.mark.parametrize("case", CASES_OPS)
def test_op_runs_on_the_device_of_its_inputs(case):
    name, make = CASES_OPS[case]
    args = make()
    outputs, grads = run_op(getattr(ours, name), with_grads(name, args))
    # the PyTorch twin on the same inputs gives the shapes to expect
    twin_outputs, twin_grads = run_op(getattr(reference, name), with_grads(name, args))
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
