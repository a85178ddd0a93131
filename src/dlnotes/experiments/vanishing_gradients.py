"""The vanishing-gradients demo — notes 002 ("sigmoid or arctan activations … suffer
from vanishing gradients once they reach the saturation regions"; ReLU "provides
consistent gradient") and notes 001 ("Solving gradient problem → proper activation
function, Batch-Normalization").

Backpropagation multiplies, layer after layer, dA[l-1] = W[l]ᵀ (dA[l] ⊙ g'(Z[l])). With
σ'(z) ≤ 1/4 and Xavier weights every sigmoid layer shrinks the gradient by a few times,
so after ten layers the first weight matrix gets ~10⁻⁶ of the last one's gradient. The
ratio ‖∂J/∂W[1]‖ / ‖∂J/∂W[L]‖ is read from the ``grad_norm/<param>`` scalars that
:class:`dlnotes.training.callbacks.ParameterNorms` logs.

``dlnotes-report <sweep>`` adds the README's table and figure to the sweep's report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dlnotes.experiments.common import (
    Run,
    fmt,
    markdown_table,
    read_scalars,
    save_png,
)
from dlnotes.models import DeepMLP
from dlnotes.training import plots

COLORS = {"sigmoid": "#d62728", "tanh": "#2ca02c", "relu": "#1f77b4"}
ACTIVATIONS = ("sigmoid", "tanh", "relu")


def weight_names(hidden: Sequence[int], activation: str, batch_norm: bool) -> list[str]:
    """Names of W[1] … W[L] in a DeepMLP (every 2-D parameter; batch norm's γ is 1-D)."""
    model = DeepMLP(2, list(hidden), 1, activation, batch_norm=batch_norm)
    return [name for name, p in model.named_parameters() if p.dim() == 2]


def grad_norms(run_dir: str | Path, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Steps (n,) and ‖∂J/∂W[l]‖ (n, L) read from ``grad_norm/<name>``; only the steps
    at which every layer was logged."""
    scalars = read_scalars(run_dir, [f"grad_norm/{n}" for n in names])
    series = [scalars.get(f"grad_norm/{n}") for n in names]
    if any(s is None or not len(s) for s in series):
        return np.zeros(0), np.zeros((0, len(names)))
    steps = sorted(set.intersection(*(set(s[:, 0].tolist()) for s in series)))  # type: ignore[union-attr]
    table = np.array(
        [[s[s[:, 0] == step, 1][-1] for s in series] for step in steps]  # type: ignore[index]
    )
    return np.array(steps), table


def first_last_ratio(norms: np.ndarray) -> np.ndarray:
    """‖∂J/∂W[1]‖ / ‖∂J/∂W[L]‖ at every logged step."""
    return norms[:, 0] / norms[:, -1]


def _setting(run: Run) -> tuple[str, bool, str]:
    return (
        str(run.get("model.activation")),
        bool(run.get("model.batch_norm")),
        str(run.get("init.scheme")),
    )


def _order(run: Run) -> tuple[int, int, str]:
    act, bn, scheme = _setting(run)
    return (int(bn), ACTIVATIONS.index(act) if act in ACTIVATIONS else 9, scheme)


def run_norms(run: Run) -> tuple[np.ndarray, np.ndarray]:
    act, bn, _ = _setting(run)
    return grad_norms(run.path, weight_names(run.get("model.hidden"), act, bn))


def results_table(runs: Sequence[Run]) -> str:
    rows = []
    for run in sorted(runs, key=_order):
        act, bn, scheme = _setting(run)
        steps, norms = run_norms(run)
        if not len(steps):
            continue
        ratios = first_last_ratio(norms)
        rows.append(
            [
                act,
                "yes" if bn else "no",
                scheme,
                f"{norms[0, 0]:.1e}",
                f"{norms[0, -1]:.1e}",
                f"**{ratios[0]:.1e}**",
                f"{np.median(ratios[len(ratios) // 2 :]):.1e}",
                fmt(run.train_acc, 2),
                fmt((run.train_eval or {}).get("train_loss", run.metrics.get("train_loss")), 3),
            ]
        )
    headers = [
        "activation",
        "batch norm",
        "init",
        "‖∂J/∂W[1]‖ step 0",
        "‖∂J/∂W[11]‖ step 0",
        "first / last, step 0",
        "first / last, 2nd half (median)",
        "train acc",
        "final cost",
    ]
    return markdown_table(headers, rows)


def _style(bn: bool, scheme: str) -> str:
    return {(False, "xavier"): "-", (False, "he"): "--", (True, "xavier"): ":"}.get(
        (bn, scheme), "-."
    )


def figure(runs: Sequence[Run], path: str | Path) -> Path:
    """Per-layer gradient norms at step 0 (without / with batch norm) and the first/last
    ratio during training."""
    fig = plots.new_figure((11.0, 3.3), dpi=90)
    ax_plain, ax_bn, ax_ratio = fig.subplots(1, 3)
    ax_bn.sharey(ax_plain)
    for run in sorted(runs, key=_order):
        act, bn, scheme = _setting(run)
        steps, norms = run_norms(run)
        if not len(steps):
            continue
        color, style = COLORS.get(act, "k"), _style(bn, scheme)
        label = f"{act}, {scheme}" + (", BN" if bn else "")
        ax = ax_bn if bn else ax_plain
        layers = np.arange(1, norms.shape[1] + 1)
        ax.plot(layers, norms[0], ls=style, color=color, marker="o", ms=2.5, lw=1.1, label=label)
        ax_ratio.plot(steps, first_last_ratio(norms), ls=style, color=color, lw=1.0, label=label)
    for ax, title in ((ax_plain, "no batch norm"), (ax_bn, "with batch norm")):
        ax.set_yscale("log")
        ax.set_xlabel("layer l (W[l])")
        ax.set_title(f"‖∂J/∂W[l]‖ at step 0, {title}", fontsize=9)
        ax.legend(fontsize=6.5)
    ax_plain.set_ylabel("gradient norm")
    ax_ratio.set_yscale("log")
    ax_ratio.set_xlabel("step")
    ax_ratio.set_title("‖∂J/∂W[1]‖ / ‖∂J/∂W[11]‖ during training", fontsize=9)
    return save_png(fig, path)


def report(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    """The README's table and figure."""
    runs = [*runs, *(reference or [])]
    figure(runs, out / "vanishing-gradients.png")
    return results_table(runs)
