"""Turn finished sweeps of the experiment suite into the tables and figures of their
READMEs (``experiments/<name>/README.md``).

    python -m dlnotes.experiments.report planar outputs/multirun/<date>/<time>_<id>
    python -m dlnotes.experiments.report activation <sweep> --reference <logreg run>

Each demo reads the run folders a sweep left (``metrics.json``, ``history.json`` from
:class:`dlnotes.experiments.callbacks.History`, ``.hydra/`` and, for the figures of
models, ``checkpoints/last.ckpt``), prints a Markdown table and writes a PNG into
``--out`` (default ``experiments/<name>/``), colour-quantized to stay a few tens of KB.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from dlnotes.training import plots

# ----------------------------------------------------------------------- loading runs


@dataclass
class Run:
    """One finished run folder."""

    path: Path
    cfg: DictConfig
    overrides: list[str]
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    def override(self, key: str, default: str | None = None) -> str | None:
        """The value given to ``key`` on the command line (or by the sweep), as typed."""
        for item in self.overrides:
            name, _, value = item.lstrip("+~").partition("=")
            if name == key:
                return value
        return default

    def curve(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of a ``history.json`` column (missing values dropped)."""
        pairs = [(r["step"], r[key]) for r in self.history if r.get(key) is not None]
        steps, values = zip(*pairs) if pairs else ((), ())
        return np.asarray(steps, dtype=float), np.asarray(values, dtype=float)


def load_run(path: str | Path) -> Run:
    path = Path(path)
    hydra_dir = path / ".hydra"
    cfg = OmegaConf.load(hydra_dir / "config.yaml")
    overrides_file = hydra_dir / "overrides.yaml"
    overrides = list(OmegaConf.load(overrides_file)) if overrides_file.exists() else []
    metrics = json.loads((path / "metrics.json").read_text())
    history_file = path / "history.json"
    history = json.loads(history_file.read_text())["records"] if history_file.exists() else []
    assert isinstance(cfg, DictConfig)
    return Run(path, cfg, [str(o) for o in overrides], metrics, history)


def load_sweep(sweep_dir: str | Path) -> list[Run]:
    """Every finished run (a folder with ``metrics.json``) of a sweep, in job order."""
    folders = [p for p in Path(sweep_dir).iterdir() if (p / "metrics.json").exists()]

    def job(p: Path) -> tuple[int, str]:
        head = p.name.split("_", 1)[0]
        return (int(head) if head.isdigit() else 10**9, p.name)

    return [load_run(p) for p in sorted(folders, key=job)]


def load_model(run: Run, checkpoint: str = "last.ckpt") -> tuple[torch.nn.Module, Any]:
    """The run's model with the weights of ``checkpoints/<checkpoint>``, and its data."""
    from dlnotes.training.run import build_model

    datamodule = instantiate(run.cfg.data)
    datamodule.setup()
    model = build_model(run.cfg, datamodule)
    state = torch.load(run.path / "checkpoints" / checkpoint, map_location="cpu")["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    return model.eval(), datamodule


# ----------------------------------------------------------------------- output


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 0.01 and value != 0 else f"{value:.3f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def save_png(fig: Figure, path: str | Path, colors: int = 32) -> Path:
    """Render ``fig`` and save it as a palette PNG of ``colors`` colours (small files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(plots.figure_to_image(fig))
    image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


def image_grid(
    images: Sequence[np.ndarray], titles: Sequence[str], ncols: int, width: float = 2.9
) -> Figure:
    """Already-rendered panels (H, W, 3) side by side, ``ncols`` per row, with titles."""
    nrows = math.ceil(len(images) / ncols)
    h, w = images[0].shape[:2]
    fig = plots.new_figure((width * ncols, width * h / w * nrows + 0.35 * nrows), dpi=100)
    for k, (image, title) in enumerate(zip(images, titles)):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        ax.imshow(image, interpolation="antialiased")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    return fig


def boundary_panel(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """The decision-boundary figure of ``model`` on (X, y), rendered small, no title."""
    fig = plots.decision_boundary_figure(model, X, y, resolution=150)
    fig.set_size_inches(4.2, 3.45)
    return plots.figure_to_image(fig)


def _hidden(run: Run) -> list[int]:
    return list(run.cfg.model.get("hidden") or [])


# ----------------------------------------------------------------------- the demos

# deeplearning.ai, "Planar data classification with one hidden layer": training accuracy
# (%) on its 400 points; sklearn's LogisticRegressionCV for the linear model, 5 000
# iterations of gradient descent for the n_h sweep (section 6), 10 000 for n_h = 4
# (section 4.4, printed "Accuracy: 90%" with %d).
PLANAR_PUBLISHED = {0: 47.0, 1: 67.5, 2: 67.25, 3: 90.75, 4: 90.5, 5: 91.25, 20: 90.5, 50: 90.75}
# the same notebook, section 4.4: "Cost after iteration i" of n_h = 4 (expected output)
PLANAR_PUBLISHED_COSTS = {
    0: 0.693048,
    1000: 0.288083,
    2000: 0.254385,
    3000: 0.233864,
    4000: 0.226792,
    5000: 0.222644,
    6000: 0.219731,
    7000: 0.217504,
    8000: 0.219454,
    9000: 0.218607,
}


def planar(runs: list[Run], out: Path, **_: Any) -> str:
    """Accuracy after the last update on the 400 training points (the assignment's
    ``predict`` after ``nn_model``), from history.json; the decision-boundary grid."""
    rows, panels, titles = [], [], []
    for run in runs:
        hidden = _hidden(run)
        n_h = hidden[0] if hidden else 0
        name = f"n_h = {n_h}" if hidden else "logistic regression"
        m, last = run.metrics, run.history[-1]
        rows.append(
            [
                name,
                f"{PLANAR_PUBLISHED.get(n_h, float('nan')):.2f}%",
                pct(last["train_acc"]),
                pct(last["val_acc"]),
                pct(m["test_acc"]),
                f"{last['train_loss']:.6f}",
                last["step"],
                f"{m['seconds']:.1f}",
            ]
        )
        model, dm = load_model(run)
        panels.append(boundary_panel(model, dm.X_train, dm.y_train))
        titles.append(f"{name}: {100 * last['train_acc']:.2f}% train")
    header = [
        "model",
        "published train acc",
        "ours: train acc",
        "val acc",
        "test acc",
        "train cost J",
        "iterations",
        "fit seconds",
    ]
    save_png(image_grid(panels, titles, ncols=4), out / "decision_boundaries.png")
    tables = [markdown_table(header, rows)]
    for run in runs:
        costs = {r["step"]: r["train_loss"] for r in run.history}
        if _hidden(run) == [4] and all(i in costs for i in PLANAR_PUBLISHED_COSTS):
            cost_rows = [
                [i, f"{c:.6f}", f"{costs[i]:.6f}"] for i, c in PLANAR_PUBLISHED_COSTS.items()
            ]
            tables.append(markdown_table(["iteration", "published cost", "ours"], cost_rows))
    return "\n\n".join(tables)


def _activation_rows(runs: list[Run], reference: list[Run]) -> list[list[Any]]:
    rows = []
    for run in [*runs, *reference]:
        m = run.metrics
        hidden = _hidden(run)
        linear = not hidden or run.cfg.model.get("_target_", "").endswith("LogisticRegression")
        regression = "softmax" if m.get("data") == "mnist5k" else "logistic"
        name = f"{regression} regression" if linear else f"{hidden}, {run.cfg.model.activation}"
        rows.append(
            [name, pct(m["train_acc"]), pct(m["val_acc"]), f"{m['val_loss']:.4f}", m["params"]]
        )
        rows[-1].append(f"{m['seconds']:.1f}")
    return rows


def activation(runs: list[Run], out: Path, reference: list[Run] | None = None, **_: Any) -> str:
    reference = reference or []
    panels, titles = [], []
    for run in [*runs, *reference]:
        model, dm = load_model(run)
        panels.append(boundary_panel(model, dm.X_train, dm.y_train))
        label = run.cfg.model.get("activation") if _hidden(run) else "logistic regression"
        titles.append(f"{label}: {100 * run.metrics['val_acc']:.1f}% val")
    save_png(image_grid(panels, titles, ncols=3), out / "decision_boundaries.png")
    header = ["model", "train acc", "val acc", "val loss", "parameters", "fit seconds"]
    return markdown_table(header, _activation_rows(runs, reference))


def activation_mnist(
    runs: list[Run], out: Path, reference: list[Run] | None = None, **_: Any
) -> str:
    header = ["model", "train acc", "val acc", "val loss", "parameters", "fit seconds"]
    return markdown_table(header, _activation_rows(runs, reference or []))


def _sci(value: float | None) -> str:
    return "— (none wrong)" if value is None else f"{value:.1e}"


def _loss_label(run: Run) -> str:
    return f"{run.cfg.model.loss.upper()}, init={run.cfg.init.scheme}"


def loss_choice(runs: list[Run], out: Path, seed: int = 1, **_: Any) -> str:
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


def _fit_label(run: Run) -> str:
    size = run.cfg.data.get("train_size")
    return f"hidden={_hidden(run)}, m={size if size is not None else 'all'}"


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


def fitting(runs: list[Run], out: Path, **_: Any) -> str:
    rows = _fit_rows(runs, lambda r: f"{_regime(r)}: {_fit_label(r)}")
    titles = [f"{_regime(r)} — {_fit_label(r)}" for r in runs]
    save_png(_curves_grid(runs, titles, ncols=2), out / "curves.png")
    return markdown_table(FIT_HEADER, rows)


def _remedy(run: Run) -> str:
    name = run.override("experiment/fitting_remedies", "none") or "none"
    model = run.cfg.model._target_.split(".")[-2]
    return name if model == "DeepMLP" else f"{name} ({model})"


def fitting_remedies(runs: list[Run], out: Path, **_: Any) -> str:
    rows = _fit_rows(runs, _remedy)
    save_png(_curves_grid(runs, [_remedy(r) for r in runs], ncols=3), out / "remedies.png")
    return markdown_table(FIT_HEADER, rows)


FOLDERS = {"activation_mnist": "activation", "fitting_remedies": "fitting"}
"""Demos whose report goes into another demo's folder."""

DEMOS: dict[str, Callable[..., str]] = {
    "planar": planar,
    "activation": activation,
    "activation_mnist": activation_mnist,
    "loss_choice": loss_choice,
    "fitting": fitting,
    "fitting_remedies": fitting_remedies,
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demo", choices=sorted(DEMOS))
    parser.add_argument("sweeps", nargs="+", type=Path, help="sweep folder(s) of the demo")
    parser.add_argument(
        "--reference", nargs="*", type=Path, default=[], help="single run folders to add"
    )
    parser.add_argument("--out", type=Path, default=None, help="default experiments/<demo>")
    args = parser.parse_args(argv)
    runs = [run for sweep in args.sweeps for run in load_sweep(sweep)]
    reference = [load_run(p) for p in args.reference]
    out = args.out or Path("experiments") / FOLDERS.get(args.demo, args.demo)
    torch.set_grad_enabled(False)
    print(DEMOS[args.demo](runs, out, reference=reference))


if __name__ == "__main__":
    main()
