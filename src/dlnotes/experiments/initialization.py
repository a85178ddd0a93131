"""The initialization demo — notes 002, "Random initialization", and notes 001,
"Weight Initialization → xavier, lecun": zeros never break the symmetry of the hidden
units, N(0, 1)·10 saturates/explodes, He (and Xavier, LeCun) train.

The deeplearning.ai "Initialization" assignment, reproduced: circles (300 train / 100
test, noise 0.05), [2, 10, 5, 1] ReLU-ReLU-sigmoid, full-batch gradient descent with
α = 0.01 for 15 000 iterations. Its weights come from ``np.random.seed(3)`` followed by
``np.random.randn(n[l], n[l-1]) * scale`` for l = 1, 2, 3 (biases zero);
:class:`~dlnotes.experiments.callbacks.NumpyInit` draws exactly those
(``callbacks.numpy_init.enabled=true``),
which, with the published data split, makes the whole run the assignment's.

``dlnotes-report <sweep>`` adds the README's tables and figure to the sweep's report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dlnotes import init
from dlnotes.data.spec import DataSpec
from dlnotes.experiments.common import (
    Run,
    fmt,
    markdown_table,
    read_scalars,
    save_png,
)
from dlnotes.models import DeepMLP
from dlnotes.training import plots

PUBLISHED: dict[str, tuple[float, float]] = {
    "zeros": (0.50, 0.50),
    "large": (0.83, 0.86),
    "he": (0.99333, 0.96),
}
"""The assignment's (train, test) accuracy per initialization."""

SCHEME_ORDER = ("zeros", "constant", "large", "small", "xavier", "lecun", "he")
COLORS = {
    "zeros": "#7f7f7f",
    "constant": "#8c564b",
    "large": "#d62728",
    "small": "#bcbd22",
    "xavier": "#9467bd",
    "lecun": "#17becf",
    "he": "#1f77b4",
}


def weight_matrices(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The weight matrices W[1] … W[L] (every 2-D parameter, in layer order)."""
    return [(name, p) for name, p in model.named_parameters() if p.dim() == 2]


# ---------------------------------------------------------------------- measurements
def row_spread(W: torch.Tensor) -> float:
    """max |W[i, j] − mean_i W[i, j]|: 0 exactly when every row of W (every hidden unit's
    incoming weights) is the same — the symmetry that zero/constant init never breaks."""
    W = W.detach().double()
    return float((W - W.mean(dim=0, keepdim=True)).abs().max())


def distinct_rows(W: torch.Tensor, rtol: float = 1e-6) -> int:
    """How many different hidden units W describes: rows equal within ``rtol`` of the
    largest weight count as one (1 for zero/constant init, n[l] once symmetry broke)."""
    W = W.detach().double()
    tol = rtol * max(float(W.abs().max()), 1e-300)
    kept: list[torch.Tensor] = []
    for row in W:
        if all(float((row - other).abs().max()) > tol for other in kept):
            kept.append(row)
    return len(kept)


@torch.no_grad()
def activation_stats(model: DeepMLP, X: torch.Tensor) -> list[dict[str, float]]:
    """Mean and standard deviation of every hidden activation A[1] … A[L-1] on X, then of
    the output logits Z[L]; ``dead`` is the fraction of exact zeros."""
    rows = []
    was_training = model.training
    model.eval()
    try:
        X = X.to(next(model.parameters()).dtype)
        for l, A in enumerate(model.features(X), start=1):
            rows.append(_stats(f"A[{l}]", A))
        rows.append(_stats(f"Z[{len(rows) + 1}]", model(X)))
    finally:
        model.train(was_training)
    return rows


def _stats(layer: str, A: torch.Tensor) -> dict[str, float]:
    A = A.double()
    return {
        "layer": layer,
        "mean": float(A.mean()),
        "std": float(A.std(unbiased=False)),
        "dead": float((A == 0).double().mean()),
    }


def init_statistics(
    X: torch.Tensor,
    Y: torch.Tensor,
    schemes: Sequence[str] = SCHEME_ORDER,
    hidden: Sequence[int] = (10, 5),
    activation: str = "relu",
    seed: int = 0,
    **init_kwargs: float,
) -> dict[str, dict[str, object]]:
    """Per scheme: the activation statistics at initialization and the initial cost J on
    (X, Y) of the demo's network initialized by ``dlnotes.init`` with ``seed``."""
    out: dict[str, dict[str, object]] = {}
    for scheme in schemes:
        model = DeepMLP(X.shape[1], list(hidden), 1, activation)
        kwargs = {"value": 0.5} if scheme == "constant" else {}
        init.apply(model, scheme, seed=seed, **{**kwargs, **init_kwargs})
        with torch.no_grad():
            J = float(model.loss(model(X), Y))
        out[scheme] = {"layers": activation_stats(model, X), "cost": J}
    return out


# --------------------------------------------------------------------------- report
def model_of(run: Run) -> DeepMLP:
    """The run's network with its final weights (``checkpoints/last.ckpt``)."""
    model_cfg = {k: v for k, v in run.get("model", {}).items() if not k.startswith("_")}
    spec = DataSpec(task="binary", kind="tabular", in_features=2, out_features=1, num_classes=2)
    model = DeepMLP.from_data(spec, **model_cfg)
    state = torch.load(run.path / "checkpoints" / "last.ckpt", map_location="cpu")["state_dict"]
    weights = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    model.load_state_dict(weights)
    return model.float().requires_grad_(False)


def scheme_of(run: Run) -> str:
    return str(run.get("init.scheme", "?"))


def numpy_draws(run: Run) -> bool:
    return bool(run.get("callbacks.numpy_init.enabled", False))


def results_table(runs: Sequence[Run]) -> str:
    """Ours beside the published numbers, one row per run."""
    rows = []
    for run in sorted(runs, key=_order):
        scheme = scheme_of(run)
        pub = PUBLISHED.get(scheme)
        weights = (
            "NumPy seed 3 (assignment)"
            if numpy_draws(run)
            else f"dlnotes.init, seed {run.get('seed')}"
        )
        W1 = None
        ckpt = run.path / "checkpoints" / "last.ckpt"
        if ckpt.exists():
            W1 = model_of(run).body[0].weight
        rows.append(
            [
                f"`{scheme}`",
                weights,
                f"{fmt(pub[0], 3)} / {fmt(pub[1], 2)}" if pub else "–",
                f"**{fmt(run.train_acc)} / {fmt(run.metrics.get('test_acc'))}**",
                fmt(run.metrics.get("train_loss"), 4),
                "–" if W1 is None else f"{distinct_rows(W1)} of {W1.shape[0]}",
                run.metrics.get("steps"),
                f"{run.metrics.get('seconds', 0):.0f}",
            ]
        )
    headers = [
        "init",
        "weights drawn by",
        "published train / test acc",
        "ours train / test acc",
        "final cost",
        "distinct rows of W[1]",
        "iterations",
        "fit s",
    ]
    return markdown_table(headers, rows)


def _order(run: Run) -> tuple[int, int, str]:
    scheme = scheme_of(run)
    rank = SCHEME_ORDER.index(scheme) if scheme in SCHEME_ORDER else len(SCHEME_ORDER)
    return (int(numpy_draws(run)), rank, run.path.name)


def stats_table(stats: dict[str, dict[str, object]]) -> str:
    """Activation statistics at initialization, one row per scheme."""
    schemes = list(stats)
    layers = [row["layer"] for row in stats[schemes[0]]["layers"]]  # type: ignore[index]
    headers = ["init", *[f"{name} mean / std" for name in layers], "A[1] zeros", "initial cost"]
    rows = []
    for scheme in schemes:
        entry = stats[scheme]
        cells = [f"{r['mean']:.3g} / {r['std']:.3g}" for r in entry["layers"]]  # type: ignore[union-attr]
        dead = entry["layers"][0]["dead"]  # type: ignore[index]
        rows.append([f"`{scheme}`", *cells, f"{dead:.0%}", f"{entry['cost']:.3g}"])
    return markdown_table(headers, rows)


def figure(
    runs: Sequence[Run], path: str | Path, boundaries: Sequence[str] = ("zeros", "large", "he")
) -> Path:
    """Cost against iterations for every run, and the final decision boundary of the
    runs named in ``boundaries`` (the published three)."""
    from dlnotes.data.toy2d import CirclesDataModule

    runs = sorted(runs, key=_order)
    shown = [r for r in runs if scheme_of(r) in boundaries and not numpy_draws(r)]
    fig = plots.new_figure((3.6 + 2.4 * len(shown), 2.8), dpi=90)
    grid = fig.add_gridspec(1, 1 + len(shown), width_ratios=[1.5] + [1] * len(shown))
    ax = fig.add_subplot(grid[0, 0])
    for run in runs:
        curve = read_scalars(run.path, ["train/loss"]).get("train/loss")
        if curve is None or not len(curve):
            continue
        label = scheme_of(run) + (" (NumPy draws)" if numpy_draws(run) else "")
        style = "--" if numpy_draws(run) else "-"
        color = COLORS.get(scheme_of(run), "k")
        ax.plot(curve[:, 0] + 1, curve[:, 1], label=label, lw=0.8, ls=style, color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("iteration + 1")
    ax.set_ylabel("training cost J")
    ax.set_title("cost, full-batch GD, α = 0.01", fontsize=9)
    ax.legend(fontsize=6, ncol=2, framealpha=0.9)
    dm = CirclesDataModule(split="published")
    X, y = dm.X_train, dm.y_train
    for k, run in enumerate(shown, start=1):
        axb = fig.add_subplot(grid[0, k])
        _boundary(axb, model_of(run), X, y)
        test = run.metrics.get("test_acc")
        axb.set_title(
            f"{scheme_of(run)}: train {fmt(run.train_acc, 2)}, test {fmt(test, 2)}", fontsize=9
        )
    return save_png(fig, path)


@torch.no_grad()
def _boundary(ax: Any, model: nn.Module, X: torch.Tensor, y: torch.Tensor, n: int = 100) -> None:
    lo, hi = X.min(0).values - 0.2, X.max(0).values + 0.2
    xs, ys = (
        torch.linspace(float(lo[0]), float(hi[0]), n),
        torch.linspace(float(lo[1]), float(hi[1]), n),
    )
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    model.eval()
    Z = model(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)).reshape(n, n)
    extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    ax.imshow(
        (Z > 0).float().numpy(),
        origin="lower",
        extent=extent,
        cmap=plots.PLAYGROUND_CMAP,
        alpha=0.45,
        aspect="auto",
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    colors = np.where(y.numpy() > 0.5, plots.PLAYGROUND_BLUE, plots.PLAYGROUND_ORANGE)
    ax.scatter(X[:, 0].numpy(), X[:, 1].numpy(), c=colors, s=5, linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])


def report(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    """The README's tables (accuracies, initial activation statistics) and its figure."""
    from dlnotes.data.toy2d import CirclesDataModule

    runs = [*runs, *(reference or [])]
    dm = CirclesDataModule(split="published")
    stats = stats_table(init_statistics(dm.X_train, dm.y_train))
    figure(runs, out / "initialization.png")
    return f"{results_table(runs)}\n\n{stats}"
