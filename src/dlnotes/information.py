"""Entropy, cross-entropy and KL divergence of discrete distributions — notes 000 ("Cross
Entropy Loss, KL Divergence, Relation between KL Divergence and Entropy"), notes 001 (KL
built up from ratios) and notes 003 (worked example in bits).

All functions take probability vectors along the last dimension; ``base`` selects the unit:
e (nats, the default), 2 (bits), or any positive base. Terms with p(x) = 0 contribute 0
(the limit p log p → 0).
"""

from __future__ import annotations

import math

import torch


def _as_tensor(p: torch.Tensor | list[float]) -> torch.Tensor:
    t = torch.as_tensor(p)
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


def _log(x: torch.Tensor, base: float | None) -> torch.Tensor:
    if base is None or base == math.e:
        return torch.log(x)
    if base <= 0 or base == 1:
        raise ValueError(f"base must be positive and not 1, got {base}")
    return torch.log(x) / math.log(base)


def entropy(p: torch.Tensor | list[float], base: float | None = None) -> torch.Tensor:
    """H(P) = −Σ_x P(x) log P(x)."""
    p = _as_tensor(p)
    # H(P) = −Σ P log P   (0 log 0 := 0)
    return -torch.where(p > 0, p * _log(p, base), torch.zeros_like(p)).sum(-1)


def cross_entropy(
    p: torch.Tensor | list[float], q: torch.Tensor | list[float], base: float | None = None
) -> torch.Tensor:
    """H(P, Q) = −Σ_x P(x) log Q(x): the cost of coding P with a code built for Q."""
    p, q = _as_tensor(p), _as_tensor(q)
    # H(P, Q) = −Σ P log Q
    return -torch.where(p > 0, p * _log(q, base), torch.zeros_like(p)).sum(-1)


def kl_divergence(
    p: torch.Tensor | list[float], q: torch.Tensor | list[float], base: float | None = None
) -> torch.Tensor:
    """D_KL(P ‖ Q) = Σ_x P(x) log(P(x) / Q(x)) = H(P, Q) − H(P); asymmetric, ≥ 0."""
    p, q = _as_tensor(p), _as_tensor(q)
    # D_KL(P‖Q) = Σ P log(P / Q)
    return torch.where(p > 0, p * _log(p / q, base), torch.zeros_like(p)).sum(-1)
