"""The loss-choice demo — notes 002, logistic regression's cost: "we don't use MSE …
it makes the optimization problem non-convex". Sigmoid + MSE multiplies the pull of every
point by σ'(Z) = A(1 − A); the cross-entropy cancels it (dZ = A − Y).

``dlnotes-report <sweep>`` adds this demo's table and figure (accuracy, the median σ'(Z)
of the misclassified points, both costs along a line in parameter space).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dlnotes.experiments.common import Run, load_model, markdown_table, pct, save_png
from dlnotes.training import plots

SHOWN_SEED = 1
"""The seed whose runs the figure draws (the table lists every seed)."""


def _sci(value: float | None) -> str:
    return "— (none wrong)" if value is None else f"{value:.1e}"


def _loss_label(run: Run) -> str:
    return f"{run.cfg.model.loss.upper()}, init={run.cfg.init.scheme}"


def report(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    seed = SHOWN_SEED
    rows = []
    for run in runs:
        first, last = run.history[0], run.history[-1]
        rows.append(
            [
                run.cfg.seed,
                run.cfg.init.scheme,
                run.cfg.model.loss.upper(),
                pct(first["train_acc"]),
                pct(last["train_acc"]),
                pct(last["val_acc"]),
                _sci(first.get("train_wrong_slope")),
                _sci(last.get("train_wrong_slope")),
                run.metrics["steps"],
            ]
        )
    shown = [r for r in runs if r.cfg.seed == seed] or runs
    fig = plots.new_figure((12.0, 3.6))
    ax_acc, ax_slope, ax_land = (fig.add_subplot(1, 3, k) for k in (1, 2, 3))
    styles = {"small": "-", "large": "--"}
    colors = {"bce": plots.PLAYGROUND_BLUE, "mse": plots.PLAYGROUND_ORANGE}
    for run in shown:
        style = dict(
            ls=styles.get(run.cfg.init.scheme, ":"), color=colors.get(run.cfg.model.loss, "k")
        )
        ax_acc.plot(*run.curve("train_acc"), label=_loss_label(run), **style)
        ax_slope.plot(*run.curve("train_wrong_slope"), **style)
    ax_acc.set(xlabel="gradient-descent step", ylabel="training accuracy", ylim=(0, 1.02))
    ax_acc.set_title(f"accuracy (seed {seed})", fontsize=10)
    ax_acc.legend(fontsize=8)
    ax_slope.set(xlabel="gradient-descent step", ylabel="median σ'(Z) of the wrong points")
    ax_slope.set_yscale("log")
    ax_slope.set_title("MSE multiplies their pull by σ'(Z)", fontsize=10)
    _loss_landscape(ax_land, shown)
    save_png(fig, out / "curves.png")
    header = [
        "seed",
        "init",
        "loss",
        "train acc at step 0",
        "train acc at end",
        "val acc at end",
        "median σ'(Z) of the wrong points at 0",
        "… at end",
        "steps",
    ]
    return markdown_table(header, rows)


def _loss_landscape(ax: Any, runs: list[Run]) -> None:
    """Both costs along the line t·θ through the origin of parameter space, θ the weights
    the BCE run from the small initialization ended with (normalized): BCE is convex in
    t, sigmoid + MSE flattens into plateaus where every point is saturated."""
    done = [r for r in runs if r.cfg.model.loss == "bce" and r.cfg.init.scheme == "small"]
    if not done:
        return
    model, dm = load_model(done[0])
    X, y = dm.X_train.double(), dm.y_train.double()
    W, b = model.linear.weight.detach().double(), model.linear.bias.detach().double()
    norm = torch.sqrt((W**2).sum() + b**2).item()
    t = torch.linspace(-15, 15, 301, dtype=torch.float64)
    Z = t[:, None] * ((X @ W.t()).squeeze(1) + b)[None, :] / norm
    A = torch.sigmoid(Z)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        Z, y.expand_as(Z), reduction="none"
    ).mean(1)
    mse = ((A - y) ** 2).mean(1)
    ax.plot(t, bce, color=plots.PLAYGROUND_BLUE, label="BCE (convex)")
    ax.plot(t, mse, color=plots.PLAYGROUND_ORANGE, label="MSE of σ (plateaus)")
    ax.set(xlabel="t  (parameters = t · θ̂)", ylabel="cost J", ylim=(0, 2.0))
    ax.set_title("J along one line in parameter space", fontsize=10)
    ax.legend(fontsize=8)
