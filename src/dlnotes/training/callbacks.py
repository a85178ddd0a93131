"""Lightning callbacks that turn the notes' figures into TensorBoard panels.

Every callback writes through the ``SummaryWriter`` of the run's
:class:`~lightning.pytorch.loggers.TensorBoardLogger` and

- does nothing, silently, when the run has no TensorBoard logger or when it does not
  apply to the model or the data (a decision boundary of an image classifier, text
  samples of an MLP, ...);
- never breaks training: an unexpected error inside a callback is reported once as a
  :class:`CallbackWarning` and the run goes on;
- logs no NaN or infinite scalar, and drops non-finite values from histograms, so a run
  that diverged can still be plotted;
- works on copies or under saved-and-restored state, never on the real gradients, the
  batch-norm statistics or the global random-number stream of the run.

Frequencies: ``every_n_steps=N`` acts on the optimizer steps 0, N, 2N, ...;
``every_n_epochs=N`` at the end of the epochs N, 2N, ... (counting from 1); 0 disables.
Every image is logged at ``trainer.global_step``.

| callback            | TensorBoard tags                                                   |
| ------------------- | ------------------------------------------------------------------ |
| GradientCheck       | ``gradcheck/max_rel_diff``, ``gradcheck/max_abs_diff``             |
| ParameterNorms      | ``grad_norm/<param>``, ``weight_norm/<param>``                     |
| Histograms          | ``weights/<param>``, ``grads/<param>``, ``activations/<module>``   |
| DecisionBoundary    | image ``decision_boundary``                                        |
| ConvVisuals         | images ``conv/filters``, ``conv/feature_maps``, ``conv/input``     |
| ConfusionMatrix     | image ``confusion_matrix``                                         |
| TextSamples         | text ``samples`` (stored as ``samples/text_summary``)              |
| ScalarLayout        | custom-scalars layout: charts "loss" and "accuracy"                |
| DivergenceMonitor   | nothing; sets ``diverged`` / ``diverged_step`` and stops the run   |
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.rank_zero import rank_zero_info, rank_zero_warn
from torch import nn

from dlnotes.nn import Activation
from dlnotes.training import plots
from dlnotes.training.agreement import (
    AGREE_EVERY_N_BATCHES,
    AgreementSchedule,
    several_processes,
)

__all__ = [
    "CALLBACKS",
    "CallbackWarning",
    "ConfusionMatrix",
    "ConvVisuals",
    "DecisionBoundary",
    "DivergenceMonitor",
    "GradientCheck",
    "GradientCheckResult",
    "Histograms",
    "ParameterNorms",
    "ScalarLayout",
    "TextSamples",
    "gradient_check",
    "tensorboard_logger",
]

CLASSIFICATION = ("binary", "multiclass")
_TINY = 1e-12  # added to ‖g_autograd‖∞ in the relative difference


class CallbackWarning(UserWarning):
    """A dlnotes callback hit an error and skipped its work; training went on."""


# ------------------------------------------------------------------------- helpers
Hook = TypeVar("Hook", bound=Callable[..., Any])


def _guarded(hook: Hook) -> Hook:
    """Run a callback hook; on any error warn once (per hook and error type) and go on."""

    @functools.wraps(hook)
    def wrapper(self: _DlnotesCallback, *args: Any, **kwargs: Any) -> None:
        try:
            hook(self, *args, **kwargs)
        except Exception as err:
            key = (hook.__name__, type(err).__name__)
            if key not in self._warned:
                self._warned.add(key)
                rank_zero_warn(
                    f"{type(self).__name__}.{hook.__name__} skipped: {type(err).__name__}: {err}",
                    category=CallbackWarning,
                )

    return wrapper  # type: ignore[return-value]


def tensorboard_logger(trainer: pl.Trainer) -> TensorBoardLogger | None:
    """The first TensorBoardLogger among ``trainer.loggers``, or None."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger
    return None


def _check_every(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 (0 disables), got {value!r}")
    return value


def _finite(value: float) -> bool:
    return math.isfinite(value)


def _all_finite(x: torch.Tensor) -> bool:
    """Whether every element of ``x`` is finite (a host-device sync). A one-element tensor,
    such as a loss, is read as a number: no ``isfinite`` op (several µs on a CPU)."""
    if x.numel() == 1:
        return math.isfinite(x.item())
    return bool(torch.isfinite(x.detach()).all())


def _xy(batch: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(X, Y) of a ``(inputs, targets)`` batch, or None for anything else."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        X, Y = batch
        if isinstance(X, torch.Tensor) and isinstance(Y, torch.Tensor):
            return X, Y
    return None


class _DlnotesCallback(Callback):
    """Shared plumbing: the writer, the model, the data spec, frequencies, error guard."""

    def __init__(self) -> None:
        super().__init__()
        self._warned: set[tuple[str, str]] = set()

    @staticmethod
    def _writer(trainer: pl.Trainer) -> Any | None:
        """The SummaryWriter of the TensorBoard logger on the main process, or None."""
        logger = tensorboard_logger(trainer)
        if logger is None or not trainer.is_global_zero:
            return None
        return logger.experiment

    @staticmethod
    def _model(pl_module: pl.LightningModule) -> nn.Module:
        """The dlnotes Model inside the Task (``pl_module.model``), else the module itself."""
        model = getattr(pl_module, "model", None)
        return model if isinstance(model, nn.Module) else pl_module

    @staticmethod
    def _datamodule(trainer: pl.Trainer) -> Any | None:
        return getattr(trainer, "datamodule", None)

    @classmethod
    def _spec(cls, trainer: pl.Trainer) -> Any | None:
        """``trainer.datamodule.spec`` (a DataSpec), or None without a datamodule."""
        dm = cls._datamodule(trainer)
        return getattr(dm, "spec", None) if dm is not None else None

    @staticmethod
    def _epoch_due(trainer: pl.Trainer, every: int) -> bool:
        return every > 0 and (trainer.current_epoch + 1) % every == 0

    def _first_due_val_batch(
        self, trainer: pl.Trainer, batch_idx: int, dataloader_idx: int, drawn_epoch: int | None
    ) -> bool:
        """The first validation batch of an epoch due every ``self.every_n_epochs`` that
        has not been drawn from yet (``drawn_epoch``)."""
        first = not trainer.sanity_checking and batch_idx == 0 and dataloader_idx == 0
        due = first and self._epoch_due(trainer, self.every_n_epochs)
        return due and drawn_epoch != trainer.current_epoch

    @staticmethod
    def _step_due(step: int, every: int) -> bool:
        return every > 0 and step % every == 0

    @staticmethod
    def _add_figure(writer: Any, tag: str, fig: Any, step: int) -> None:
        writer.add_image(tag, plots.figure_to_image(fig), step, dataformats="HWC")

    @staticmethod
    def _add_histogram(writer: Any, tag: str, values: torch.Tensor, step: int) -> None:
        v = values.detach().reshape(-1).float()
        v = v[torch.isfinite(v)]
        if v.numel():
            writer.add_histogram(tag, v.cpu(), step)


# -------------------------------------------------------------- 1. gradient check
@dataclass
class GradientCheckResult:
    """Hand-written vs autograd gradients of one batch.

    max_rel_diff: max over parameters of ‖g_manual − g_autograd‖∞ / (‖g_autograd‖∞ + tiny).
    max_abs_diff: max over parameters of ‖g_manual − g_autograd‖∞.
    worst_param:  the parameter of ``max_rel_diff``.
    per_param:    the relative difference of every parameter.
    """

    max_rel_diff: float
    max_abs_diff: float
    worst_param: str
    loss_manual: float
    loss_autograd: float
    per_param: dict[str, float] = field(default_factory=dict)


def _gradients(
    model: nn.Module, mode: str, X: torch.Tensor, Y: torch.Tensor
) -> tuple[float, dict[str, torch.Tensor | None]]:
    """Loss and gradients of a *copy* of ``model`` switched to ``mode``, with the RNG
    forked: every call sees the same random stream (the same dropout masks) and leaves
    the global stream as it found it."""
    if X.device.type == "cpu":
        fork = torch.random.fork_rng(devices=[])
    else:
        fork = torch.random.fork_rng(devices=[X.device.index or 0], device_type=X.device.type)
    with fork, torch.enable_grad():
        twin = copy.deepcopy(model)
        twin.set_backward(mode)
        for p in twin.parameters():
            p.grad = None
        J = twin.loss(twin(X), Y)
        J.backward()
        grads = {
            name: (None if p.grad is None else p.grad.detach())
            for name, p in twin.named_parameters()
            if p.requires_grad
        }
    return float(J.detach()), grads


def gradient_check(model: nn.Module, X: torch.Tensor, Y: torch.Tensor) -> GradientCheckResult:
    """Compare the hand-written backward with autograd on one batch, on the same weights.

    ``model`` is a dlnotes Model (``set_backward``, ``loss``); it is left untouched: both
    passes run on deep copies (same weights, same batch-norm statistics, same mode
    train/eval) with the same random stream, so dropout draws the same masks.
    """
    loss_m, g_manual = _gradients(model, "manual", X, Y)
    loss_a, g_auto = _gradients(model, "autograd", X, Y)
    per_param: dict[str, float] = {}
    abs_diffs: dict[str, float] = {}
    for name, ga in g_auto.items():
        gm = g_manual.get(name)
        if ga is None and gm is None:
            continue
        ref = ga if ga is not None else torch.zeros_like(gm)  # type: ignore[arg-type]
        ours = gm if gm is not None else torch.zeros_like(ref)
        diff = float((ours.double() - ref.double()).abs().max())
        abs_diffs[name] = diff
        per_param[name] = diff / (float(ref.double().abs().max()) + _TINY)
    if not per_param:
        return GradientCheckResult(0.0, 0.0, "", loss_m, loss_a, per_param)
    worst = max(per_param, key=lambda k: _nan_first(per_param[k]))
    max_abs = abs_diffs[max(abs_diffs, key=lambda k: _nan_first(abs_diffs[k]))]
    return GradientCheckResult(per_param[worst], max_abs, worst, loss_m, loss_a, per_param)


def _nan_first(value: float) -> tuple[bool, float]:
    """Sort key under which NaN beats every number (a NaN difference is the worst)."""
    return math.isnan(value), 0.0 if math.isnan(value) else value


class GradientCheck(_DlnotesCallback):
    """The notes' claim checked live: the hand-written backward equals autograd.

    Every ``every_n_steps`` optimizer steps (0 disables), before the training step and on
    its batch and weights, the gradients of the loss w.r.t. every parameter are computed
    with the model in ``backward="manual"`` and in ``"autograd"`` (on deep copies, with the
    same random stream; the run's model, gradients, batch-norm statistics and RNG are not
    touched) and ``gradcheck/max_rel_diff`` = max over parameters of
    ‖g_manual − g_autograd‖∞ / (‖g_autograd‖∞ + 1e-12) is logged, with
    ``gradcheck/max_abs_diff``. In float32 expect values around 1e-6.

    Attributes: ``last`` (the last :class:`GradientCheckResult`), ``last_max_rel_diff``,
    ``last_step``; they are kept even without a TensorBoard logger. Runs on the main
    process only; applies to models with ``set_backward`` and ``loss`` (dlnotes Models).
    """

    def __init__(self, every_n_steps: int = 50) -> None:
        super().__init__()
        self.every_n_steps = _check_every("every_n_steps", every_n_steps)
        self.last: GradientCheckResult | None = None
        self.last_max_rel_diff: float | None = None
        self.last_step: int | None = None

    @_guarded
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if not self._step_due(step, self.every_n_steps) or step == self.last_step:
            return
        if not trainer.is_global_zero:
            return
        model = self._model(pl_module)
        xy = _xy(batch)
        if xy is None or not (hasattr(model, "set_backward") and hasattr(model, "loss")):
            return
        self.last_step = step
        result = gradient_check(model, *xy)
        self.last, self.last_max_rel_diff = result, result.max_rel_diff
        writer = self._writer(trainer)
        if writer is None:
            return
        for tag, value in (
            ("gradcheck/max_rel_diff", result.max_rel_diff),
            ("gradcheck/max_abs_diff", result.max_abs_diff),
        ):
            if _finite(value):
                writer.add_scalar(tag, value, step)


# ------------------------------------------------------------- 2. parameter norms
class ParameterNorms(_DlnotesCallback):
    """Per-parameter L2 norms of the gradient and of the weights.

    Every ``every_n_steps`` optimizer steps (0 disables), just before the optimizer step
    (the gradients of the step exist then): scalars ``grad_norm/<param>`` and
    ``weight_norm/<param>``, ``<param>`` the name in ``pl_module.model`` (e.g.
    ``body.0.weight``). Non-finite norms are not logged.
    """

    def __init__(self, every_n_steps: int = 10) -> None:
        super().__init__()
        self.every_n_steps = _check_every("every_n_steps", every_n_steps)

    @_guarded
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        step = trainer.global_step
        if not self._step_due(step, self.every_n_steps):
            return
        writer = self._writer(trainer)
        if writer is None:
            return
        tags, norms = [], []
        with torch.no_grad():
            for name, p in self._model(pl_module).named_parameters():
                tags.append(f"weight_norm/{name}")
                norms.append(torch.linalg.vector_norm(p.detach().float()))
                if p.grad is not None:
                    tags.append(f"grad_norm/{name}")
                    norms.append(torch.linalg.vector_norm(p.grad.detach().float()))
        if not norms:
            return
        values = torch.stack([n.to(norms[0].device) for n in norms]).cpu().tolist()
        for tag, value in zip(tags, values):
            if _finite(value):
                writer.add_scalar(tag, value, step)


# ------------------------------------------------------------------- 3. histograms
class Histograms(_DlnotesCallback):
    """Histograms of the weights, the gradients and the activations.

    Every ``every_n_epochs`` epochs (0 disables):

    - ``weights/<param>`` and ``grads/<param>`` at the end of the training epoch; the
      gradients are those of the epoch's last optimizer step (kept in
      ``on_before_optimizer_step``, since Lightning clears them before validation);
    - ``activations/<module>``: the output of every :class:`dlnotes.nn.Activation` module
      of the model (forward hooks) on the first validation batch, in eval mode, no grad.
      Needs a validation loop.
    """

    def __init__(self, every_n_epochs: int = 1) -> None:
        super().__init__()
        self.every_n_epochs = _check_every("every_n_epochs", every_n_epochs)
        self._grads: dict[str, torch.Tensor] = {}
        self._activations_epoch: int | None = None

    @_guarded
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._grads = {}

    @_guarded
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        if not self._epoch_due(trainer, self.every_n_epochs) or self._writer(trainer) is None:
            return
        with torch.no_grad():
            for name, p in self._model(pl_module).named_parameters():
                if p.grad is None:
                    continue
                kept = self._grads.get(name)
                if kept is not None and kept.shape == p.grad.shape:
                    kept.copy_(p.grad)
                else:
                    self._grads[name] = p.grad.detach().clone()

    @_guarded
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._epoch_due(trainer, self.every_n_epochs):
            return
        writer = self._writer(trainer)
        if writer is None:
            return
        step = trainer.global_step
        for name, p in self._model(pl_module).named_parameters():
            self._add_histogram(writer, f"weights/{name}", p, step)
        for name, g in self._grads.items():
            self._add_histogram(writer, f"grads/{name}", g, step)
        self._grads = {}

    @_guarded
    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        drawn = self._activations_epoch
        if not self._first_due_val_batch(trainer, batch_idx, dataloader_idx, drawn):
            return
        writer = self._writer(trainer)
        xy = _xy(batch)
        if writer is None or xy is None:
            return
        self._activations_epoch = trainer.current_epoch
        model = self._model(pl_module)
        captured: dict[str, torch.Tensor] = {}
        handles = []
        for name, module in model.named_modules():
            if isinstance(module, Activation):

                def keep(_m: nn.Module, _inp: Any, out: Any, name: str = name) -> None:
                    if isinstance(out, torch.Tensor):
                        captured[name] = out.detach()

                handles.append(module.register_forward_hook(keep))
        if not handles:
            return
        was_training = model.training
        try:
            model.eval()
            with torch.no_grad():
                model(xy[0])
        finally:
            model.train(was_training)
            for h in handles:
                h.remove()
        step = trainer.global_step
        for name, A in captured.items():
            self._add_histogram(writer, f"activations/{name}", A, step)


# ------------------------------------------------------------ 4. decision boundary
class DecisionBoundary(_DlnotesCallback):
    """The TensorFlow Playground view of a classifier of 2-D points.

    Applies to ``spec.kind == "tabular"``, ``spec.in_features == 2`` and a classification
    task, with a datamodule that exposes ``X_train`` / ``y_train``. Every
    ``every_n_epochs`` epochs (0: only at the end of fit) and once more at the end of fit:
    image ``decision_boundary`` drawn by
    :func:`dlnotes.training.plots.decision_boundary_figure` on a ``resolution`` ×
    ``resolution`` grid (P(y = 1 | x) for binary data, the predicted class otherwise).
    """

    def __init__(self, every_n_epochs: int = 10, resolution: int = 200) -> None:
        super().__init__()
        self.every_n_epochs = _check_every("every_n_epochs", every_n_epochs)
        if not isinstance(resolution, int) or resolution < 2:
            raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
        self.resolution = resolution
        self._last_step: int | None = None

    def _applies(self, trainer: pl.Trainer) -> bool:
        spec, dm = self._spec(trainer), self._datamodule(trainer)
        return (
            spec is not None
            and getattr(spec, "kind", None) == "tabular"
            and getattr(spec, "in_features", None) == 2
            and getattr(spec, "task", None) in CLASSIFICATION
            and hasattr(dm, "X_train")
            and hasattr(dm, "y_train")
        )

    def _log(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        step = trainer.global_step
        if step == self._last_step or not self._applies(trainer):
            return
        writer = self._writer(trainer)
        if writer is None:
            return
        dm = self._datamodule(trainer)
        X, y = dm.X_train, dm.y_train
        if not isinstance(X, torch.Tensor) or X.dim() != 2 or X.shape[1] != 2:
            return
        self._last_step = step
        name = getattr(self._spec(trainer), "name", "") or "data"
        title = f"{name} — epoch {trainer.current_epoch + 1}, step {step}"
        fig = plots.decision_boundary_figure(self._model(pl_module), X, y, self.resolution, title)
        self._add_figure(writer, "decision_boundary", fig, step)

    @_guarded
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._epoch_due(trainer, self.every_n_epochs):
            self._log(trainer, pl_module)

    @_guarded
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log(trainer, pl_module)


# ------------------------------------------------------------------ 5. conv visuals
class ConvVisuals(_DlnotesCallback):
    """The first convolution layer seen: its filters and what they respond to.

    Applies to models with a first conv layer ``model.conv1`` (4-D weight), e.g. LeNet.
    Every ``every_n_epochs`` epochs (0 disables): image ``conv/filters`` (the kernels,
    at the end of the training epoch), and on the first image of the first validation
    batch, image ``conv/input`` and image ``conv/feature_maps`` (``conv1`` followed by
    ``act1`` when the model has it, one panel per channel).
    """

    def __init__(self, every_n_epochs: int = 5) -> None:
        super().__init__()
        self.every_n_epochs = _check_every("every_n_epochs", every_n_epochs)
        self._maps_epoch: int | None = None

    @staticmethod
    def _conv1(model: nn.Module) -> nn.Module | None:
        conv = getattr(model, "conv1", None)
        weight = getattr(conv, "weight", None)
        ok = isinstance(conv, nn.Module) and isinstance(weight, torch.Tensor) and weight.dim() == 4
        return conv if ok else None

    @_guarded
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._epoch_due(trainer, self.every_n_epochs):
            return
        conv = self._conv1(self._model(pl_module))
        writer = self._writer(trainer)
        if conv is None or writer is None:
            return
        title = f"conv1 filters — epoch {trainer.current_epoch + 1}"
        fig = plots.conv_filters_figure(conv.weight, title)
        self._add_figure(writer, "conv/filters", fig, trainer.global_step)

    @_guarded
    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not self._first_due_val_batch(trainer, batch_idx, dataloader_idx, self._maps_epoch):
            return
        model = self._model(pl_module)
        conv, xy, writer = self._conv1(model), _xy(batch), self._writer(trainer)
        if conv is None or xy is None or writer is None or xy[0].dim() != 4:
            return
        self._maps_epoch = trainer.current_epoch
        x = xy[0][:1]
        act = getattr(model, "act1", None)
        was_training = model.training
        try:
            model.eval()
            with torch.no_grad():
                A = conv(x)
                if isinstance(act, nn.Module):
                    A = act(A)
        finally:
            model.train(was_training)
        step = trainer.global_step
        writer.add_image("conv/input", plots.image_for_display(x[0]), step, dataformats="CHW")
        what = "conv1 → act1" if isinstance(act, nn.Module) else "conv1"
        title = f"{what} feature maps — epoch {trainer.current_epoch + 1}"
        self._add_figure(writer, "conv/feature_maps", plots.feature_maps_figure(A[0], title), step)


# -------------------------------------------------------------- 6. confusion matrix
class ConfusionMatrix(_DlnotesCallback):
    """Confusion matrix of the validation set, at the end of the validation of every
    ``every_n_epochs``-th epoch (0: none during fit) and of a stand-alone
    ``trainer.validate`` (the final weights, after fit under ``dlnotes-train``).

    Applies to classification (``model.task`` / ``spec.task`` "binary" or "multiclass").
    The predictions ``model.predict(model(X))`` of every validation batch (recomputed, eval
    mode, no grad; many-to-many outputs flattened: every time step is a sample) feed a
    torchmetrics ``BinaryConfusionMatrix`` / ``MulticlassConfusionMatrix``; the result is
    logged as image ``confusion_matrix`` with the names ``trainer.datamodule.class_names``
    when present. ``normalize=True`` divides every row by its total. The last matrix is
    kept in ``self.last`` (a CPU tensor). Sanity-check batches are ignored.
    """

    def __init__(self, normalize: bool = False, every_n_epochs: int = 1) -> None:
        super().__init__()
        self.normalize = bool(normalize)
        self.every_n_epochs = _check_every("every_n_epochs", every_n_epochs)
        self._metric: Any | None = None
        self.last: torch.Tensor | None = None

    def _num_classes(self, trainer: pl.Trainer, model: nn.Module) -> tuple[str, int] | None:
        spec = self._spec(trainer)
        task = getattr(model, "task", None) or getattr(spec, "task", None)
        if task not in CLASSIFICATION or not hasattr(model, "predict"):
            return None
        if task == "binary":
            return task, 2
        n = getattr(spec, "num_classes", 0) or getattr(model, "out_features", 0)
        return (task, int(n)) if n and n > 1 else None

    @_guarded
    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._metric = None
        if trainer.sanity_checking or tensorboard_logger(trainer) is None:
            return
        standalone = trainer.state.fn == TrainerFn.VALIDATING
        if not standalone and not self._epoch_due(trainer, self.every_n_epochs):
            return
        found = self._num_classes(trainer, self._model(pl_module))
        if found is None:
            return
        from torchmetrics.classification import BinaryConfusionMatrix, MulticlassConfusionMatrix

        task, n = found
        metric = BinaryConfusionMatrix() if task == "binary" else MulticlassConfusionMatrix(n)
        self._metric = metric.to(pl_module.device)

    @_guarded
    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        xy = _xy(batch)
        if self._metric is None or trainer.sanity_checking or xy is None:
            return
        X, Y = xy
        model = self._model(pl_module)
        was_training = model.training
        try:
            model.eval()
            with torch.no_grad():
                pred = model.predict(model(X))
        finally:
            model.train(was_training)
        self._metric.update(pred.reshape(-1).long(), Y.reshape(-1).long())

    @_guarded
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metric, self._metric = self._metric, None
        if metric is None or trainer.sanity_checking or not metric.update_called:
            return
        cm = metric.compute().detach().cpu()  # every process: torchmetrics syncs here
        self.last = cm
        writer = self._writer(trainer)
        if writer is None:
            return
        names = getattr(self._datamodule(trainer), "class_names", None)
        title = f"validation — epoch {trainer.current_epoch + 1}"
        fig = plots.confusion_matrix_figure(cm, names, title, self.normalize)
        self._add_figure(writer, "confusion_matrix", fig, trainer.global_step)


# ------------------------------------------------------------------ 7. text samples
class TextSamples(_DlnotesCallback):
    """Text written by the character model at the end of every ``every_n_epochs`` epochs.

    Applies to models with ``generate`` and a ``vocab_size`` (the many-to-many
    :class:`~dlnotes.models.ElmanRNN` on data=text) and datamodules with ``encode`` /
    ``decode``. Samples ``length`` characters after ``prompt`` from
    softmax(o(t) / ``temperature``) with a generator seeded by the epoch (the run's
    random stream is not touched); an empty prompt starts from a newline (or the first
    character of the vocabulary). Logged with ``add_text("samples", ...)`` as a code
    block; the last sample (prompt included) is kept in ``self.last_sample``. Characters
    of the prompt missing from the vocabulary are dropped.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        length: int = 200,
        temperature: float = 0.8,
        prompt: str = "",
    ) -> None:
        super().__init__()
        self.every_n_epochs = _check_every("every_n_epochs", every_n_epochs)
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be an integer >= 1, got {length!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.length, self.temperature, self.prompt = length, float(temperature), str(prompt)
        self.last_sample: str | None = None

    @staticmethod
    def _prefix(dm: Any, prompt: str) -> tuple[torch.Tensor, str]:
        """Token indices to start from and the text they stand for ("" for the default)."""
        stoi = getattr(dm, "stoi", None)
        if isinstance(stoi, Mapping):
            prompt = "".join(c for c in prompt if c in stoi)
        if prompt:
            return dm.encode(prompt), prompt
        try:
            return dm.encode("\n"), ""
        except (KeyError, ValueError):
            return torch.zeros(1, dtype=torch.long), ""

    @_guarded
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._epoch_due(trainer, self.every_n_epochs):
            return
        model, dm = self._model(pl_module), self._datamodule(trainer)
        applies = (
            callable(getattr(model, "generate", None))
            and getattr(model, "vocab_size", None)
            and getattr(model, "many_to_many", True)
            and callable(getattr(dm, "encode", None))
            and callable(getattr(dm, "decode", None))
        )
        writer = self._writer(trainer)
        if not applies or writer is None:
            return
        prefix, shown = self._prefix(dm, self.prompt)
        device = next(model.parameters()).device
        generator = torch.Generator(device=device).manual_seed(trainer.current_epoch)
        was_training = model.training
        try:
            model.eval()
            tokens = model.generate(
                prefix.to(device), self.length, self.temperature, generator=generator
            )
        finally:
            model.train(was_training)
        sample = shown + dm.decode(tokens.cpu())
        self.last_sample = sample
        block = "\n".join("    " + line for line in sample.split("\n"))
        header = (
            f"epoch {trainer.current_epoch + 1}, step {trainer.global_step}, "
            f"temperature {self.temperature:g}, prompt {self.prompt!r}"
        )
        writer.add_text("samples", f"{header}\n\n{block}", trainer.global_step)


# ------------------------------------------------------------------ 8. scalar layout
class ScalarLayout(_DlnotesCallback):
    """Train and validation curves on one chart each (TensorBoard's Custom Scalars tab).

    At the start of fit, writes the layout: category ``dlnotes`` with chart ``loss``
    (``train/loss`` and ``val/loss``) and, for classification, chart ``accuracy``
    (``train/acc`` and ``val/acc``). The tags are anchored regexes (``^train/loss$``), so
    ``train/loss_step`` stays out of the loss chart.
    """

    CATEGORY = "dlnotes"

    def __init__(self) -> None:
        super().__init__()
        self._written_to: set[int] = set()

    @staticmethod
    def layout(classification: bool = True) -> dict[str, dict[str, list[Any]]]:
        """The ``add_custom_scalars`` layout."""
        charts: dict[str, list[Any]] = {"loss": ["Multiline", ["^train/loss$", "^val/loss$"]]}
        if classification:
            charts["accuracy"] = ["Multiline", ["^train/acc$", "^val/acc$"]]
        return {ScalarLayout.CATEGORY: charts}

    @_guarded
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = self._writer(trainer)
        if writer is None or id(writer) in self._written_to:
            return
        task = getattr(self._model(pl_module), "task", None)
        if task is None:
            task = getattr(self._spec(trainer), "task", None)
        writer.add_custom_scalars(self.layout(classification=task in CLASSIFICATION))
        self._written_to.add(id(writer))


# ------------------------------------------------------------- 9. divergence monitor
class DivergenceMonitor(_DlnotesCallback):
    """Stop a run whose training loss became NaN or ±Inf (or rose above ``max_loss``).

    Every ``check_every_n_steps`` training batches (0 disables) the loss returned by the
    training step (``outputs["loss"]`` in ``on_train_batch_end``) is checked; when it is
    not finite, or above ``max_loss`` (None: no bound; a loss that explodes but stays
    finite, e.g. a cross-entropy of 40 after a too-large step, then counts as diverged
    too), ``trainer.should_stop`` is set, so Lightning ends the run normally, and
    ``diverged = True``, ``diverged_step = trainer.global_step`` (the optimizer steps
    taken, the diverging one included) and ``diverged_loss`` are recorded. Logs nothing.
    Reset at every fit start. Lightning does not stop before ``min_epochs`` /
    ``min_steps`` are reached.

    Under DDP each process checks its own loss and notes the first step where it
    diverged; every ``agree_every_n_steps`` batches and at every epoch end the processes
    share what they noted (one all-gather) and all of them stop if any diverged, with the
    earliest such step and its loss recorded on every process (see
    :mod:`dlnotes.training.agreement`: an agreement every batch cost a small model's DDP
    step 15–30%). One process stops at the step that diverged.
    """

    def __init__(
        self,
        check_every_n_steps: int = 1,
        max_loss: float | None = None,
        agree_every_n_steps: int = AGREE_EVERY_N_BATCHES,
    ) -> None:
        super().__init__()
        self.check_every_n_steps = _check_every("check_every_n_steps", check_every_n_steps)
        number = isinstance(max_loss, (int, float)) and not isinstance(max_loss, bool)
        if max_loss is not None and not (number and max_loss > 0):
            raise ValueError(f"max_loss must be a positive number or null, got {max_loss!r}")
        self.max_loss = None if max_loss is None else float(max_loss)
        self._agreement = AgreementSchedule(agree_every_n_steps, "agree_every_n_steps")
        self.diverged = False
        self.diverged_step: int | None = None
        self.diverged_loss: float | None = None
        self._batches = 0
        # this process's first diverged (step, loss), not yet agreed on under DDP
        self._noted: tuple[int, float] | None = None

    @_guarded
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.diverged, self.diverged_step, self.diverged_loss = False, None, None
        self._batches, self._noted = 0, None
        self._agreement.reset()

    @staticmethod
    def _loss(outputs: Any) -> torch.Tensor | None:
        if isinstance(outputs, Mapping):
            outputs = outputs.get("loss")
        return outputs if isinstance(outputs, torch.Tensor) else None

    @_guarded
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        n = self.check_every_n_steps
        if n == 0:
            return
        self._batches += 1
        if (self._batches - 1) % n == 0 and self._noted is None:
            self._check(self._loss(outputs), trainer.global_step)
        if not several_processes(trainer):
            self._stop(trainer, self._noted)
        elif self._agreement.batch_end():
            self._agree(trainer, pl_module)

    @_guarded
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        on = self.check_every_n_steps > 0
        if on and several_processes(trainer) and self._agreement.epoch_end():
            self._agree(trainer, pl_module)

    def _check(self, loss: torch.Tensor | None, step: int) -> None:
        """Note ``step`` when ``loss`` is not finite or above max_loss (a host-device sync)."""
        if loss is None:
            return
        bad = not _all_finite(loss)
        if not bad and self.max_loss is not None:
            bad = float(loss.detach().float().max()) > self.max_loss
        if bad:
            self._noted = (step, float(loss.detach().float().mean()))

    def _agree(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Every DDP process takes part: the earliest diverged step any of them noted."""
        step, loss = self._noted or (math.inf, math.nan)
        noted = torch.tensor([step, loss], dtype=torch.float64, device=pl_module.device)
        everyone = self._gather(noted, trainer.world_size)  # (processes, 2)
        first = int(everyone[:, 0].argmin())
        earliest, its_loss = everyone[first].tolist()
        if math.isfinite(earliest):
            self._stop(trainer, (int(earliest), its_loss))

    @staticmethod
    def _gather(noted: torch.Tensor, processes: int) -> torch.Tensor:
        """Every process's ``noted``, stacked (torch.distributed's own all-gather: the one
        of Lightning's strategies goes through an autograd-aware op that warns)."""
        everyone = [torch.empty_like(noted) for _ in range(processes)]
        torch.distributed.all_gather(everyone, noted)
        return torch.stack(everyone)

    def _stop(self, trainer: pl.Trainer, noted: tuple[int, float] | None) -> None:
        if noted is None:
            return
        trainer.should_stop = True
        if not self.diverged:
            self.diverged = True
            self.diverged_step, self.diverged_loss = noted
            rank_zero_info(
                f"DivergenceMonitor: the training loss is {self.diverged_loss} after "
                f"{self.diverged_step} steps; stopping the run."
            )


CALLBACKS: dict[str, type[Callback]] = {
    "gradient_check": GradientCheck,
    "parameter_norms": ParameterNorms,
    "histograms": Histograms,
    "decision_boundary": DecisionBoundary,
    "conv_visuals": ConvVisuals,
    "confusion_matrix": ConfusionMatrix,
    "text_samples": TextSamples,
    "scalar_layout": ScalarLayout,
    "divergence_monitor": DivergenceMonitor,
}
"""Every callback of this module by the name a config would use."""
