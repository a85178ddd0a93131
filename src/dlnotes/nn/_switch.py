"""The ``backward="manual" | "autograd"`` switch every dlnotes module carries."""

from __future__ import annotations

from types import ModuleType

from torch import nn

from dlnotes.names import BACKWARDS


def ops(backward: str) -> ModuleType:
    """The functional namespace for a backward mode: ours, or PyTorch's twins."""
    if backward == "manual":
        from dlnotes import functional

        return functional
    from dlnotes.functional import reference

    return reference


class Switchable:
    """Mixin: a ``backward`` attribute that picks the functional namespace at call time."""

    _backward: str = "manual"

    @property
    def backward(self) -> str:
        return self._backward

    @backward.setter
    def backward(self, mode: str) -> None:
        if mode not in BACKWARDS:
            raise ValueError(f"backward must be 'manual' or 'autograd', got {mode!r}")
        self._backward = mode

    @property
    def F(self) -> ModuleType:
        return ops(self._backward)


def set_backward(module: nn.Module, mode: str) -> nn.Module:
    """Switch every dlnotes layer inside ``module`` to ``mode`` and return ``module``."""
    if mode not in BACKWARDS:
        raise ValueError(f"backward must be 'manual' or 'autograd', got {mode!r}")
    for m in module.modules():
        if isinstance(m, Switchable):
            m.backward = mode
    return module
