"""What every demo of the suite shares: reading a finished sweep back, tables, figures.

``metrics.json`` keeps ``train_acc`` as Lightning logged it: the mean over the last
epoch's batches, each scored *before* its own update. The course's tables score the
*final* parameters on the whole training set; :class:`TrainSetEval` computes exactly that
at the end of fit and writes it to ``train_eval.json`` beside ``metrics.json``
(:class:`dlnotes.experiments.callbacks.History` records whole curves of such scores).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf

from dlnotes.experiments.callbacks import evaluate
from dlnotes.training import plots
from dlnotes.training.callbacks import tensorboard_logger

TRAIN_EVAL_FILE = "train_eval.json"


class TrainSetEval(Callback):
    """Score the final parameters on the whole training set when fit ends.

    Writes ``{"train_loss", "train_acc", "step"}`` to ``<trainer.default_root_dir>/
    train_eval.json`` (the run folder under ``dlnotes-train``), logs ``final/train_loss``
    and ``final/train_acc`` to TensorBoard, and keeps the dict in ``self.result``.
    Needs a datamodule with ``X_train`` / ``y_train`` and a dlnotes classification model.
    """

    def __init__(self) -> None:
        super().__init__()
        self.result: dict[str, float] | None = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        dm = getattr(trainer, "datamodule", None)
        model = getattr(pl_module, "model", pl_module)
        if dm is None or not hasattr(dm, "X_train") or not hasattr(model, "predict"):
            return
        scores = evaluate(model, dm.X_train, dm.y_train, dm.spec.task)
        result: dict[str, Any] = {"train_loss": scores["loss"], "train_acc": scores.get("acc")}
        result["step"] = trainer.global_step
        self.result = result
        if trainer.is_global_zero:
            path = Path(trainer.default_root_dir) / TRAIN_EVAL_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=2) + "\n")
        logger = tensorboard_logger(trainer)
        if logger is not None and trainer.is_global_zero:
            for key in ("train_loss", "train_acc"):
                if result[key] is not None:
                    logger.experiment.add_scalar(f"final/{key}", result[key], trainer.global_step)


# ------------------------------------------------------------------ reading runs back
@dataclass
class Run:
    """One finished run folder: its metrics, its overrides and its composed config."""

    path: Path
    metrics: dict[str, Any]
    overrides: list[str]
    config: dict[str, Any]
    train_eval: dict[str, Any] | None = None
    choices: dict[str, str] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    """The records of :class:`~dlnotes.experiments.callbacks.History` (history.json)."""

    @property
    def cfg(self) -> DictConfig:
        """The composed config as an OmegaConf node (attribute access, ``.get``)."""
        return OmegaConf.create(self.config)

    def override(self, key: str, default: str | None = None) -> str | None:
        """The value given to ``key`` on the command line (or by the sweep), if any."""
        for item in self.overrides:
            name, _, value = item.lstrip("+~").partition("=")
            if name == key:
                return value
        return default

    def get(self, dotted: str, default: Any = None) -> Any:
        """A value of the composed config by dotted path, e.g. ``model.activation``."""
        node: Any = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    @property
    def train_acc(self) -> float | None:
        """Final-parameter training accuracy when recorded, else metrics.json's."""
        if self.train_eval is not None:
            return self.train_eval["train_acc"]
        return self.metrics.get("train_acc")

    def curve(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of a ``history.json`` column (missing values dropped)."""
        pairs = [(r["step"], r[key]) for r in self.history if r.get(key) is not None]
        steps, values = zip(*pairs) if pairs else ((), ())
        return np.asarray(steps, dtype=float), np.asarray(values, dtype=float)


def _yaml(path: Path) -> Any:
    """A YAML file as plain containers, unresolved (None when missing)."""
    if not path.exists():
        return None
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def load_run(path: str | Path, config: DictConfig | None = None) -> Run:
    """Read ``metrics.json``, ``train_eval.json``, ``history.json`` and ``.hydra/`` of one
    run folder.

    config: the composed config of the run when it has no ``.hydra/`` folder (a run
            started with :func:`dlnotes.training.run.train` rather than the CLI).
    """
    path = Path(path)
    metrics = json.loads((path / "metrics.json").read_text())
    hydra_dir = path / ".hydra"
    overrides = _yaml(hydra_dir / "overrides.yaml") or list(metrics.get("overrides", []))
    if config is not None:
        resolved = OmegaConf.to_container(config, resolve=True)
        resolved.pop("hydra", None)  # type: ignore[union-attr]
    else:
        resolved = _yaml(hydra_dir / "config.yaml") or {}
    hydra_cfg = _yaml(hydra_dir / "hydra.yaml") or {}
    choices = dict(hydra_cfg.get("hydra", {}).get("runtime", {}).get("choices", {}) or {})
    train_eval_path = path / TRAIN_EVAL_FILE
    train_eval = json.loads(train_eval_path.read_text()) if train_eval_path.exists() else None
    history_path = path / "history.json"
    history = json.loads(history_path.read_text())["records"] if history_path.exists() else []
    overrides = [str(o) for o in overrides or []]
    return Run(path, metrics, overrides, resolved, train_eval, choices, history)  # type: ignore[arg-type]


def load_sweep(sweep_dir: str | Path) -> list[Run]:
    """Every finished run (a folder with ``metrics.json``) under ``sweep_dir``, in job
    order."""
    sweep_dir = Path(sweep_dir)
    found = sorted(p.parent for p in sweep_dir.rglob("metrics.json"))

    def job_number(p: Path) -> tuple[int, str]:
        head = p.name.split("_", 1)[0]
        return (int(head) if head.isdigit() else 1 << 30, p.name)

    return [load_run(p) for p in sorted(found, key=job_number)]


def read_scalars(run_dir: str | Path, tags: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Scalars of a run's TensorBoard events: ``{tag: array of (step, value, wall_time)}``
    (all tags when ``tags`` is None; a tag that was not logged is left out)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    available = set(acc.Tags().get("scalars", []))
    wanted = available if tags is None else [t for t in tags if t in available]
    return {
        tag: np.array([(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)], dtype=float)
        for tag in wanted
    }


def load_model(run: Run, checkpoint: str = "last.ckpt") -> tuple[torch.nn.Module, Any]:
    """The run's model with the weights of ``checkpoints/<checkpoint>``, and its data."""
    from dlnotes.training.run import build_model

    datamodule = instantiate(run.cfg.data)
    datamodule.setup()
    model = build_model(run.cfg, datamodule)
    state = torch.load(run.path / "checkpoints" / checkpoint, map_location="cpu")["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    return model.eval(), datamodule


# ---------------------------------------------------------------------------- tables
def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table ("–" for None)."""
    if value is None:
        return "–"
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    """A fraction as a percentage with two decimals ("—" for None)."""
    return "—" if value is None else f"{100 * value:.2f}%"


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 0.01 and value != 0 else f"{value:.3f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (floats to three decimals, None as "—")."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def save_png(fig: Any, path: str | Path, colors: int = 64) -> Path:
    """Render ``fig`` and save it as a palette PNG of at most ``colors`` colours (a few
    tens of KB for a README figure instead of ~100), then close it."""
    from PIL import Image

    image = Image.fromarray(plots.figure_to_image(fig, close=True))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=colors, dither=Image.Dither.NONE).save(path, optimize=True)
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


def hidden_sizes(run: Run) -> list[int]:
    """The hidden-layer widths of the run's model ([] for none)."""
    return list(run.cfg.model.get("hidden") or [])
