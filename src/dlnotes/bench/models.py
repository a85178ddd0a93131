"""Section "models": one training step of every model, ``backward="manual"`` vs ``"autograd"``.

A step is what the Lightning loop does per batch: reset the gradients, forward, loss,
backward, one SGD update. Both modes start from the same weights (a deep copy) and see
the same batch. Sizes are MNIST's, batch 128: 784 inputs and 10 classes for the MLPs and
logistic regression, 1 × 28 × 28 images for LeNet, 28 steps of 28 pixels into 128 units
for the RNN (sequential MNIST).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from dlnotes.bench import targets
from dlnotes.bench.timing import time_interleaved
from dlnotes.data.spec import DataSpec
from dlnotes.models import MODELS, Model

MNIST = DataSpec("multiclass", "image", 784, 10, 10, 1, (28, 28), name="mnist")
SEQ_MNIST = DataSpec("multiclass", "sequence", 28, 10, 10, seq_len=28, name="seq_mnist")
TINY_IMG = DataSpec("multiclass", "image", 144, 3, 3, 1, (12, 12), name="tiny")
TINY_SEQ = DataSpec("multiclass", "sequence", 3, 3, 3, seq_len=4, name="tiny_seq")


@dataclass(frozen=True)
class ModelCase:
    """One row: ``MODELS[model].from_data(spec, **hparams)`` on a batch of ``batch`` samples."""

    name: str
    model: str
    spec: DataSpec
    tiny_spec: DataSpec
    hparams: dict[str, Any] = field(default_factory=dict)
    tiny_hparams: dict[str, Any] = field(default_factory=dict)

    def build(self, tiny: bool) -> Model:
        spec, hparams = (self.tiny_spec, self.tiny_hparams) if tiny else (self.spec, self.hparams)
        return MODELS[self.model].from_data(spec, **hparams)

    def batch(self, tiny: bool, m: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        spec = self.tiny_spec if tiny else self.spec
        g = torch.Generator().manual_seed(seed)
        if spec.kind == "image":
            X = torch.randn(m, spec.in_channels or 1, *(spec.image_size or (28, 28)), generator=g)
        else:
            X = torch.randn(m, spec.seq_len or 1, spec.in_features, generator=g)
        return X, torch.randint(spec.out_features, (m,), generator=g)


CASES: list[ModelCase] = [
    ModelCase("logistic_regression", "logistic_regression", MNIST, TINY_IMG),
    ModelCase("shallow_mlp", "shallow_mlp", MNIST, TINY_IMG, {"hidden": 64}, {"hidden": 4}),
    ModelCase("deep_mlp", "deep_mlp", MNIST, TINY_IMG, {"hidden": [64, 64]}, {"hidden": [4]}),
    ModelCase("deep_mlp (batch norm, dropout)", "deep_mlp", MNIST, TINY_IMG,
              {"hidden": [64, 64], "batch_norm": True, "dropout": 0.2},
              {"hidden": [4], "batch_norm": True, "dropout": 0.2}),
    ModelCase("lenet", "lenet", MNIST, TINY_IMG),
    ModelCase("elman_rnn", "elman_rnn", SEQ_MNIST, TINY_SEQ, {"hidden_size": 128},
              {"hidden_size": 5}),
]  # fmt: skip


def training_step(
    model: Model, X: torch.Tensor, Y: torch.Tensor, lr: float = 0.01
) -> Callable[[], None]:
    """zero_grad → forward and cost (:meth:`Model.cost`, as the Task runs it) → backward →
    SGD step, as one call."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    sync = X.is_cuda  # CUDA runs asynchronously: a step ends when the device is done

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        model.cost(X, Y)[1].backward()
        opt.step()
        if sync:
            torch.cuda.synchronize()

    return step


def bench_case(
    case: ModelCase,
    repeats: int,
    tiny: bool,
    batch: int,
    min_sample_s: float,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    torch.manual_seed(0)
    manual = case.build(tiny).set_backward("manual").to(device)
    auto = copy.deepcopy(manual).set_backward("autograd")
    X, Y = (t.to(device) for t in case.batch(tiny, batch))
    stats = time_interleaved(
        {"manual": training_step(manual, X, Y), "autograd": training_step(auto, X, Y)},
        repeats,
        min_sample_s=min_sample_s,
    )
    ratio = stats["manual"].median / stats["autograd"].median
    target = targets.MODEL_STEP.get(case.model)
    return {
        "model": case.name,
        "batch": batch,
        "params": sum(p.numel() for p in manual.parameters()),
        "manual": stats["manual"].as_dict(),
        "autograd": stats["autograd"].as_dict(),
        "ratio": ratio,
        "target": target,
        "time": targets.verdict(ratio, target),
    }


def run(
    repeats: int,
    tiny: bool = False,
    batch: int = 128,
    min_sample_s: float = 0.02,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    m = 8 if tiny else batch
    return [bench_case(c, repeats, tiny, m, min_sample_s, device) for c in CASES]
