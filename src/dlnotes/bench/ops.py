"""Section "ops": every op of :mod:`dlnotes.functional` against its PyTorch twin.

One row per op and shape: forward + backward (the gradient of every float input that
a layer would need) of ours and of the twin of :mod:`dlnotes.functional.reference`,
on the same inputs, timed interleaved, and the peak memory of one call of each. A third
contestant, the twin followed by an autograd.Function that does nothing, gives each row
its *floor*: the ratio that any op written as one Python Function pays on this machine
for its node alone (on small shapes the floor, not the maths, decides the ratio).
Shapes are those of LeNet on MNIST and of the MLPs, batch 128; the RNN reads T = 28
steps of 28 inputs into H = 128 units (sequential MNIST).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.autograd.function import FunctionCtx

from dlnotes import functional
from dlnotes.bench import targets
from dlnotes.bench.timing import peak_memory, time_interleaved
from dlnotes.functional import reference
from dlnotes.functional._common import first_order


@dataclass(frozen=True)
class In:
    """One input: its shape, whether it needs a gradient, and how it is drawn."""

    shape: tuple[int, ...]
    grad: bool = True
    # randn | zeros | ones | labels (0/1 floats) | classes (int64 indices < the logits' C)
    # | none (the argument is None, e.g. h0 of an RNN that starts from zeros)
    kind: str = "randn"

    def draw(self, g: torch.Generator, logits: torch.Tensor | None) -> torch.Tensor | None:
        if self.kind == "none":
            return None
        if self.kind == "classes":
            assert logits is not None
            return torch.randint(logits.shape[1], self.shape, generator=g)
        if self.kind == "labels":
            return torch.randint(2, self.shape, generator=g).float()
        if self.kind in ("zeros", "ones"):
            return getattr(torch, self.kind)(self.shape)
        return torch.randn(self.shape, generator=g)


def _const(*shape: int) -> In:
    return In(shape, grad=False)


@dataclass(frozen=True)
class OpCase:
    """One benchmark row: ``op(*inputs, **kwargs)``, full-size and tiny inputs."""

    op: str
    label: str
    specs: Sequence[In]
    tiny_specs: Sequence[In]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def inputs(self, tiny: bool, device: torch.device, seed: int = 0) -> list[torch.Tensor | None]:
        """Fresh float32 inputs (leaves that require grad where a layer needs it)."""
        g = torch.Generator().manual_seed(seed)
        out: list[torch.Tensor | None] = []
        for spec in self.tiny_specs if tiny else self.specs:
            t = spec.draw(g, out[0] if out else None)
            out.append(None if t is None else t.to(device).requires_grad_(spec.grad))
        return out


def _map(*shape: int) -> list[In]:
    return [In(shape)]


def _batch_norm(*shape: int) -> list[In]:
    """X, running mean 0 and variance 1, γ, β."""
    C = shape[1]
    return [In(shape), In((C,), False, "zeros"), In((C,), False, "ones"), In((C,)), In((C,))]


def _rnn(N: int, T: int, H_in: int, H: int) -> list[In]:
    """X, h0 (None: zeros, as the models start), U, W, b_ih, b_hh."""
    return [In((N, T, H_in)), In((N, H), False, "none"), In((H, H_in)), In((H, H)),
            In((H,)), In((H,))]  # fmt: skip


MAP1 = (128, 6, 28, 28)  # LeNet's first feature maps on MNIST (after the padded conv)
MAP2 = (128, 16, 10, 10)  # LeNet's second feature maps
TINY = (2, 3, 6, 6)
POOL = {"kernel_size": 2}
CASES: list[OpCase] = [
    OpCase("linear", "(128, 784) → 128", [In((128, 784)), In((128, 784)), In((128,))],
           [In((4, 6)), In((3, 6)), In((3,))]),
    *(OpCase(name, str(MAP1), _map(*MAP1), _map(*TINY))
      for name in ("identity", "sigmoid", "tanh", "relu", "leaky_relu")),
    OpCase("softmax", "(128, 10), dim 1", [In((128, 10))], [In((4, 3))], {"dim": 1}),
    OpCase("dropout", f"{MAP1}, p 0.5", _map(*MAP1), _map(*TINY), {"p": 0.5}),
    OpCase("batch_norm", "(128, 64)", _batch_norm(128, 64), _batch_norm(4, 3),
           {"training": True}),
    OpCase("batch_norm", str(MAP1), _batch_norm(*MAP1), _batch_norm(*TINY), {"training": True}),
    OpCase("conv2d", "(128, 1, 28, 28) ⋆ (6, 1, 5, 5), pad 2",
           [In((128, 1, 28, 28)), In((6, 1, 5, 5)), In((6,))],
           [In((2, 1, 8, 8)), In((2, 1, 3, 3)), In((2,))], {"padding": 2}),
    OpCase("conv2d", "(128, 6, 14, 14) ⋆ (16, 6, 5, 5)",
           [In((128, 6, 14, 14)), In((16, 6, 5, 5)), In((16,))],
           [In(TINY), In((4, 3, 3, 3)), In((4,))]),
    *(OpCase(name, f"{shape}, 2 × 2", _map(*shape), _map(*TINY), POOL)
      for name in ("max_pool2d", "avg_pool2d") for shape in (MAP1, MAP2)),
    OpCase("mse_loss", "(128, 10)", [In((128, 10)), _const(128, 10)], [In((4, 3)), _const(4, 3)]),
    OpCase("binary_cross_entropy_with_logits", "(128, 1)",
           [In((128, 1)), In((128, 1), False, "labels")],
           [In((4, 1)), In((4, 1), False, "labels")]),
    OpCase("cross_entropy", "(128, 10)", [In((128, 10)), In((128,), False, "classes")],
           [In((4, 3)), In((4,), False, "classes")]),
    OpCase("elman_rnn", "N 128, T 28, 28 → H 128", _rnn(128, 28, 28, 128), _rnn(2, 3, 4, 5)),
]  # fmt: skip


class FwdBwd:
    """One forward + backward of ``op`` on ``inputs`` with a fixed upstream gradient; the
    gradients are reset first, as ``zero_grad(set_to_none=True)`` does in training."""

    def __init__(
        self, op: Callable[..., Any], inputs: list[torch.Tensor | None], kwargs: dict[str, Any]
    ) -> None:
        self.op, self.inputs, self.kwargs = op, inputs, kwargs
        self.leaves = [t for t in inputs if t is not None and t.requires_grad]
        # CUDA runs asynchronously: a call ends when the device has finished it
        self.sync = any(t is not None and t.is_cuda for t in inputs)
        out = self.forward()
        self.dout = torch.randn_like(out) if out.dim() else torch.ones_like(out)

    def forward(self) -> torch.Tensor:
        out = self.op(*self.inputs, **self.kwargs)
        return out[0] if isinstance(out, tuple) else out

    def reset(self) -> None:
        for t in self.leaves:
            t.grad = None

    def __call__(self) -> None:
        self.reset()
        self.forward().backward(self.dout)
        if self.sync:
            torch.cuda.synchronize()


class _EmptyNode(torch.autograd.Function):
    """An autograd.Function that computes nothing: forward returns a view of its input,
    backward passes the gradient on. Added after the PyTorch twin it measures the least
    any op written as one Python autograd.Function pays per call on this machine."""

    @staticmethod
    def forward(ctx: FunctionCtx, X: torch.Tensor) -> torch.Tensor:
        return X.view_as(X)

    @staticmethod
    @first_order
    def backward(ctx: FunctionCtx, dX: torch.Tensor) -> torch.Tensor:
        return dX


def _plus_empty_node(op: Callable[..., Any]) -> Callable[..., Any]:
    """``op`` followed by :class:`_EmptyNode` on its (first) output."""

    def op_plus_node(*args: Any, **kwargs: Any) -> Any:
        out = op(*args, **kwargs)
        if isinstance(out, tuple):
            return (_EmptyNode.apply(out[0]), *out[1:])
        return _EmptyNode.apply(out)

    return op_plus_node


def _peak(run: FwdBwd, device: torch.device) -> int:
    """Peak bytes of one call from a clean state (no gradients held)."""
    run.reset()
    return peak_memory(run, device)


def bench_case(
    case: OpCase, repeats: int, tiny: bool, device: torch.device, min_sample_s: float
) -> dict[str, Any]:
    """One row: times, their ratio, peak memories and their ratio, with the targets."""
    ours = FwdBwd(getattr(functional, case.op), case.inputs(tiny, device), case.kwargs)
    twin = FwdBwd(getattr(reference, case.op), case.inputs(tiny, device), case.kwargs)
    floor = FwdBwd(
        _plus_empty_node(getattr(reference, case.op)), case.inputs(tiny, device), case.kwargs
    )
    runs = {"dlnotes": ours, "torch": twin, "floor": floor}
    stats = time_interleaved(runs, repeats, min_sample_s=min_sample_s)
    mem_ours, mem_torch = _peak(ours, device), _peak(twin, device)
    ratio = stats["dlnotes"].median / stats["torch"].median
    mem_ratio = mem_ours / mem_torch if mem_torch else None
    time_target = targets.OP_TIME.get(case.op)
    return {
        "op": case.op,
        "shape": case.label,
        "dlnotes": stats["dlnotes"].as_dict(),
        "torch": stats["torch"].as_dict(),
        "ratio": ratio,
        # the twin plus one empty autograd.Function: the ratio no op written as a Python
        # Function can beat here (its arithmetic as fast as PyTorch's, its node not free)
        "floor": stats["floor"].median / stats["torch"].median,
        "target": time_target,
        "time": targets.verdict(ratio, time_target),
        "peak_bytes_dlnotes": mem_ours,
        "peak_bytes_torch": mem_torch,
        "memory_ratio": mem_ratio,
        "memory_target": targets.OP_MEMORY,
        "memory": targets.verdict(mem_ratio, targets.OP_MEMORY),
    }


def run(
    repeats: int, tiny: bool = False, device: str = "cpu", min_sample_s: float = 0.02
) -> list[dict[str, Any]]:
    """Every case of :data:`CASES`, in order."""
    dev = torch.device(device)
    return [bench_case(case, repeats, tiny, dev, min_sample_s) for case in CASES]


def missing_ops() -> list[str]:
    """Ops of :mod:`dlnotes.functional` that no case covers (empty when complete)."""
    covered = {case.op for case in CASES}
    return sorted(set(functional.__all__) - covered)
