"""experiment=generative-vs-discriminative (notes 000, "Generative Vs Discriminative"): on the
same moons a GAN learns where the points are (its samples land on the data), logistic
regression learns only a boundary (confident even where there are no points).

Also: one GAN step, discriminator and generator, has the same gradients with the
hand-written backward as with autograd (float64)."""

from __future__ import annotations

import copy

import lightning as L
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import open_dict

from dlnotes.experiments.gan import GAN, GANTask, energy_distance
from dlnotes.training.run import build_model, build_task, build_trainer, train
from tests.cli.conftest import compose_config

pytestmark = pytest.mark.filterwarnings("ignore:The number of training batches")


# ------------------------------------------------------------- manual vs autograd
def gan_step_gradients(gan: GAN, mode: str, X: torch.Tensor, z_seed: int) -> dict:
    """Gradients of J_D w.r.t. D and of J_G w.r.t. G (and the input of D), as GANTask
    computes them, on a copy of ``gan`` in ``mode``."""
    twin = copy.deepcopy(gan).set_backward(mode)
    g = torch.Generator().manual_seed(z_seed)
    with torch.no_grad():
        X_fake = twin.generate(len(X), generator=g)
    J_D = twin.discriminator_loss(X, X_fake)
    dD = torch.autograd.grad(J_D, list(twin.discriminator.parameters()))
    X_fake = twin.generate(len(X), generator=g)
    J_G = twin.generator_loss(X_fake)
    dG = torch.autograd.grad(J_G, [*twin.generator.parameters(), X_fake])
    return {"J_D": J_D.detach(), "J_G": J_G.detach(), "dD": dD, "dG": dG}


def test_one_gan_step_manual_equals_autograd():
    torch.manual_seed(0)
    gan = GAN(2, latent_dim=3, generator_hidden=[8, 8], discriminator_hidden=[8, 8]).double()
    X = torch.randn(16, 2, dtype=torch.float64)
    manual = gan_step_gradients(gan, "manual", X, z_seed=1)
    auto = gan_step_gradients(gan, "autograd", X, z_seed=1)
    torch.testing.assert_close(manual["J_D"], auto["J_D"], rtol=0, atol=1e-12)
    torch.testing.assert_close(manual["J_G"], auto["J_G"], rtol=0, atol=1e-12)
    for ours, ref in zip([*manual["dD"], *manual["dG"]], [*auto["dD"], *auto["dG"]]):
        torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-12)
    # the generator learns only through the discriminator: its gradient is not zero
    assert all(float(d.abs().max()) > 0 for d in manual["dG"])


def test_generator_loss_passes_gradcheck():
    torch.manual_seed(0)
    gan = GAN(2, generator_hidden=[4], discriminator_hidden=[5]).double()
    X_fake = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gan.generator_loss, (X_fake,))
    X_real = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gan.discriminator_loss, (X_real, X_fake))


def test_energy_distance_is_zero_for_one_distribution_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(800, 2, generator=g), torch.randn(800, 2, generator=g)
    same, shifted = energy_distance(X, Y), energy_distance(X, Y + torch.tensor([1.0, 0.0]))
    assert abs(float(same)) < 0.01
    assert float(shifted) > 0.3
    assert float(energy_distance(X, Y + 2.0)) > float(shifted)


def test_gan_task_refuses_other_models():
    from dlnotes.models import LogisticRegression

    with pytest.raises(ValueError, match="model=gan"):
        GANTask(LogisticRegression(2), optimizer=torch.optim.Adam)


@pytest.mark.parametrize("frequency", [1, 2])
def test_gan_task_steps_one_scheduler_per_optimizer(tmp_path, frequency):
    """scheduler=step halves both learning rates at every step of the schedulers
    (StepLR, step_size=1): every epoch, or every second one (scheduler_frequency=2)."""
    overrides = [
        "experiment=generative-vs-discriminative",
        "scheduler=step",
        "scheduler.step_size=1",
        "trainer.max_epochs=2",
        "trainer.check_val_every_n_epoch=2",
        "data.n_samples=300",
    ]
    cfg = compose_config(overrides, tmp_path)
    with open_dict(cfg):
        cfg.callbacks, cfg.logger = {}, None
    L.seed_everything(0, verbose=False)
    dm = instantiate(cfg.data)
    task = build_task(cfg, build_model(cfg, dm), scheduler_frequency=frequency)
    build_trainer(cfg).fit(task, datamodule=dm)
    GlobalHydra.instance().clear()
    lrs = [opt.param_groups[0]["lr"] for opt in task.optimizers()]
    steps = 2 // frequency
    assert lrs == pytest.approx([0.002 / 2**steps, 0.002 / 2**steps])


# ------------------------------------------------------------------ reduced demo
def run(tmp_path, variant: str, *overrides: str):
    """Train ``+experiment/generative-vs-discriminative=<variant>`` without logger and
    callbacks; return its metrics, trained model and data."""
    run_dir = tmp_path / variant
    overrides = (
        "experiment=generative-vs-discriminative",
        f"+experiment/generative-vs-discriminative={variant}",
        *overrides,
    )
    cfg = compose_config(list(overrides), run_dir)
    with open_dict(cfg):
        cfg.callbacks = {"last": cfg.callbacks.model_checkpoint}
        cfg.logger = None
    metrics = train(cfg, run_dir, list(overrides))
    L.seed_everything(cfg.seed, verbose=False)
    dm = instantiate(cfg.data)
    dm.setup()
    model = build_model(cfg, dm)
    untrained = copy.deepcopy(model)
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu")
    assert state["global_step"] == metrics["steps"]  # the final weights
    model.load_state_dict({k.removeprefix("model."): v for k, v in state["state_dict"].items()})
    return metrics, model.eval(), untrained.eval(), dm


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("gvd")
    out = {
        "gan": run(tmp, "gan", "trainer.max_epochs=60", "trainer.check_val_every_n_epoch=60"),
        "classifier": run(tmp, "classifier", "trainer.max_epochs=150"),
    }
    torch.set_num_threads(threads)
    GlobalHydra.instance().clear()
    return out


def nearest(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Distance from every row of A to its nearest row of B."""
    return torch.cdist(A, B).min(dim=1).values


@torch.no_grad()
def test_gan_samples_land_where_the_data_is(demo):
    metrics, gan, untrained, dm = demo["gan"]
    # 60 epochs of 10 batches, one D and one G step each
    assert metrics["model"] == "GAN" and metrics["steps"] == 2 * 600
    g = torch.Generator().manual_seed(0)
    before = float(energy_distance(untrained.generate(1000, generator=g), dm.X_val))
    # val/loss is the energy distance between 1 000 samples and the val points
    assert metrics["val_loss"] < 0.2 * before
    assert metrics["test_loss"] < 0.2 * before
    samples, blob = gan.generate(1000, generator=g), untrained.generate(1000, generator=g)
    typical = nearest(dm.X_val, dm.X_train).median()  # a fresh point to the training set
    # the samples lie on the moons: about as close to training points as fresh data is
    assert nearest(samples, dm.X_train).median() < 3 * typical
    # ... and spread over them like the data, where the untrained generator makes a blob
    ratio = samples.std(0) / dm.X_val.std(0)
    assert bool(((ratio > 0.6) & (ratio < 1.4)).all())
    assert bool((blob.std(0) / dm.X_val.std(0) < 0.2).all())
    # held-out points find a sample nearby far more often than with the blob
    assert nearest(dm.X_val, samples).quantile(0.9) < 0.5 * nearest(dm.X_val, blob).quantile(0.9)


@torch.no_grad()
def test_logistic_regression_draws_a_boundary_not_the_data(demo):
    metrics, clf, _, dm = demo["classifier"]
    assert len(dm.X_train) == 1200  # the GAN's training points, with their labels
    assert metrics["model"] == "LogisticRegression" and metrics["params"] == 3
    assert metrics["val_acc"] > 0.8  # a line separates most of the two moons
    # p(y | x) only: far from every point it is as sure of a label as on the data
    far = torch.tensor([[10.0, 10.0], [-10.0, -10.0], [10.0, -10.0], [-10.0, 10.0]])
    P = clf.probabilities(clf(far))
    assert bool(((P < 0.01) | (P > 0.99)).all())
