"""Arguments for every op of :mod:`dlnotes.functional`, from tensor factories the caller
picks (meta tensors, random CPU tensors, …), and a forward + backward of one op: the
device and mixed-precision tests run every op through these."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

Make = Callable[..., torch.Tensor]
Case = tuple[str, Callable[[], tuple]]


def op_cases(x: Make, labels: Make) -> dict[str, Case]:
    """Case name → (op name, a builder of the op's arguments): one case per op (named as
    the op), then other forms of some ops (other branches of their code).

    ``x(*shape)`` makes a float tensor, ``labels(*shape, classes=C)`` int64 class indices.
    """
    cases: dict[str, Callable[[], tuple]] = {
        "linear": lambda: (x(4, 5), x(3, 5), x(3)),
        "identity": lambda: (x(4, 5),),
        "sigmoid": lambda: (x(4, 5),),
        "tanh": lambda: (x(4, 5),),
        "relu": lambda: (x(4, 5),),
        "leaky_relu": lambda: (x(4, 5), 0.1),
        "softmax": lambda: (x(4, 5), 1),
        "dropout": lambda: (x(4, 5), 0.5, True),
        "batch_norm": lambda: (x(4, 5, 3, 3), x(5).zero_(), x(5).fill_(1), x(5), x(5), True),
        "conv2d": lambda: (x(2, 3, 8, 7), x(4, 3, 3, 2), x(4), (2, 1), 1),
        "max_pool2d": lambda: (x(2, 3, 8, 8), 2),
        "avg_pool2d": lambda: (x(2, 3, 8, 8), 2),
        "mse_loss": lambda: (x(4, 5), x(4, 5)),
        "binary_cross_entropy_with_logits": lambda: (x(4, 1), x(4, 1)),
        "cross_entropy": lambda: (x(4, 5), labels(4, classes=5)),
        "elman_rnn": lambda: (x(3, 6, 4), x(3, 5), x(5, 4), x(5, 5), x(5), x(5)),
    }
    variants: dict[str, Case] = {
        "batch_norm, (m, n), eval": (
            "batch_norm",
            lambda: (x(4, 5), x(5).zero_(), x(5).fill_(1), x(5), x(5), False),
        ),
        "batch_norm, no running statistics": (
            "batch_norm",
            lambda: (x(4, 5), None, None, None, None, True),
        ),
        "cross_entropy, (m, C, T)": (
            "cross_entropy",
            lambda: (x(3, 5, 6), labels(3, 6, classes=5)),
        ),
        "elman_rnn, relu, no h0, no bias": (
            "elman_rnn",
            lambda: (x(3, 6, 4), None, x(5, 4), x(5, 5), None, None, "relu"),
        ),
    }
    return {**{name: (name, make) for name, make in cases.items()}, **variants}


# arguments that take no gradient: batch norm's running statistics
NO_GRAD = {"batch_norm": {1, 2}}


def with_grads(name: str, args: tuple) -> list:
    """The arguments of op ``name``, float tensors as fresh leaves that require a
    gradient (copies, so that two runs start from the same values)."""
    return [
        a.detach().clone().requires_grad_(i not in NO_GRAD.get(name, ()))
        if torch.is_tensor(a) and a.is_floating_point()
        else a
        for i, a in enumerate(args)
    ]


def run_op(
    fn: Callable[..., torch.Tensor | tuple],
    args: list,
    region: contextlib.AbstractContextManager | None = None,
) -> tuple[list, list]:
    """Forward (in ``region``, e.g. an autocast region, when given), then backward of the
    sum of the outputs (outside it, as a training loop does); (outputs, gradients of the
    inputs that require one)."""
    with region or contextlib.nullcontext():
        out = fn(*args)
    outputs = list(out) if isinstance(out, tuple) else [out]
    sum(o.float().sum() for o in outputs).backward()
    grads = [a.grad for a in args if torch.is_tensor(a) and a.requires_grad]
    return outputs, grads
