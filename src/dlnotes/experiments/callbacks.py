"""Callbacks of the experiment suite (``experiments/``).

:class:`NumpyInit` draws the initial weights exactly as a NumPy assignment does, so that
a run can be compared number for number with a published one.

:class:`History` records the curves a demo is about — loss and accuracy of the model on
the *whole* training and validation splits, measured in eval mode after the epoch (not
the running mean over the epoch's batches with dropout on that the Task logs) — writes
them to ``history.json`` in the run folder and logs them to TensorBoard under
``eval/``. For binary data it also measures both candidate losses of notes 002 on the
same predictions, A = P(y = 1 | x):

- ``bce`` = −mean[y log A + (1 − y) log(1 − A)] (the cross-entropy the notes prefer),
- ``mse`` = mean (A − y)² (the "non-convex" choice),
- ``slope`` = mean A(1 − A) = mean σ'(Z), the factor that multiplies every gradient of
  sigmoid + MSE (dZ = 2(A − Y)·σ'(Z)/m) and that the cross-entropy cancels
  (dZ = (A − Y)/m); ``wrong_slope`` the *median* of σ'(Z) over the misclassified points
  (None when there are none): how hard MSE lets a typical error pull,

and the accuracy of thresholding A at 0.5 — also for a model trained with MSE, whose Task
treats it as regression and logs no accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_warn
from torch import Tensor, nn

from dlnotes.training.callbacks import tensorboard_logger
from dlnotes.training.metrics_file import write_json

_EPS = 1e-7
_CHUNK = 8192  # samples per forward pass


@torch.no_grad()
def evaluate(model: nn.Module, X: Tensor, Y: Tensor, task: str) -> dict[str, float]:
    """Loss (the model's own), accuracy and, for binary data, bce / mse / slope of
    ``model`` on (X, Y), in eval mode (restored afterwards)."""
    was_training = model.training
    model.eval()
    try:
        p = next(model.parameters())
        Z = torch.cat([model(x.to(p.device, p.dtype)) for x in X.split(_CHUNK)])
        Y = Y.to(p.device)
        out = {"loss": float(model.loss(Z, Y))}
        if task == "binary":
            A = model.probabilities(Z.double()).reshape(Y.shape)  # σ in float64: no 1 − A = 0
            y = Y.double()
            out["acc"] = float(((A > 0.5).double() == y).double().mean())
            Zy = Z.double().reshape(Y.shape)
            if torch.allclose(A, torch.sigmoid(Zy)):  # A = σ(Z): the exact, unclamped BCE
                bce = F.binary_cross_entropy_with_logits(Zy, y)
            else:
                A_ = A.clamp(_EPS, 1 - _EPS)
                bce = -(y * A_.log() + (1 - y) * (1 - A_).log()).mean()
            out["bce"] = float(bce)
            out["mse"] = float(((A - y) ** 2).mean())
            out["slope"] = float((A * (1 - A)).mean())
            wrong = (A > 0.5).double() != y
            slope = (A * (1 - A))[wrong]
            out["wrong_slope"] = float(slope.median()) if wrong.any() else math.nan
        elif task == "multiclass":
            out["acc"] = float((Z.argmax(dim=-1) == Y).double().mean())
        return out
    finally:
        model.train(was_training)


class History(Callback):
    """Full-split curves every ``every_n_epochs`` epochs, once before training (epoch 0)
    and once at the end of fit.

    Each record: ``epoch`` (epochs completed), ``step`` (optimizer steps), and
    ``<split>_<name>`` for split in ``splits`` and name in loss, acc (classification) and
    bce, mse, slope, wrong_slope (binary). Written to ``<run folder>/<filename>`` (the trainer's
    ``default_root_dir``) at the end of fit; logged as ``eval/<split>_<name>`` at the
    record's step. The datamodule must expose ``X_<split>`` / ``y_<split>`` and ``spec``.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        filename: str = "history.json",
        splits: tuple[str, ...] | list[str] = ("train", "val"),
    ) -> None:
        super().__init__()
        if not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be an integer >= 1, got {every_n_epochs!r}")
        self.every_n_epochs = every_n_epochs
        self.filename = filename
        self.splits = tuple(splits)
        self.records: list[dict[str, Any]] = []

    def _record(self, trainer: pl.Trainer, pl_module: pl.LightningModule, epoch: int) -> None:
        step = trainer.global_step
        if self.records and self.records[-1]["step"] == step:
            return
        dm = trainer.datamodule
        model = getattr(pl_module, "model", pl_module)
        task = dm.spec.task
        record: dict[str, Any] = {"epoch": epoch, "step": step}
        for split in self.splits:
            X, Y = getattr(dm, f"X_{split}"), getattr(dm, f"y_{split}")
            for name, value in evaluate(model, X, Y, task).items():
                record[f"{split}_{name}"] = value if math.isfinite(value) else None
        self.records.append(record)
        logger = tensorboard_logger(trainer)
        if logger is not None and trainer.is_global_zero:
            for key, value in record.items():
                if key not in ("epoch", "step") and value is not None:
                    logger.experiment.add_scalar(f"eval/{key}", value, step)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.records = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer, pl_module, trainer.current_epoch)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs == 0:
            self._record(trainer, pl_module, epoch)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # after fit, current_epoch counts the epochs completed
        self._record(trainer, pl_module, trainer.current_epoch)
        if trainer.is_global_zero:
            write_json(Path(trainer.default_root_dir) / self.filename, {"records": self.records})


# W[l] = randn(n[l], n[l-1]) · scale(n[l-1]), as the deeplearning.ai assignments draw it
NUMPY_SCALES: dict[str, Callable[[int], float]] = {
    "large": lambda n_prev: 10.0,
    "he": lambda n_prev: math.sqrt(2.0 / n_prev),
    "he_normal": lambda n_prev: math.sqrt(2.0 / n_prev),
    "lecun": lambda n_prev: math.sqrt(1.0 / n_prev),
    "lecun_normal": lambda n_prev: math.sqrt(1.0 / n_prev),
    "small": lambda n_prev: 0.01,
}
"""The initializations the assignments have, by the name of the ``init`` config group."""


@torch.no_grad()
def numpy_init_(model: nn.Module, scale: float | str, seed: int) -> bool:
    """Re-draw the weights as a NumPy assignment does: ``np.random.seed(seed)``, then for
    every weight matrix in layer order ``W[l] = randn(n[l], n[l-1]) * scale`` and every
    bias 0. ``scale``: a number, a name of :data:`NUMPY_SCALES`, or "zeros" (W = 0).
    Returns False (and changes nothing) for a name the assignments do not have."""
    if isinstance(scale, str) and scale != "zeros" and scale not in NUMPY_SCALES:
        return False
    rng = np.random.RandomState(seed)
    for name, P in model.named_parameters():
        if P.dim() >= 2:
            n_prev = P[0].numel()  # W[l] is (n[l], n[l-1]): its fan-in
            if scale == "zeros":
                P.zero_()
                continue
            factor = NUMPY_SCALES[scale](n_prev) if isinstance(scale, str) else float(scale)
            P.copy_(torch.as_tensor(rng.randn(*P.shape) * factor, dtype=P.dtype, device=P.device))
        elif name.rsplit(".", 1)[-1].startswith("bias"):
            P.zero_()
    return True


class NumpyInit(Callback):
    """At fit start, replace the weights drawn by ``dlnotes.init`` (PyTorch's generator)
    by a NumPy assignment's draws (:func:`numpy_init_`) when ``enabled`` — e.g. the
    planar assignment (seed 2, scale 0.01) or the initialization and optimization
    assignments (seed 3, ``scale=${init.scheme}``), so that a run can be compared number
    for number with a published one. A run resumed from a checkpoint keeps its weights.

    scale: a number, or the name of an initialization (zeros, small, large, he, lecun);
           for a name the assignments do not have the weights stay as ``dlnotes.init``
           drew them, with a warning.
    """

    def __init__(self, seed: int = 2, scale: float | str = 0.01, enabled: bool = True) -> None:
        super().__init__()
        self.seed, self.scale, self.enabled = int(seed), scale, bool(enabled)
        self.applied = False

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.enabled or trainer.ckpt_path:
            return
        model = getattr(pl_module, "model", pl_module)
        self.applied = numpy_init_(model, self.scale, self.seed)
        if not self.applied:
            rank_zero_warn(
                f"NumpyInit: the assignments have no {self.scale!r} initialization; "
                "keeping the weights dlnotes.init drew"
            )
