"""experiment=fitting (notes 001, "Spotting Underfitting and Overfitting") and its
remedies, experiment=fitting-remedies, on reduced budgets."""

import pytest
import torch

from dlnotes.data.base import collate_batch
from dlnotes.data.images import MNIST5kDataModule
from dlnotes.data.loader import ResumableDataLoader
from dlnotes.experiments.augment import AugmentedDataset, AugmentedMNIST5kDataModule, RandomAffine

# 200 training images, batch 64: 4 steps an epoch; the History scores every epoch
STEPS = ("data.train_size=200", "trainer.max_steps=300", "trainer.check_val_every_n_epoch=25")


def test_over_fit_memorizes_and_its_val_loss_turns_up(run_experiment):
    result = run_experiment("fitting", "model.hidden=[256,256]", *STEPS)
    val = result.column("val_loss")
    # the 200 training images learnt by heart
    assert result.last["train_acc"] >= 0.99
    assert result.last["train_loss"] < 0.05
    # U-shaped val loss: down to a minimum, then up by a margin
    assert min(val) < val[0] / 3
    assert val[-1] > 1.15 * min(val)
    # and a gap between train and val accuracy
    assert result.last["train_acc"] - result.last["val_acc"] > 0.1


def test_under_fit_is_bad_on_train_and_val(run_experiment):
    result = run_experiment("fitting", "model.hidden=[2]", *STEPS)
    # a 2-unit bottleneck: high loss on both splits, no gap to speak of
    assert result.last["train_loss"] > 1.0
    assert result.last["val_loss"] > 1.0
    assert result.last["train_acc"] < 0.75


def test_early_stopping_ends_the_run_near_the_minimum(run_experiment):
    result = run_experiment(
        "fitting-remedies",
        "experiment/fitting-remedies=early_stopping",
        "data.train_size=200",
        "trainer.max_steps=1000",
        keep=("history", "early_stopping"),
    )
    assert result.metrics["steps"] < 500
    val = result.column("val_loss")
    assert val[-1] < 1.15 * min(val)


def test_random_affine_zero_is_the_identity_and_a_shift_moves_pixels():
    X = torch.rand(4, 1, 28, 28)
    assert torch.equal(RandomAffine(0, 0, 0)(X), X)
    shifted = RandomAffine(0, 2, 0)(X, torch.Generator().manual_seed(0))
    assert shifted.shape == X.shape and not torch.allclose(shifted, X)


def test_augmented_datamodule_changes_only_the_training_batches():
    clean = MNIST5kDataModule(train_size=64, seed=3)
    augmented = AugmentedMNIST5kDataModule(train_size=64, seed=3)
    clean.setup()
    augmented.setup()
    assert torch.equal(augmented.X_train, clean.X_train)
    assert torch.equal(augmented.X_val, clean.X_val)
    train = augmented.dataset("train")
    rows = list(range(64))
    first, second = train.__getitems__(rows)[0], train.__getitems__(rows)[0]
    # new random maps at every draw of the same images
    assert first.shape == (64, 1, 28, 28)
    assert not torch.allclose(first, second)
    assert not torch.allclose(first, clean.X_train)
    # the pixels move, the ink stays: mean brightness within a few percent
    assert first.mean().item() == pytest.approx(clean.X_train.mean().item(), rel=0.05)
    X, y = next(iter(augmented.train_dataloader()))
    assert X.shape == (64, 1, 28, 28) and y.shape == (64,)


def _epochs(num_workers: int, epochs: int = 2) -> list[torch.Tensor]:
    """Two epochs of 64 copies of one digit, augmented, in batches of 16 as served: the
    batches differ only in their random maps."""
    digit = MNIST5kDataModule(train_size=64, seed=3)
    digit.setup()
    X = digit.X_train[:1].expand(64, -1, -1, -1)
    data = AugmentedDataset(X, torch.zeros(64), RandomAffine(), seed=5)
    loader = ResumableDataLoader(
        data, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(3),
        num_workers=num_workers, collate_fn=collate_batch,
    )  # fmt: skip
    return [torch.cat([X for X, _ in loader]) for _ in range(epochs)]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_augmentation_is_new_in_every_batch_and_epoch_and_reproducible(num_workers):
    first, second = _epochs(num_workers)
    # 4 batches an epoch (from two workers: two each): no batch repeats another's maps,
    # within an epoch or from the epoch before
    batches = [*first.split(16), *second.split(16)]
    for i, a in enumerate(batches):
        assert all(not torch.allclose(a, b) for b in batches[i + 1 :])
    again = _epochs(num_workers)
    assert torch.equal(again[0], first) and torch.equal(again[1], second)
