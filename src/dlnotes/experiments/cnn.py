"""The CNN demo — notes 003, "Convolutional Neural Networks": parameter sharing,
equivariance to translation, the invariance max pooling adds, and (notes 000/002) what the
first layer learns.

Measured on the trained networks of ``experiment=cnn`` (LeNet with max or average
pooling, and a fully connected network of the same size), on the test digits:

- **parameter sharing**: each kernel weight of a convolution is used at every output
  position, so conv1's 150 weights do the work of a 784 → 6·28·28 dense matrix;
- **equivariance**: with S_k the shift of an image by k pixels (zeros coming in),
  conv(S_k X) = S_k conv(X) away from the borders — the error
  ‖conv(S_k X) − S_k conv(X)‖ / ‖conv(X)‖ is float rounding, while the maps themselves
  move: ‖conv(S_k X) − conv(X)‖ / ‖conv(X)‖ is of order 1;
- **invariance**: after a 1-pixel shift, how much each stage's output changes,
  ‖f(S_1 X) − f(X)‖ / ‖f(X)‖, and the share of its active units whose value does not
  change at all — max pooling keeps the maximum of a window wherever it sits inside;
- the test accuracy on shifted digits, and the first-layer filters as images.

``dlnotes-report <sweep>`` adds the README's tables and figures to the sweep's report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dlnotes.experiments.common import Run, load_model, markdown_table, pct, save_png
from dlnotes.models import DeepMLP, LeNet
from dlnotes.nn import Conv2d, Linear
from dlnotes.training import plots

DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))
"""Unit shifts (dx, dy): right, left, down, up."""
UNCHANGED_TOL = 1e-4
"""A unit has changed when |f(S X) − f(X)| > this × the image's largest |f(X) − f(0)|."""


# ------------------------------------------------------------------------- shifts
def shift(X: torch.Tensor, dx: int, dy: int = 0) -> torch.Tensor:
    """S X: images (…, H, W) moved dx pixels right and dy down; zeros come in."""
    H, W = X.shape[-2:]
    out = torch.zeros_like(X)
    if abs(dx) >= W or abs(dy) >= H:
        return out
    src_y, dst_y = slice(max(-dy, 0), H - max(dy, 0)), slice(max(dy, 0), H - max(-dy, 0))
    src_x, dst_x = slice(max(-dx, 0), W - max(dx, 0)), slice(max(dx, 0), W - max(-dx, 0))
    out[..., dst_y, dst_x] = X[..., src_y, src_x]
    return out


def interior(A: torch.Tensor, margin: int) -> torch.Tensor:
    """A (…, H, W) without ``margin`` rows and columns on every side."""
    H, W = A.shape[-2:]
    return A[..., margin : H - margin, margin : W - margin]


def _relative(diff: torch.Tensor, ref: torch.Tensor) -> float:
    return float(diff.norm() / ref.norm().clamp_min(1e-30))


# ------------------------------------------------------------------ LeNet's stages
def lenet_stages(model: LeNet, X: torch.Tensor, upto: str = "pool2") -> dict[str, torch.Tensor]:
    """The stages of LeNet's convolutional part on X (m, C, H, W), up to ``upto``:
    conv1 → g, its max (or average) pool, conv2 → g, and its pool (the features the
    dense layers read)."""
    layers = {
        "conv1": lambda A: model.act1(model.conv1(A)),
        "pool1": model.pool1,
        "conv2": lambda A: model.act2(model.conv2(A)),
        "pool2": model.pool2,
    }
    out, A = {}, X
    for name, layer in layers.items():
        A = out[name] = layer(A)
        if name == upto:
            break
    return out


def lenet_stage(model: LeNet, stage: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """X ↦ the maps of one stage of :func:`lenet_stages`."""
    return lambda X: lenet_stages(model, X, stage)[stage]


def mlp_first_layer(model: DeepMLP) -> Callable[[torch.Tensor], torch.Tensor]:
    """X ↦ A[1] = g(W[1] x + b[1]), the first hidden layer of a fully connected network."""
    return lambda X: model.features(X)[0]


def notes_pool(model: LeNet) -> Callable[[torch.Tensor], torch.Tensor]:
    """X ↦ max pooling of width 3, stride 1 over LeNet's conv1 → g maps: the detector
    and pooling stages of the notes' figure ("Max pooling introduces invariance")."""
    return lambda X: model.F.max_pool2d(model.act1(model.conv1(X)), 3, stride=1)


STAGE_STRIDE = {"conv1": 1, "pool1": 2, "conv2": 2, "pool2": 4}
"""Input pixels per unit of each stage's map: shifting the input by this many pixels
shifts the stage's maps by exactly one unit."""


CANVAS = 8
"""Zero pixels put around the digits before measuring equivariance: on the plane a
convolution commutes with every shift; the frame of the image is the only exception
(ink pushed out of it is lost), and 8 pixels keep every digit inside for k ≤ 8."""


@torch.no_grad()
def equivariance(
    f: Callable[[torch.Tensor], torch.Tensor],
    X: torch.Tensor,
    k: int,
    stride: int = 1,
    canvas: int = CANVAS,
) -> dict[str, float]:
    """Equivariance error and displacement of the maps f(X) (m, c, h, w) under shifts of
    X by k pixels in the four directions, k a multiple of ``stride`` (the input pixels
    per map unit). The images are first put on a larger canvas (``canvas`` zero pixels
    around), and the k/stride map units that a shift brings in from outside are left
    out of the comparison on every side.

    error: max over directions of ‖f(S_k X) − S_{k/stride} f(X)‖ / ‖f(X)‖;
    moved: mean over directions of ‖f(S_k X) − f(X)‖ / ‖f(X)‖ (how much the maps change
           when they are *not* shifted back).
    """
    if k % stride:
        raise ValueError(f"the shift k={k} must be a multiple of the stride {stride}")
    X = torch.nn.functional.pad(X, (canvas, canvas, canvas, canvas))
    A = f(X)
    n = k // stride  # map units per k input pixels
    errors, moved = [], []
    for dx, dy in DIRECTIONS:
        A_shifted_input = interior(f(shift(X, k * dx, k * dy)), n)
        A_shifted_maps = interior(shift(A, n * dx, n * dy), n)
        ref = interior(A, n)
        errors.append(_relative(A_shifted_input - A_shifted_maps, ref))
        moved.append(_relative(A_shifted_input - ref, ref))
    return {"error": max(errors), "moved": float(np.mean(moved))}


@torch.no_grad()
def invariance(
    f: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, k: int = 1
) -> dict[str, float]:
    """How much the output f(X) (any shape, m first) changes when X moves k pixels,
    *not* shifted back, averaged over the four directions. Every map carries a
    background, the response f(0) to a blank image (g(b) where no stroke is near);
    the signal is f(X) − f(0).

    change:  ‖f(S_k X) − f(X)‖ / ‖f(X) − f(0)‖;
    changed: share of the units responding to X or to S_k X (≠ f(0)) whose value moves
             by more than 1e-4 × the image's largest |f(X) − f(0)|.
    """
    A = f(X).flatten(1)
    background = f(torch.zeros_like(X[:1])).flatten(1)
    signal = A - background
    tol = UNCHANGED_TOL * signal.abs().amax(dim=1, keepdim=True)
    change, changed = [], []
    for dx, dy in DIRECTIONS:
        B = f(shift(X, k * dx, k * dy)).flatten(1)
        change.append(_relative(B - A, signal))
        responding = (signal.abs() > tol) | ((B - background).abs() > tol)
        moved = ((B - A).abs() > tol) & responding
        changed.append(float(moved.sum() / responding.sum().clamp_min(1)))
    return {"change": float(np.mean(change)), "changed": float(np.mean(changed))}


@torch.no_grad()
def shifted_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, k: int) -> float:
    """Accuracy on the digits shifted k pixels, mean over the four directions."""
    if k == 0:
        return float((model.predict(model(X)) == y).float().mean())
    accs = [
        float((model.predict(model(shift(X, k * dx, k * dy))) == y).float().mean())
        for dx, dy in DIRECTIONS
    ]
    return float(np.mean(accs))


# ------------------------------------------------------------- parameter sharing
def weight_uses(model: nn.Module, X: torch.Tensor) -> list[dict[str, object]]:
    """For every convolution and dense layer, in order: its weights (no biases), its
    input and output units for one image, how many times each weight is used per image,
    and the weights a dense layer with the same inputs and outputs would need."""
    rows: list[dict[str, object]] = []

    def hook(name: str) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]:
        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], A: torch.Tensor) -> None:
            n_in, n_out = inputs[0][0].numel(), A[0].numel()
            W = module.weight
            # a conv weight is used once per output position, a dense weight once
            uses = math.prod(A.shape[2:]) if isinstance(module, Conv2d) else 1
            shape = "×".join(str(s) for s in A.shape[1:])
            rows.append(
                {
                    "layer": name,
                    "weights": W.numel(),
                    "inputs": n_in,
                    "outputs": n_out,
                    "shape": shape,
                    "uses": uses,
                    "dense": n_in * n_out,
                }
            )

        return record

    handles = [
        module.register_forward_hook(hook(name))
        for name, module in model.named_modules()
        if isinstance(module, (Conv2d, Linear))
    ]
    try:
        with torch.no_grad():
            model(X[:1])
    finally:
        for h in handles:
            h.remove()
    return rows


# ---------------------------------------------------------------------- reports
def forward_only(model: nn.Module, dm: object) -> tuple[nn.Module, object]:
    """The model switched to PyTorch's built-in ops: the measurements here only run
    forward passes, whose values the hand-written ops match (tests/functional), and the
    built-in pooling is several times faster on a thousand test digits."""
    model.set_backward("autograd")  # type: ignore[operator]
    return model, dm


def _kind(run: Run) -> str:
    target = str(run.get("model._target_", ""))
    if "LeNet" in target:
        return f"LeNet, {run.get('model.pool')} pool"
    hidden = run.get("model.hidden") or []
    return "MLP " + " → ".join(str(n) for n in [784, *hidden, 10])


def _order(run: Run) -> tuple[int, str]:
    kind = _kind(run)
    return ({"LeNet, max pool": 0, "LeNet, avg pool": 1}.get(kind, 2), kind)


SHIFTS = (0, 1, 2, 3, 4)


def report(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    """experiment=cnn: parameters and accuracy, parameter sharing, equivariance and
    invariance, accuracy on shifted digits; figures cnn.png and cnn-filters.png."""
    runs = sorted([*runs, *(reference or [])], key=_order)
    models = {_kind(run): forward_only(*load_model(run)) for run in runs}
    tables = []

    # 1. parameters and accuracy, also on shifted digits
    curves: dict[str, list[float]] = {}
    rows = []
    for run in runs:
        model, dm = models[_kind(run)]
        X, y = dm.X_test, dm.y_test
        curves[_kind(run)] = [shifted_accuracy(model, X, y, k) for k in SHIFTS]
        conv = sum(
            p.numel() for m in model.modules() if isinstance(m, Conv2d) for p in m.parameters()
        )
        rows.append(
            [
                _kind(run),
                run.metrics.get("params"),
                conv,
                pct(run.metrics.get("train_acc")),
                pct(run.metrics.get("val_acc")),
                pct(run.metrics.get("test_acc")),
                *(pct(a) for a in curves[_kind(run)][1:]),
                f"{run.metrics.get('seconds', 0):.0f} s",
            ]
        )
    headers = [
        "model",
        "parameters",
        "in convolutions",
        "train acc",
        "val acc",
        "test acc",
        *(f"test, shifted {k} px" for k in SHIFTS[1:]),
        "fit time",
    ]
    tables.append(markdown_table(headers, rows))

    # 2. parameter sharing, layer by layer: the first LeNet (the MLP uses each weight once)
    model, dm = next(
        (models[_kind(run)] for run in runs if isinstance(models[_kind(run)][0], LeNet)),
        models[_kind(runs[0])],
    )
    rows = [
        [r["layer"], r["shape"], r["weights"], r["uses"], f"{r['dense']:,}"]
        for r in weight_uses(model, dm.X_test)  # type: ignore[attr-defined]
    ]
    headers = [
        "layer",
        "output",
        "weights",
        "uses of each weight per image",
        "weights of a dense layer with these inputs and outputs",
    ]
    tables.append(markdown_table(headers, rows))
    tables.append(invariance_table(models, runs))
    figure(models, runs, curves, out / "cnn.png")
    filters_figure(models, out / "cnn-filters.png")
    return "\n\n".join(tables)


def _stages(model: nn.Module) -> list[tuple[str, Callable[[torch.Tensor], torch.Tensor], int]]:
    """(name, X ↦ maps, input pixels per map unit) of every stage the table measures."""
    if isinstance(model, LeNet):
        stages = [(stage, lenet_stage(model, stage), s) for stage, s in STAGE_STRIDE.items()]
        return [*stages, ("conv1 → max pool 3, stride 1", notes_pool(model), 1)]
    if isinstance(model, DeepMLP):
        return [("A[1]", mlp_first_layer(model), 0)]
    return []


def invariance_table(models: dict[str, tuple[nn.Module, object]], runs: Sequence[Run]) -> str:
    """Per stage of each LeNet (and the MLP's first hidden layer): the equivariance
    error for a shift of one map unit, and the change under a 1-pixel shift."""
    rows = []
    for run in runs:
        model, dm = models[_kind(run)]
        X = dm.X_test  # type: ignore[attr-defined]
        for stage, f, stride in _stages(model):
            size = "×".join(str(n) for n in f(X[:1]).shape[1:])
            inv = invariance(f, X, 1)
            if stride:
                eq = equivariance(f, X, stride, stride)
                error = "0 (bit-identical)" if eq["error"] == 0 else f"{eq['error']:.0e}"
                shifted = [f"{stride} px", error, f"{eq['moved']:.2f}"]
            else:  # a dense layer has no maps to shift
                shifted = ["—", "—", "—"]
            change = [f"{inv['change']:.2f}", pct(inv["changed"])]
            rows.append([_kind(run), f"{stage} ({size})", *shifted, *change])
    headers = [
        "model",
        "stage (output)",
        "input shift k = one map unit",
        "equivariance error",
        "maps moved (not shifted back)",
        "change under a 1-px shift",
        "responding units changed by a 1-px shift",
    ]
    return markdown_table(headers, rows)


def figure(
    models: dict[str, tuple[nn.Module, object]],
    runs: Sequence[Run],
    curves: dict[str, list[float]],
    path: Path,
) -> Path:
    """A digit, the digit shifted 3 px, a conv1 map of each, the equivariance residual
    conv(S X) − S conv(X); and the test accuracy against the shift for every model."""
    lenet = next((m for m, _ in models.values() if isinstance(m, LeNet)), None)
    fig = plots.new_figure((12.5, 2.9), dpi=90)
    grid = fig.add_gridspec(1, 6, width_ratios=[1, 1, 1, 1, 1, 2.2])
    if lenet is not None:
        dm = models[_kind(runs[0])][1]
        X = dm.X_test[:1]  # type: ignore[attr-defined]
        k = 3
        with torch.no_grad():
            A = lenet.act1(lenet.conv1(X))
            A_s = lenet.act1(lenet.conv1(shift(X, k)))
            channel = int(A[0].flatten(1).var(dim=1).argmax())
            residual = A_s - shift(A, k)
            worst = float(interior(residual, k + 1).abs().max())
        panels = [
            (X[0, 0], "digit X", "gray_r"),
            (shift(X, k)[0, 0], f"S X (right {k} px)", "gray_r"),
            (A[0, channel], f"conv1 map {channel} of X", "viridis"),
            (A_s[0, channel], "conv1 map of S X", "viridis"),
            (residual[0, channel], f"conv(S X) − S conv(X)\nmax |·| inside: {worst:.2g}", "RdBu_r"),
        ]
        vmax = float(A[0, channel].abs().max()) or 1.0
        for i, (image, title, cmap) in enumerate(panels):
            ax = fig.add_subplot(grid[0, i])
            kw = {"vmin": -vmax, "vmax": vmax} if cmap == "RdBu_r" else {}
            ax.imshow(image.numpy(), cmap=cmap, interpolation="nearest", **kw)
            ax.set_title(title, fontsize=8)
            ax.set_axis_off()
    ax = fig.add_subplot(grid[0, 5])
    for kind, accs in curves.items():
        ax.plot(SHIFTS, accs, marker="o", ms=3, lw=1.2, label=kind)
    ax.set_xlabel("shift of the test digits (pixels)")
    ax.set_ylabel("test accuracy")
    ax.set_title("accuracy on shifted digits", fontsize=9)
    ax.legend(fontsize=7)
    return save_png(fig, path)


def filters_figure(models: dict[str, tuple[nn.Module, object]], path: Path) -> Path:
    """What the first layer learned: the conv1 kernels of each LeNet (5×5) and the first
    rows of the MLP's W[1] (28×28), each on its own red/blue scale centred at 0."""
    sets = []
    for kind, (model, _) in models.items():
        if isinstance(model, LeNet):
            sets.append((kind, model.conv1.weight.detach()[:, 0]))
        elif isinstance(model, DeepMLP):
            W1 = model.body[0].weight.detach()[:8]
            sets.append((kind, W1.reshape(len(W1), 28, 28)))
    cols = max(len(k) for _, k in sets)
    fig = plots.new_figure((1.15 * cols + 1.6, 1.3 * len(sets) + 0.2), dpi=90)
    for row, (kind, kernels) in enumerate(sets):
        vmax = float(kernels.abs().max()) or 1.0
        for i, kernel in enumerate(kernels):
            ax = fig.add_subplot(len(sets), cols, row * cols + i + 1)
            ax.imshow(kernel.numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
            ax.set_axis_off()
            if i == 0:
                ax.set_title(kind, fontsize=8, loc="left")
    return save_png(fig, path)
