"""The activation demo — notes 002, "Activation functions" and "Why do you need
non-linear activation functions?": sigmoid, tanh, ReLU, leaky ReLU and the identity on a
non-linear 2-D set (and on images, ``experiment=activation-mnist``); the identity network
is a linear model, W'x + b', no better than logistic regression.

``dlnotes-report <sweep> [--reference <logistic-regression run>]`` adds this demo's table
and decision-boundary grid to the sweep's report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlnotes.experiments.common import (
    Run,
    boundary_panel,
    hidden_sizes,
    image_grid,
    load_model,
    markdown_table,
    pct,
    save_png,
)

HEADER = ["model", "train acc", "val acc", "val loss", "parameters", "fit seconds"]


def _activation_rows(runs: list[Run], reference: list[Run]) -> list[list[Any]]:
    rows = []
    for run in [*runs, *reference]:
        m = run.metrics
        hidden = hidden_sizes(run)
        linear = not hidden or run.cfg.model.get("_target_", "").endswith("LogisticRegression")
        regression = "softmax" if m.get("data") == "mnist5k" else "logistic"
        name = f"{regression} regression" if linear else f"{hidden}, {run.cfg.model.activation}"
        rows.append(
            [name, pct(m["train_acc"]), pct(m["val_acc"]), f"{m['val_loss']:.4f}", m["params"]]
        )
        rows[-1].append(f"{m['seconds']:.1f}")
    return rows


def report(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    reference = reference or []
    panels, titles = [], []
    for run in [*runs, *reference]:
        model, dm = load_model(run)
        panels.append(boundary_panel(model, dm.X_train, dm.y_train))
        label = run.cfg.model.get("activation") if hidden_sizes(run) else "logistic regression"
        titles.append(f"{label}: {100 * run.metrics['val_acc']:.1f}% val")
    save_png(image_grid(panels, titles, ncols=3), out / "decision_boundaries.png")
    return markdown_table(HEADER, _activation_rows(runs, reference))


def report_mnist(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    return markdown_table(HEADER, _activation_rows(runs, reference or []))
