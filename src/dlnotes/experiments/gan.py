"""The generative-vs-discriminative demo — notes 000, question 2: "Discriminative models try
to draw boundaries in the data space, while generative models try to model how data is
placed throughout the space"; generative models capture p(X) (or p(X, Y)), discriminative
ones p(Y | X); a GAN's generator "produces from the learnt distribution" while its
discriminator "tries to classify fake or real".

On the same 2-D points (the two moons):

- :class:`GAN`, a generator G: z → x and a discriminator D: x → logit, both
  :class:`dlnotes.models.DeepMLP` with the hand-written backward, trained by
  :class:`GANTask` (two optimizers, alternating steps). It ignores the labels and models
  p(x): its samples should lie where the data lies.
- logistic regression (``model=logistic_regression``, the default Task) models
  p(y | x): one line through the plane, blind to where the points are.

The GAN is scored by the energy distance between its samples and held-out points
(:func:`energy_distance`, 0 when the two distributions are equal), logged as
``val/loss`` and ``test/loss`` so that ``metrics.json`` and ``dlnotes-report`` work.

``dlnotes-report <sweep>`` adds the README's table and figure to the sweep's report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import lightning.pytorch as pl
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from matplotlib.colors import LinearSegmentedColormap
from omegaconf import OmegaConf
from torch import nn
from torchmetrics import MeanMetric

from dlnotes.data.spec import DataSpec
from dlnotes.experiments.common import (
    Run,
    fmt,
    load_model,
    markdown_table,
    read_scalars,
    save_png,
)
from dlnotes.models import DeepMLP
from dlnotes.nn import Switchable, set_backward
from dlnotes.training import plots
from dlnotes.training.callbacks import tensorboard_logger
from dlnotes.training.task import OptimizerFactory, PlainHookName, SchedulerFactory

# P(real | x) of the discriminator: white (fake) to purple (real)
REAL_CMAP = LinearSegmentedColormap.from_list("real", ["#ffffff", "#7b3294"])
DATA_COLOR, SAMPLE_COLOR = "#555555", "#f59322"
DEMO = "generative-vs-discriminative"


# ---------------------------------------------------------------------------- metric
def energy_distance(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Energy distance D²(P, Q) = 2 E‖x − y‖ − E‖x − x'‖ − E‖y − y'‖ between the samples
    X (m, n) ~ P and Y (k, n) ~ Q (Székely), with the unbiased within-sample means
    (pairs i ≠ j). 0 in expectation when P = Q, > 0 otherwise; may dip below 0 by
    sampling noise."""
    m, k = len(X), len(Y)
    if m < 2 or k < 2:
        raise ValueError(f"energy_distance needs at least 2 points per sample, got {m} and {k}")
    # the diagonals of the within-sample distances are 0: divide by the m(m − 1) pairs
    xx = torch.cdist(X, X).sum() / (m * (m - 1))
    yy = torch.cdist(Y, Y).sum() / (k * (k - 1))
    return 2 * torch.cdist(X, Y).mean() - xx - yy


# ----------------------------------------------------------------------------- model
class GAN(Switchable, nn.Module):
    """A generator and a discriminator (Goodfellow et al., 2014), both DeepMLPs.

    G: z (m, latent_dim) ~ N(0, I) → X_fake (m, n_x), identity output.
    D: X (m, n_x) → Z (m, 1), the logit of P(real | x).

    ``forward(X)`` is the discriminator's logit (what the TensorBoard callbacks see);
    :meth:`generate` draws samples. Losses (binary cross-entropy with logits, the
    hand-written op of notes 001 fused with the sigmoid):

    - discriminator: J_D = −mean log D(x) − mean log(1 − D(G(z)));
    - generator, non-saturating: J_G = −mean log D(G(z)) (the minimax
      mean log(1 − D(G(z))) has no gradient when D easily rejects the samples).
    """

    def __init__(
        self,
        in_features: int,
        latent_dim: int = 2,
        generator_hidden: Sequence[int] = (64, 64),
        discriminator_hidden: Sequence[int] = (64, 64),
        activation: str = "relu",
        backward: str = "manual",
    ) -> None:
        super().__init__()
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"model.latent_dim must be an integer >= 1, got {latent_dim!r}")
        self.in_features, self.latent_dim = in_features, latent_dim
        self.generator = DeepMLP(
            latent_dim, list(generator_hidden), in_features, activation, loss="mse",
            backward=backward,
        )  # fmt: skip
        self.discriminator = DeepMLP(
            in_features, list(discriminator_hidden), 1, activation, loss="bce",
            backward=backward,
        )  # fmt: skip
        self.backward = backward

    def set_backward(self, mode: str) -> GAN:
        """Switch G and D to ``mode`` ("manual" | "autograd")."""
        set_backward(self, mode)
        return self

    def latent(self, m: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z (m, latent_dim) ~ N(0, I) on the model's device and dtype."""
        p = next(self.parameters())
        z = torch.randn(m, self.latent_dim, generator=generator, device=p.device)
        return z.to(p.dtype)

    def generate(self, m: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """X_fake = G(z) (m, n_x)."""
        return self.generator(self.latent(m, generator))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Z = D(X) (m, 1): the logit of P(real | x)."""
        return self.discriminator(X)

    def _bce(self, X: torch.Tensor, label: float) -> torch.Tensor:
        """The binary cross-entropy of D(X) against ``label`` for every point: D's forward
        and cost in one node (:meth:`Model.cost`), which also hands dX back to G."""
        Y = torch.full((X.shape[0],), label, dtype=X.dtype, device=X.device)
        return self.discriminator.cost(X, Y)[1]

    def discriminator_loss(self, X_real: torch.Tensor, X_fake: torch.Tensor) -> torch.Tensor:
        """J_D of real points (m, n_x) and generated ones (k, n_x)."""
        # J_D = −mean log σ(D(x)) − mean log(1 − σ(D(G(z))))
        return self._bce(X_real, 1.0) + self._bce(X_fake, 0.0)

    def generator_loss(self, X_fake: torch.Tensor) -> torch.Tensor:
        """J_G of generated points (k, n_x), non-saturating."""
        # J_G = −mean log σ(D(G(z)))
        return self._bce(X_fake, 1.0)

    @classmethod
    def from_data(cls, spec: DataSpec, **hparams: Any) -> GAN:
        """A GAN for tabular data of ``spec.in_features`` features (labels are ignored)."""
        if spec.kind != "tabular":
            raise ValueError(
                f"model=gan models tabular points; data '{spec.name}' is {spec.kind} data "
                "(use a 2-D set such as data=moons)"
            )
        return cls(spec.in_features, **hparams)


# ------------------------------------------------------------------------------ task
class GANTask(PlainHookName, L.LightningModule):
    """Trains a :class:`GAN` with two optimizers (manual optimization), alternating per
    batch one discriminator step and one generator step.

    optimizer: a factory ``params → Optimizer`` (the ``optimizer`` config); D and G each
               get their own.
    scheduler: optional factory ``optimizer → LRScheduler``, one per optimizer, stepped
               every ``scheduler_frequency`` ``scheduler_interval``s ("epoch" | "step");
               a ReduceLROnPlateau watches ``scheduler_monitor``.
    eval_samples: generated points compared with a split by :func:`energy_distance`
               (drawn from a fixed seed, the same at every validation).

    Logged: ``train/d_loss``, ``train/g_loss`` (per step and per epoch), ``train/loss``
    (energy distance between each batch and as many samples, epoch mean), ``val/loss``
    and ``test/loss`` (energy distance to the whole split), ``val/d_real`` and
    ``val/d_fake`` (mean P(real) that D gives held-out points and samples; ½ and ½ at
    the equilibrium). ``trainer.global_step`` counts optimizer steps: two per batch.
    """

    classification = False

    def __init__(
        self,
        model: GAN,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: str = "val/loss",
        scheduler_frequency: int = 1,
        eval_samples: int = 1000,
        eval_seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(model, GAN):
            raise ValueError(
                f"task=GANTask trains model=gan, got {type(model).__name__}; "
                "use the default task for other models"
            )
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(
                f"scheduler.interval must be 'epoch' or 'step', got {scheduler_interval!r}"
            )
        self.automatic_optimization = False
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.scheduler_monitor = scheduler_monitor
        self.scheduler_frequency = scheduler_frequency
        self.eval_samples, self.eval_seed = int(eval_samples), int(eval_seed)
        self.train_energy = MeanMetric()
        self._held_out: list[torch.Tensor] = []

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.model(X)

    def configure_optimizers(self) -> Any:
        opts = [
            self.optimizer_factory(params=self.model.discriminator.parameters()),
            self.optimizer_factory(params=self.model.generator.parameters()),
        ]
        if self.scheduler_factory is None:
            return opts
        scheds = [{"scheduler": self.scheduler_factory(optimizer=o)} for o in opts]
        return opts, scheds

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> Any:
        X, _ = batch  # the labels play no part: the GAN models p(x)
        m = X.shape[0]
        opt_d, opt_g = self.optimizers()
        # discriminator step on real points and (fixed) generated ones
        with self.toggled_optimizer(opt_d):
            with torch.no_grad():
                X_fake = self.model.generate(m)
            J_D = self.model.discriminator_loss(X, X_fake)
            opt_d.zero_grad()
            self.manual_backward(J_D)
            opt_d.step()
        # generator step: backpropagate through D (its weights frozen) into G
        with self.toggled_optimizer(opt_g):
            X_fake = self.model.generate(m)
            J_G = self.model.generator_loss(X_fake)
            opt_g.zero_grad()
            self.manual_backward(J_G)
            opt_g.step()
        if not (torch.isfinite(J_D) and torch.isfinite(J_G)):
            return J_D.detach() + J_G.detach()  # the DivergenceMonitor stops the run
        self.train_energy.update(energy_distance(X_fake.detach(), X))
        for name, J in (("d_loss", J_D), ("g_loss", J_G)):
            self.log(f"train/{name}", J.detach(), on_step=True, on_epoch=True, batch_size=m)
        self.log("train/loss", self.train_energy, on_step=False, on_epoch=True, batch_size=m)
        if self.scheduler_interval == "step":
            self._step_schedulers(batch_idx + 1)
        return J_D.detach() + J_G.detach()

    def on_train_epoch_end(self) -> None:
        if self.scheduler_interval == "epoch":
            self._step_schedulers(self.current_epoch + 1)

    def _step_schedulers(self, count: int) -> None:
        """Step the schedulers at the ``count``-th interval when it is a multiple of
        ``scheduler_frequency`` (as Lightning does for automatic optimization)."""
        scheds = self.lr_schedulers()
        if scheds is None or count % self.scheduler_frequency:
            return
        for sched in scheds if isinstance(scheds, list) else [scheds]:
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                metric = self.trainer.callback_metrics.get(self.scheduler_monitor)
                if metric is not None:
                    sched.step(metric)
            else:
                sched.step()

    # ---------------------------------------------------------- held-out sample quality
    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._held_out.append(batch[0])

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._held_out.append(batch[0])

    def on_validation_epoch_start(self) -> None:
        self._held_out = []

    def on_test_epoch_start(self) -> None:
        self._held_out = []

    @torch.no_grad()
    def _score(self, stage: str) -> None:
        X = torch.cat(self._held_out)
        self._held_out = []
        g = torch.Generator(device=X.device).manual_seed(self.eval_seed)
        X_fake = self.model.generate(self.eval_samples, generator=g).to(X.dtype)
        self.log(f"{stage}/loss", energy_distance(X_fake, X), batch_size=len(X))
        if stage == "val":
            self.log("val/d_real", torch.sigmoid(self.model(X)).mean(), batch_size=len(X))
            self.log("val/d_fake", torch.sigmoid(self.model(X_fake)).mean(), batch_size=len(X))

    def on_validation_epoch_end(self) -> None:
        if self._held_out:
            self._score("val")

    def on_test_epoch_end(self) -> None:
        if self._held_out:
            self._score("test")


# ------------------------------------------------------------------------- pictures
def _extent(X: torch.Tensor, margin: float = 0.15) -> tuple[float, float, float, float]:
    lo, hi = X.min(0).values, X.max(0).values
    pad = (hi - lo) * margin
    lo, hi = lo - pad, hi + pad
    return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


@torch.no_grad()
def samples_panel(
    ax: Any, gan: GAN, X: torch.Tensor, n: int = 1000, seed: int = 0, resolution: int = 120
) -> None:
    """On ``ax``: D's P(real | x) as the background, the data X (m, 2) in grey and ``n``
    samples of G in orange (eval mode, a private random stream)."""
    was_training = gan.training
    gan.eval()
    try:
        p = next(gan.parameters())
        extent = _extent(X)
        xs = torch.linspace(extent[0], extent[1], resolution)
        ys = torch.linspace(extent[2], extent[3], resolution)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(p.device, p.dtype)
        P = torch.sigmoid(gan(grid)).reshape(resolution, resolution).float().cpu().numpy()
        g = torch.Generator(device=p.device).manual_seed(seed)
        S = gan.generate(n, generator=g).float().cpu().numpy()
    finally:
        gan.train(was_training)
    image = ax.imshow(
        P, origin="lower", extent=extent, cmap=REAL_CMAP, vmin=0, vmax=1, aspect="auto", alpha=0.8
    )
    X = X.detach().float().cpu().numpy()
    ax.scatter(X[:, 0], X[:, 1], s=4, color=DATA_COLOR, alpha=0.5, label="data", linewidths=0)
    ax.scatter(S[:, 0], S[:, 1], s=4, color=SAMPLE_COLOR, alpha=0.7, label="G(z)", linewidths=0)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.legend(fontsize=7, loc="upper right", markerscale=2.5)
    ax.figure.colorbar(image, ax=ax, label="D: P(real | x)")


def samples_figure(gan: GAN, X: torch.Tensor, title: str = "") -> Any:
    fig = plots.new_figure((5.4, 4.2), dpi=90)
    ax = fig.add_subplot()
    samples_panel(ax, gan, X)
    ax.set_title(title, fontsize=9)
    return fig


class GANSamples(Callback):
    """Image ``gan/samples`` every ``every_n_epochs`` epochs and at the end of fit: the
    generator's samples over the training points, on the discriminator's P(real | x).
    Applies to a :class:`GAN` on 2-D data (silently does nothing otherwise)."""

    def __init__(self, every_n_epochs: int = 10) -> None:
        super().__init__()
        if not isinstance(every_n_epochs, int) or every_n_epochs < 0:
            raise ValueError(f"every_n_epochs must be an integer >= 0, got {every_n_epochs!r}")
        self.every_n_epochs = every_n_epochs
        self._last_step: int | None = None

    def _log(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        gan, dm = getattr(pl_module, "model", None), getattr(trainer, "datamodule", None)
        logger = tensorboard_logger(trainer)
        X = getattr(dm, "X_train", None)
        if not isinstance(gan, GAN) or logger is None or X is None or X.shape[-1] != 2:
            return
        # the scalars are logged per batch; a batch takes two optimizer steps (D, then G)
        batch = trainer.global_step // 2
        if not trainer.is_global_zero or batch == self._last_step:
            return
        self._last_step = batch
        title = f"epoch {trainer.current_epoch + 1}, batch {batch}"
        image = plots.figure_to_image(samples_figure(gan, X, title))
        logger.experiment.add_image("gan/samples", image, batch, dataformats="HWC")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._log(trainer, pl_module)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log(trainer, pl_module)


# -------------------------------------------------------------------------- report
def is_gan(run: Run) -> bool:
    return run.metrics.get("model") == "GAN"


def untrained(run: Run) -> tuple[nn.Module, Any]:
    """The run's model with its initial weights (seeded as the run was), and its data."""
    from dlnotes.training.run import build_model

    cfg = OmegaConf.create(run.config)
    L.seed_everything(cfg.seed, verbose=False)
    dm = instantiate(cfg.data)
    dm.setup()
    return build_model(cfg, dm).eval(), dm


def data_floor(dm: Any) -> float:
    """Energy distance between the training and the validation points: what two draws of
    the same distribution score (the sampling-noise floor of ``val/loss``)."""
    return float(energy_distance(dm.X_train.double(), dm.X_val.double()))


def results_table(runs: Sequence[Run]) -> str:
    rows = []
    for run in sorted(runs, key=lambda r: (not is_gan(r), r.get("seed", 0))):
        seed = run.get("seed")
        if is_gan(run):
            gan, dm = untrained(run)
            with torch.no_grad():
                g = torch.Generator().manual_seed(0)
                before = float(energy_distance(gan.generate(1000, generator=g), dm.X_val))
            scalars = read_scalars(run.path, ["val/d_real", "val/d_fake"])
            d_real, d_fake = (scalars.get(t) for t in ("val/d_real", "val/d_fake"))
            rows.append(
                [
                    "GAN (G and D: 2 × 64 ReLU)",
                    "p(x)",
                    seed,
                    run.metrics.get("params"),
                    f"energy distance {fmt(run.metrics.get('val_loss'), 4)}",
                    fmt(run.metrics.get("test_loss"), 4),
                    fmt(before, 3),
                    fmt(data_floor(dm), 4),
                    "–" if d_real is None else f"{d_real[-1, 1]:.2f} / {d_fake[-1, 1]:.2f}",
                    fmt(run.metrics.get("seconds"), 0),
                ]
            )
        else:
            rows.append(
                [
                    "logistic regression",
                    "p(y \\| x)",
                    seed,
                    run.metrics.get("params"),
                    f"accuracy {fmt(run.metrics.get('val_acc'), 3)}",
                    fmt(run.metrics.get("test_acc"), 3),
                    "–",
                    "–",
                    "–",
                    fmt(run.metrics.get("seconds"), 0),
                ]
            )
    headers = ["model", "models", "seed", "params", "val", "test", "untrained G, val"]
    headers += ["train ↔ val points"]
    headers += ["D(real) / D(fake), val", "seconds"]
    return markdown_table(headers, rows)


def figure(runs: Sequence[Run], path: str | Path) -> Path:
    """GAN samples on D's surface | logistic regression's boundary | the GAN's curves."""
    gans = sorted((r for r in runs if is_gan(r)), key=lambda r: r.metrics.get("val_loss") or 9)
    classifiers = [r for r in runs if not is_gan(r)]
    fig = plots.new_figure((13.5, 3.9), dpi=80)
    ax_gan, ax_lr, ax_curve = fig.subplots(1, 3)
    if gans:
        gan, dm = load_model(gans[len(gans) // 2])  # the median seed
        samples_panel(ax_gan, gan, dm.X_train)
        ax_gan.set_title("generative: GAN samples over the data (labels unused)", fontsize=9)
    if classifiers:
        model, dm = load_model(classifiers[0])
        _boundary_panel(ax_lr, model, dm.X_train, dm.y_train)
        ax_lr.set_title("discriminative: logistic regression, P(y = 1 | x)", fontsize=9)
    colors = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
    for i, run in enumerate(sorted(gans, key=lambda r: r.get("seed", 0))):
        color, seed = colors[i % len(colors)], run.get("seed")
        s = read_scalars(run.path, ["val/loss", "train/d_loss_epoch"])
        if "val/loss" in s:
            ax_curve.plot(*s["val/loss"][:, :2].T, lw=1.1, color=color,
                          label=f"energy distance to val, seed {seed}")  # fmt: skip
        if "train/d_loss_epoch" in s:
            ax_curve.plot(*s["train/d_loss_epoch"][:, :2].T, lw=0.7, ls="--", color=color,
                          alpha=0.8, label=f"J_D (epoch mean), seed {seed}")  # fmt: skip
    ax_curve.axhline(2 * math.log(2), color="#7b3294", ls=":", lw=1.0, label="J_D = 2 ln 2 (D = ½)")
    ax_curve.set_yscale("log")
    ax_curve.set_xlabel("batch (one D step and one G step each)")
    ax_curve.set_title("GAN training", fontsize=9)
    ax_curve.legend(fontsize=6)
    return save_png(fig, path)


@torch.no_grad()
def _boundary_panel(ax: Any, model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> None:
    """P(y = 1 | x) of a classifier as the background, its 0.5 line, the labelled points."""
    extent = _extent(X)
    xs = torch.linspace(extent[0], extent[1], 120)
    ys = torch.linspace(extent[2], extent[3], 120)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    P = model.probabilities(model(grid)).reshape(120, 120).numpy()
    image = ax.imshow(P, origin="lower", extent=extent, cmap=plots.PLAYGROUND_CMAP, vmin=0,
                      vmax=1, aspect="auto", alpha=0.75)  # fmt: skip
    ax.contour(xs.numpy(), ys.numpy(), P, levels=[0.5], colors="k", linewidths=1.2)
    colors = np.where(y.numpy() > 0.5, plots.PLAYGROUND_BLUE, plots.PLAYGROUND_ORANGE)
    ax.scatter(X[:, 0].numpy(), X[:, 1].numpy(), s=4, c=colors, linewidths=0)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.figure.colorbar(image, ax=ax, label="P(y = 1 | x)")


def report(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    """The README's table and figure (samples | decision boundary | curves)."""
    runs = [*runs, *(reference or [])]
    figure(runs, out / f"{DEMO}.png")
    return results_table(runs)
