"""Matplotlib figure builders shared by the TensorBoard callbacks and the experiment reports.

Every builder returns a :class:`matplotlib.figure.Figure` drawn on an Agg canvas; none of
them touches ``pyplot``, so they work headless, leave the user's backend alone and are
never kept alive by pyplot's figure registry. :func:`figure_to_image` renders a figure to
an RGB array (what ``SummaryWriter.add_image`` takes) and closes it; a report can instead
call ``fig.savefig(path)`` and then :func:`close_figure`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap, ListedColormap
from matplotlib.figure import Figure
from torch import nn

PLAYGROUND_ORANGE = "#f59322"
"""TensorFlow Playground's colour of the negative class (label 0)."""
PLAYGROUND_BLUE = "#0877bd"
"""TensorFlow Playground's colour of the positive class (label 1)."""
PLAYGROUND_CMAP = LinearSegmentedColormap.from_list(
    "playground", [PLAYGROUND_ORANGE, "#ffffff", PLAYGROUND_BLUE]
)
"""P(y = 1 | x) from orange (0) through white (0.5) to blue (1)."""

_CLASS_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
_GRID_CHUNK = 65536  # grid points per forward pass


def new_figure(figsize: tuple[float, float] = (5.0, 4.0), dpi: int = 100) -> Figure:
    """An empty figure with a constrained layout on its own Agg canvas (no pyplot)."""
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def close_figure(fig: Figure) -> None:
    """Release a figure: drop it from pyplot's registry if it was made there, clear it."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
    fig.clear()


def figure_to_image(fig: Figure, close: bool = True) -> np.ndarray:
    """Render ``fig`` with Agg to a (H, W, 3) uint8 RGB array; close it unless told not to."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    if close:
        close_figure(fig)
    return image


def _grid_shape(n: int) -> tuple[int, int]:
    """Rows and columns of a near-square grid of ``n`` panels."""
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in model.parameters():
        return p.device, p.dtype if p.is_floating_point() else torch.float32
    return torch.device("cpu"), torch.float32


@torch.no_grad()
def _grid_outputs(model: nn.Module, grid: torch.Tensor) -> torch.Tensor:
    """The model's output on every grid point, in eval mode: P(y = 1) (N,) when it has a
    single output, else the predicted class (N,) (int64)."""
    device, dtype = _model_device_dtype(model)
    was_training = model.training
    model.eval()
    try:
        chunks = []
        for part in grid.split(_GRID_CHUNK):
            Z = model(part.to(device=device, dtype=dtype))
            if hasattr(model, "probabilities"):
                P = model.probabilities(Z)
            else:
                P = torch.sigmoid(Z) if Z.shape[-1] == 1 else torch.softmax(Z, dim=-1)
            if P.dim() == 2 and P.shape[-1] == 1:
                P = P.squeeze(-1)
            chunks.append(P.argmax(dim=-1) if P.dim() == 2 else P.float())
        return torch.cat(chunks).cpu()
    finally:
        model.train(was_training)


def decision_boundary_figure(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    resolution: int = 200,
    title: str = "",
) -> Figure:
    """The TensorFlow Playground view of a classifier on 2-D inputs.

    The model is evaluated (eval mode, no grad, restored afterwards) on a
    ``resolution`` × ``resolution`` grid covering the points ``X`` (m, 2) plus a 10 %
    margin. One output (binary): the background is P(y = 1 | x) from orange (0) to blue
    (1) with the 0.5 contour, the decision boundary, in black. Several outputs: the
    background is the predicted class. The points are drawn on top, coloured by their
    label ``y`` (m,).
    """
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}")
    X = X.detach().float().cpu().reshape(len(X), -1)
    if X.shape[1] != 2:
        raise ValueError(f"decision_boundary_figure needs 2-D inputs, got X of shape {X.shape}")
    labels = y.detach().cpu().reshape(-1).long().numpy()
    lo, hi = X.min(dim=0).values, X.max(dim=0).values
    span = hi - lo
    margin = torch.where(span > 0, 0.1 * span, torch.ones_like(span))
    lo, hi = lo - margin, hi + margin
    xs = torch.linspace(float(lo[0]), float(hi[0]), resolution)
    ys = torch.linspace(float(lo[1]), float(hi[1]), resolution)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    out = _grid_outputs(model, grid).reshape(resolution, resolution).numpy()
    extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))

    fig = new_figure((5.6, 4.6))
    ax = fig.add_subplot()
    if out.dtype.kind == "f":  # binary: P(y = 1 | x)
        P = np.clip(np.nan_to_num(out, nan=0.5), 0.0, 1.0)
        image = ax.imshow(
            P,
            origin="lower",
            extent=extent,
            cmap=PLAYGROUND_CMAP,
            vmin=0.0,
            vmax=1.0,
            alpha=0.75,
            aspect="auto",
            interpolation="bilinear",
        )
        if P.min() < 0.5 < P.max():
            ax.contour(xs.numpy(), ys.numpy(), P, levels=[0.5], colors="k", linewidths=1.2)
        fig.colorbar(image, ax=ax, label="P(y = 1 | x)")
        point_cmap = ListedColormap([PLAYGROUND_ORANGE, PLAYGROUND_BLUE])
        num_colors = 2
    else:  # multiclass: predicted class
        num_colors = int(max(out.max(initial=0), labels.max(initial=0))) + 1
        colors = [_CLASS_COLORS[k % len(_CLASS_COLORS)] for k in range(num_colors)]
        point_cmap = ListedColormap(colors)
        ax.imshow(
            out,
            origin="lower",
            extent=extent,
            cmap=point_cmap,
            vmin=-0.5,
            vmax=num_colors - 0.5,
            alpha=0.35,
            aspect="auto",
            interpolation="nearest",
        )
    ax.scatter(
        X[:, 0].numpy(),
        X[:, 1].numpy(),
        c=labels,
        cmap=point_cmap,
        vmin=-0.5,
        vmax=num_colors - 0.5,
        s=14,
        edgecolors="white" if num_colors == 2 else "black",
        linewidths=0.5,
    )
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return fig


def _label(name: str) -> str:
    """A class name fit for a tick label (characters such as '\\n' shown escaped)."""
    return name if name.isprintable() and name.strip() else repr(name)


def confusion_matrix_figure(
    cm: np.ndarray | torch.Tensor,
    class_names: Sequence[str] | None = None,
    title: str = "",
    normalize: bool = False,
) -> Figure:
    """Heat map of a confusion matrix ``cm`` (C, C): rows true class, columns predicted.

    normalize: divide every row by its total (each row then holds the recall of its class
               and the rates at which it is mistaken for the others).
    Counts are written in the cells up to 20 classes; class names label the axes up to 40.
    """
    cm = cm.detach().cpu().numpy() if isinstance(cm, torch.Tensor) else np.asarray(cm)
    C = cm.shape[0]
    values = cm.astype(np.float64)
    if normalize:
        values = values / np.maximum(values.sum(axis=1, keepdims=True), 1.0)
    names = list(class_names) if class_names is not None and len(class_names) == C else None
    side = min(max(4.0, 0.4 * C + 2.0), 10.0)
    fig = new_figure((side + 1.0, side))
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(
        image, ax=ax, shrink=0.8, label="fraction of the true class" if normalize else "count"
    )
    if C <= 20:
        threshold = 0.5 * (values.max() if values.size else 0.0)
        for i in range(C):
            for j in range(C):
                text = f"{values[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                color = "white" if values[i, j] > threshold else "black"
                ax.text(j, i, text, ha="center", va="center", color=color, fontsize=8)
    if C <= 40:
        ticks = list(range(C))
        labels = [_label(n) for n in names] if names else [str(k) for k in ticks]
        if C > 10 or max(len(label) for label in labels) > 3:
            ax.set_xticks(ticks, labels, rotation=45, ha="right", rotation_mode="anchor")
        else:
            ax.set_xticks(ticks, labels)
        ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    return fig


def conv_filters_figure(weight: torch.Tensor, title: str = "") -> Figure:
    """The kernels of a convolution, weight (C_out, C_in, kh, kw).

    Three input channels: one RGB panel per kernel (all kernels on one shared scale).
    Otherwise one panel per (output, input channel) pair, rows the output channels, on a
    shared red/blue scale centred at 0 (red positive, blue negative).
    """
    W = weight.detach().float().cpu()
    if W.dim() != 4:
        raise ValueError(f"conv_filters_figure needs a 4-D weight, got shape {tuple(W.shape)}")
    O, C = W.shape[:2]
    if C == 3:
        rows, cols = _grid_shape(O)
        lo, hi = float(W.min()), float(W.max())
        rgb = ((W - lo) / (hi - lo if hi > lo else 1.0)).permute(0, 2, 3, 1).numpy()
        fig = new_figure((1.3 * cols + 0.5, 1.3 * rows + 0.5))
        for k in range(O):
            ax = fig.add_subplot(rows, cols, k + 1)
            ax.imshow(rgb[k], interpolation="nearest")
            ax.set_title(f"{k}", fontsize=8)
            ax.set_axis_off()
    else:
        rows, cols = (O, C) if C > 1 else _grid_shape(O)
        vmax = float(W.abs().max()) or 1.0
        fig = new_figure((1.3 * cols + 1.2, 1.3 * rows + 0.5))
        axes, image = [], None
        for k in range(O * C):
            o, c = divmod(k, C)
            ax = fig.add_subplot(rows, cols, k + 1)
            image = ax.imshow(
                W[o, c].numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest"
            )
            ax.set_title(f"{o}" if C == 1 else f"{o}/{c}", fontsize=8)
            ax.set_axis_off()
            axes.append(ax)
        if image is not None:
            fig.colorbar(image, ax=axes, shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def feature_maps_figure(maps: torch.Tensor, title: str = "") -> Figure:
    """One panel per channel of feature maps (C, H, W), each on its own scale (viridis)."""
    M = maps.detach().float().cpu()
    if M.dim() != 3:
        raise ValueError(f"feature_maps_figure needs (C, H, W) maps, got {tuple(M.shape)}")
    C = M.shape[0]
    rows, cols = _grid_shape(C)
    fig = new_figure((1.8 * cols + 0.5, 1.8 * rows + 0.5))
    for k in range(C):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(np.nan_to_num(M[k].numpy()), cmap="viridis", interpolation="nearest")
        ax.set_title(f"channel {k}", fontsize=8)
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


def image_for_display(image: torch.Tensor, min_side: int = 112) -> np.ndarray:
    """One image (C, H, W), C = 1 or 3, min-max scaled to [0, 1] and enlarged by an integer
    factor (nearest neighbour) until its shorter side is at least ``min_side`` pixels:
    (C, H', W') float32, ready for ``add_image``."""
    x = image.detach().float().cpu()
    x = torch.nan_to_num(x)
    lo, hi = float(x.min()), float(x.max())
    x = (x - lo) / (hi - lo) if hi > lo else torch.zeros_like(x)
    factor = max(1, math.ceil(min_side / max(1, min(x.shape[-2:]))))
    x = x.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)
    return x.numpy()
