"""Mixed precision (``torch.autocast``; ``dlnotes-train trainer.precision=bf16-mixed``):
every op and every model with the hand-written backward runs inside an autocast region,
its outputs take the dtypes PyTorch's twins take there (matrix products in 16 bits,
losses in float32), and its values and gradients are as close to float32 as the twins'.

On the CPU, autocast's 16-bit dtype is bfloat16; ``trainer=gpu`` with ``16-mixed`` on
CUDA runs the same code with float16 (the CUDA test skips without a GPU). The models
also train in plain bfloat16 (``bf16-true``: weights and data in 16 bits, no autocast).
"""

from __future__ import annotations

import copy

import pytest
import torch

import dlnotes.functional as ours
from dlnotes.functional import reference
from tests.functional.op_cases import op_cases, run_op, with_grads
from tests.models.test_manual_vs_autograd import CASES, batch_for


def _random_cases(device: str = "cpu") -> dict:
    g = torch.Generator().manual_seed(0)

    def x(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=g).to(device)

    def labels(*shape: int, classes: int) -> torch.Tensor:
        return torch.randint(classes, shape, generator=g).to(device)

    return op_cases(x, labels)


OPS = _random_cases()
RANDOM = {"dropout"}  # a mask of its own on each side: dtypes only


def _close(value: torch.Tensor, twin: torch.Tensor, exact: torch.Tensor, low: torch.dtype) -> bool:
    """As close to float32 as PyTorch's own result in the same precision, give or take
    one rounding step of the 16-bit dtype ``low``."""
    return _error(value, exact) <= 2 * _error(twin, exact) + torch.finfo(low).eps


def _error(value: torch.Tensor, exact: torch.Tensor) -> float:
    """Largest deviation from the float32 result, relative to its largest entry."""
    value, exact = value.detach().float(), exact.detach()
    return float((value - exact).abs().max() / exact.abs().max().clamp_min(1e-6))


def _mixed_vs_twin(case: str, device: str, dtype: torch.dtype) -> None:
    name, make = _random_cases(device)[case]
    args = make()
    fn, twin = getattr(ours, name), getattr(reference, name)
    exact = run_op(fn, with_grads(name, args))
    mixed = run_op(fn, with_grads(name, args), torch.autocast(device, dtype=dtype))
    twin_mixed = run_op(twin, with_grads(name, args), torch.autocast(device, dtype=dtype))
    for value, twin_value, exact_value in zip(
        mixed[0] + mixed[1], twin_mixed[0] + twin_mixed[1], exact[0] + exact[1], strict=True
    ):
        assert value.dtype == twin_value.dtype and value.device.type == device
        if name not in RANDOM:
            assert _close(value, twin_value, exact_value, dtype)


@pytest.mark.parametrize("case", OPS)
def test_op_under_autocast_takes_the_twins_dtypes_and_precision(case):
    _mixed_vs_twin(case, "cpu", torch.bfloat16)


def _step(model, X, Y, region=None) -> list[torch.Tensor]:
    """Z, J and every gradient of one training step (forward in ``region``)."""
    torch.manual_seed(1)  # the same dropout masks on every path
    model.zero_grad(set_to_none=True)
    with region or torch.autocast("cpu", enabled=False):
        Z, J = model.cost(X, Y)
    J.backward()
    return [Z, J, *(p.grad for p in model.parameters())]


@pytest.mark.parametrize("precision", ["bf16-mixed", "bf16-true"])
@pytest.mark.parametrize("case", CASES)
def test_model_step_matches_autograds_in_the_same_precision(case, precision):
    """bf16-mixed: float32 weights and data, the forward under autocast; bf16-true:
    weights and data in bfloat16, no autocast."""
    cls, spec, hparams = CASES[case]
    torch.manual_seed(0)
    model = cls.from_data(spec, **hparams)
    X, Y = (t.float() if t.is_floating_point() else t for t in batch_for(spec, m=16))
    exact = _step(copy.deepcopy(model), X, Y)
    region = None
    if precision == "bf16-mixed":
        region = torch.autocast("cpu", dtype=torch.bfloat16)
    else:
        model = model.bfloat16()
        X, Y = (t.bfloat16() if t.is_floating_point() else t for t in (X, Y))
    manual = _step(copy.deepcopy(model), X, Y, region)
    auto = _step(copy.deepcopy(model).set_backward("autograd"), X, Y, region)
    # Z[L] in 16 bits; J in float32 under autocast (as PyTorch's losses), else 16 bits
    assert manual[0].dtype == auto[0].dtype == torch.bfloat16
    assert manual[1].dtype == auto[1].dtype == (torch.float32 if region else torch.bfloat16)
    for a, b, e in zip(manual, auto, exact, strict=True):
        assert a.dtype == b.dtype
        assert _close(a, b, e, torch.bfloat16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("case", OPS)
def test_op_under_cuda_autocast_takes_the_twins_dtypes_and_precision(case):
    _mixed_vs_twin(case, "cuda", torch.float16)


def test_training_in_mixed_precision_matches_autograds(tmp_path):
    """dlnotes-train trainer.precision=bf16-mixed: the hand-written backward trains as
    PyTorch's does in the same precision (batch norm, dropout, one propagate() node)."""
    from dlnotes.training.run import train
    from tests.cli.conftest import compose_config

    results = {}
    for backward in ("manual", "autograd"):
        overrides = ["trainer.precision=bf16-mixed", "model=deep_mlp", "model.batch_norm=true",
                     "model.dropout=0.2", f"model.backward={backward}", "trainer.max_steps=20",
                     "callbacks=none", "~logger"]  # fmt: skip
        run_dir = tmp_path / backward
        results[backward] = train(compose_config(overrides, run_dir), run_dir, overrides)
    manual, auto = results["manual"], results["autograd"]
    assert manual["status"] == auto["status"] == "ok" and manual["steps"] == 20
    for key in ("train_loss", "val_loss", "test_loss"):
        assert manual[key] == pytest.approx(auto[key], rel=2e-2)
