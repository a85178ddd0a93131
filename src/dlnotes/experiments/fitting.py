"""The fitting demo — notes 001/002 on bias and variance: under-fit (high train and val
loss), good fit, over-fit (~100 % train accuracy, a val gap, a U-shaped val loss), and
the remedies (``experiment=fitting-remedies``: weight decay, dropout, early stopping, more
data, augmentation).

``dlnotes-report <sweep>`` adds this demo's table and train/val curves to the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from dlnotes.experiments.common import Run, hidden_sizes, markdown_table, pct, save_png
from dlnotes.training import plots


def _fit_label(run: Run) -> str:
    size = run.cfg.data.get("train_size")
    return f"hidden={hidden_sizes(run)}, m={size if size is not None else 'all'}"


def _fit_rows(runs: list[Run], labels: Callable[[Run], str]) -> list[list[Any]]:
    rows = []
    for run in runs:
        steps, val = run.curve("val_loss")
        best = int(np.argmin(val))
        last = run.history[-1]
        rows.append(
            [
                labels(run),
                run.cfg.data.get("train_size") or "all",
                f"{last['train_loss']:.3f}",
                pct(last["train_acc"]),
                f"{last['val_loss']:.3f}",
                pct(last["val_acc"]),
                f"{val[best]:.3f} @ {int(steps[best])}",
                f"{100 * (last['train_acc'] - last['val_acc']):.1f}",
                run.metrics["steps"],
                f"{run.metrics['seconds']:.1f}",
            ]
        )
    return rows


FIT_HEADER = [
    "run",
    "m (train)",
    "train loss",
    "train acc",
    "val loss",
    "val acc",
    "min val loss @ step",
    "gap (points)",
    "steps",
    "fit seconds",
]


def _curves_grid(runs: list[Run], titles: list[str], ncols: int) -> Figure:
    nrows = math.ceil(len(runs) / ncols)
    fig = plots.new_figure((3.6 * ncols, 2.7 * nrows))
    top = max(max(run.curve("val_loss")[1].max(), run.curve("train_loss")[1].max()) for run in runs)
    right = max(run.curve("val_loss")[0].max() for run in runs)
    for k, (run, title) in enumerate(zip(runs, titles)):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        ax.plot(*run.curve("train_loss"), color=plots.PLAYGROUND_BLUE, label="train")
        steps, val = run.curve("val_loss")
        ax.plot(steps, val, color=plots.PLAYGROUND_ORANGE, label="validation")
        best = int(np.argmin(val))
        ax.plot(steps[best], val[best], "o", color="k", ms=4, label="min val loss")
        ax.set_ylim(0, min(top * 1.05, 2.5))
        ax.set_xlim(0, right)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("cross-entropy", fontsize=8)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=7)
    return fig


def _regime(run: Run) -> str:
    last = run.history[-1]
    _, val = run.curve("val_loss")
    if last["train_loss"] > 0.5:
        return "under-fit"
    if last["train_acc"] >= 0.99 and last["val_loss"] > 1.2 * val.min():
        return "over-fit"
    return "good fit"


def report(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    rows = _fit_rows(runs, lambda r: f"{_regime(r)}: {_fit_label(r)}")
    titles = [f"{_regime(r)} — {_fit_label(r)}" for r in runs]
    save_png(_curves_grid(runs, titles, ncols=2), out / "curves.png")
    return markdown_table(FIT_HEADER, rows)


def _remedy(run: Run) -> str:
    name = run.override("experiment/fitting-remedies", "none") or "none"
    model = run.cfg.model._target_.split(".")[-2]
    return name if model == "DeepMLP" else f"{name} ({model})"


def report_remedies(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    rows = _fit_rows(runs, _remedy)
    save_png(_curves_grid(runs, [_remedy(r) for r in runs], ncols=3), out / "remedies.png")
    return markdown_table(FIT_HEADER, rows)
