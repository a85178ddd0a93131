"""Two-dimensional toy classification sets, generated in process (nothing is downloaded).

``moons``, ``circles`` and ``blobs`` use scikit-learn's generators; ``xor``, ``spirals`` and
``flower`` have their own below. Inputs are (m, 2) float32 and are not standardized
unless ``standardize=true`` (the published settings use raw coordinates); targets are
float 0/1 (binary) or int64 class indices (``blobs``, ``spirals`` with more than two arms).

Two ways to split (``split``):

* ``"random"`` (default): draw ``n_samples`` points with ``seed`` and cut them at random
  into train/val/test by ``val_fraction``/``test_fraction`` (stratified by class).
* ``"published"``: the deeplearning.ai assignments' data, row for row, for the sets that
  have one. The training set is ``n_samples`` points drawn by the generator right after
  ``np.random.seed(P)``, with P the assignment's seed; with the default ``n_samples``
  and ``noise`` it is exactly the assignment's training set:

  - ``circles`` (initialization assignment): train ``make_circles(n_samples=300,
    noise=.05)`` after ``np.random.seed(1)``, test ``make_circles(n_samples=100,
    noise=.05)`` after ``np.random.seed(2)``.
  - ``moons`` (optimization assignment): train ``make_moons(n_samples=300, noise=.2)``
    after ``np.random.seed(3)``; the assignment has no test set.
  - ``flower`` (planar-data assignment): 400 points after ``np.random.seed(1)``; no
    test set.

  Where the assignment has no test set, and for the validation set always, fresh points
  are drawn from the same generator (``round(val_fraction·n_samples)`` val and
  ``round(test_fraction·n_samples)`` test points) from random streams derived from
  ``seed``, distinct from the published ones.

The global NumPy random state is never touched: passing ``np.random.RandomState(P)`` to a
generator draws exactly what ``np.random.seed(P)`` followed by the generator would.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch
from sklearn.datasets import make_blobs, make_circles, make_moons

from dlnotes.data.base import (
    BatchSize,
    InMemoryDataModule,
    Split,
    check_fractions,
    split_indices,
    standardize,
)
from dlnotes.data.spec import DataSpec

SplitMode = Literal["random", "published"]


class Toy2DDataModule(InMemoryDataModule):
    """Base of the 2-D toy sets. Subclasses implement :meth:`generate`.

    Class attributes: ``published_seeds = (train_seed, test_seed or None)`` where the
    set has a published split (``None`` otherwise), ``published_test_size``.
    """

    published_seeds: ClassVar[tuple[int, int | None] | None] = None
    published_test_size: ClassVar[int] = 0

    def __init__(
        self,
        *,
        n_samples: int,
        noise: float,
        split: SplitMode = "random",
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        standardize: bool = False,
        num_classes: int = 2,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        label_noise: float = 0.0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            seed=seed,
            train_size=train_size,
            label_noise=label_noise,
            num_workers=num_workers,
        )
        if split not in ("random", "published"):
            raise ValueError(f'data.split must be "random" or "published", got {split!r}')
        if split == "published" and self.published_seeds is None:
            raise ValueError(f'{self.name} has no published split; use data.split="random"')
        if n_samples < 2:
            raise ValueError(f"data.n_samples must be >= 2, got {n_samples}")
        if noise < 0:
            raise ValueError(f"data.noise must be >= 0, got {noise}")
        check_fractions(val_fraction, test_fraction)
        self.n_samples = int(n_samples)
        self.noise = float(noise)
        self.split = split
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self.standardize = bool(standardize)
        binary = num_classes == 2
        self._spec = DataSpec(
            task="binary" if binary else "multiclass",
            kind="tabular",
            in_features=2,
            out_features=1 if binary else num_classes,
            num_classes=num_classes,
            name=self.name,
        )
        self.class_names = [f"class {k}" for k in range(num_classes)]

    def generate(self, n: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points ``X`` (n, 2) and integer labels ``y`` (n,) drawn with ``rng``."""
        raise NotImplementedError

    def _as_split(self, X: np.ndarray, y: np.ndarray) -> Split:
        target = torch.as_tensor(y)
        target = target.float() if self.spec.task == "binary" else target.long()
        return Split(torch.as_tensor(X, dtype=torch.float32), target)

    def _load(self) -> dict[str, Split]:
        if self.split == "published":
            splits = self._published()
        else:
            X, y = self.generate(self.n_samples, np.random.RandomState(self.seed))
            train, val, test = split_indices(
                len(y), self.val_fraction, self.test_fraction, self.seed, stratify=y
            )
            splits = {
                name: self._as_split(X[idx], y[idx])
                for name, idx in (("train", train), ("val", val), ("test", test))
            }
        return standardize(splits) if self.standardize else splits

    def _published(self) -> dict[str, Split]:
        assert self.published_seeds is not None
        train_seed, test_seed = self.published_seeds

        def fresh(n: int, stream: int) -> Split:
            # RandomState([seed, stream]) seeds by array: a stream distinct from any
            # RandomState(int) the published sets use.
            return self._as_split(*self.generate(n, np.random.RandomState([self.seed, stream])))

        train = self._as_split(*self.generate(self.n_samples, np.random.RandomState(train_seed)))
        val = fresh(round(self.val_fraction * self.n_samples), 1)
        if test_seed is None:
            test = fresh(round(self.test_fraction * self.n_samples), 2)
        else:
            test = self._as_split(
                *self.generate(self.published_test_size, np.random.RandomState(test_seed))
            )
        return {"train": train, "val": val, "test": test}


class MoonsDataModule(Toy2DDataModule):
    """Two interleaving half circles (``sklearn.datasets.make_moons``); binary.

    noise: standard deviation of the Gaussian noise added to the points.
    Defaults are the optimization assignment's ``make_moons(n_samples=300, noise=.2)``
    (``split="published"``: the assignment's training set, ``np.random.seed(3)``).
    """

    name = "moons"
    published_seeds = (3, None)

    def __init__(
        self,
        *,
        n_samples: int = 300,
        noise: float = 0.2,
        split: SplitMode = "random",
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        standardize: bool = False,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        label_noise: float = 0.0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            n_samples=n_samples,
            noise=noise,
            split=split,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            standardize=standardize,
            batch_size=batch_size,
            seed=seed,
            train_size=train_size,
            label_noise=label_noise,
            num_workers=num_workers,
        )

    def generate(self, n: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        return make_moons(n_samples=n, noise=self.noise, random_state=rng)


class CirclesDataModule(Toy2DDataModule):
    """A small circle inside a large one (``sklearn.datasets.make_circles``); binary.

    noise:  standard deviation of the Gaussian noise added to the points.
    factor: radius of the inner circle relative to the outer one (scikit-learn's
            default 0.8, as in the assignment).
    Defaults are the initialization assignment's ``make_circles(n_samples=300, noise=.05)``
    (``split="published"``: train after ``np.random.seed(1)``, 100 test points after
    ``np.random.seed(2)``).
    """

    name = "circles"
    published_seeds = (1, 2)
    published_test_size = 100

    def __init__(
        self,
        *,
        n_samples: int = 300,
        noise: float = 0.05,
        factor: float = 0.8,
        split: SplitMode = "random",
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        standardize: bool = False,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        label_noise: float = 0.0,
        num_workers: int = 0,
    ) -> None:
        if not 0 < factor < 1:
            raise ValueError(f"data.factor must be in (0, 1), got {factor}")
        self.factor = float(factor)
        super().__init__(
            n_samples=n_samples,
            noise=noise,
            split=split,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            standardize=standardize,
            batch_size=batch_size,
            seed=seed,
            train_size=train_size,
            label_noise=label_noise,
            num_workers=num_workers,
        )

    def generate(self, n: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        return make_circles(n_samples=n, noise=self.noise, factor=self.factor, random_state=rng)


class BlobsDataModule(Toy2DDataModule):
    """Isotropic Gaussian clusters, one per class (``sklearn.datasets.make_blobs``).

    centers: number of clusters = classes (2 gives a binary task, more a multiclass one).
    noise:   standard deviation of each cluster (``make_blobs``' ``cluster_std``).
    The cluster centres are drawn in the box [-10, 10]² (scikit-learn's default).
    """

    name = "blobs"

    def __init__(
        self,
        *,
        n_samples: int = 300,
        centers: int = 3,
        noise: float = 1.0,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        standardize: bool = False,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        label_noise: float = 0.0,
        num_workers: int = 0,
    ) -> None:
        if centers < 2:
            raise ValueError(f"data.centers must be >= 2, got {centers}")
        self.centers = int(centers)
        super().__init__(
            n_samples=n_samples,
            noise=noise,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            standardize=standardize,
            num_classes=self.centers,
            batch_size=batch_size,
            seed=seed,
            train_size=train_size,
            label_noise=label_noise,
            num_workers=num_workers,
        )

    def generate(self, n: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        return make_blobs(
            n_samples=n, centers=self.centers, cluster_std=self.noise, random_state=rng
        )


class XorDataModule(Toy2DDataModule):
    """Points uniform in the square [-1, 1]², label = XOR of the sign bits
    [x1 > 0] ⊕ [x2 > 0]: class 1 in the second and fourth quadrants (the TensorFlow
    Playground's XOR set, with the classes named by the XOR truth table).
    Not linearly separable; a hidden layer of two units suffices.

    noise: standard deviation of Gaussian noise added to the points *after* labelling
           (so noisy points may cross the axes); 0 gives clean quadrants.
    """

    name = "xor"

    def __init__(
        self,
        *,
        n_samples: int = 400,
        noise: float = 0.0,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        standardize: bool = False,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        label_noise: float = 0.0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            n_samples=n_samples,
            noise=noise,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            standardize=standardize,
            batch_size=batch_size,
            seed=seed,
            train_size=train_size,
            label_noise=label_noise,
            num_workers=num_workers,
        )

    def generate(self, n: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        X = rng.uniform(-1.0, 1.0, size=(n, 2))
        # y = [x1 > 0] XOR [x2 > 0]
        y = ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64)
        return X + self.noise * rng.randn(n, 2), y


class SpiralsDataModule(Toy2DDataModule):
    """``num_classes`` interleaved spiral arms around the origin.

    Arm k: radius ρ from 0 to 1 (evenly spaced), angle θ = 2π·(turns·ρ + k/num_classes),
    point ρ·(cos θ, sin θ) plus Gaussian noise of standard deviation ``noise``. Two arms
    give a binary task, more a multiclass one. Consecutive arms are 1/(num_classes·turns)
    apart radially, so keep ``noise`` well below that.
    """

    name = "spirals"

    def __init__(
        self,
        *,
        n_samples: int = 400,
        noise: float = 0.05,
        num_classes: int = 2,
        turns: float = 1.5,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        standardize: bool = False,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        label_noise: float = 0.0,
        num_workers: int = 0,
    ) -> None:
        if num_classes < 2:
            raise ValueError(f"data.num_classes must be >= 2, got {num_classes}")
        if turns <= 0:
            raise ValueError(f"data.turns must be > 0, got {turns}")
        self.turns = float(turns)
        super().__init__(
            n_samples=n_samples,
            noise=noise,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            standardize=standardize,
            num_classes=num_classes,
            batch_size=batch_size,
            seed=seed,
            train_size=train_size,
            label_noise=label_noise,
            num_workers=num_workers,
        )

    def generate(self, n: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        K = self.spec.num_classes
        sizes = [n // K + (k < n % K) for k in range(K)]
        X_parts, y_parts = [], []
        for k, size in enumerate(sizes):
            rho = np.linspace(0.0, 1.0, size)
            theta = 2 * np.pi * (self.turns * rho + k / K)
            X_parts.append(np.c_[rho * np.cos(theta), rho * np.sin(theta)])
            y_parts.append(np.full(size, k, dtype=np.int64))
        X = np.concatenate(X_parts)
        return X + self.noise * rng.randn(*X.shape), np.concatenate(y_parts)


class FlowerDataModule(Toy2DDataModule):
    """The "planar" flower of the deeplearning.ai one-hidden-layer assignment: two
    classes of ``n_samples/2`` points each; class j has angles t evenly spaced over
    [3.12·j, 3.12·(j+1)] plus Gaussian noise, radius r = a·sin(4t) plus Gaussian noise
    (a = 4, the petal length), point (r·sin t, r·cos t). Both noises have standard
    deviation ``noise``. ``split="published"`` with the defaults is the assignment's
    set (drawn after ``np.random.seed(1)``), all 400 points for training.
    """

    name = "flower"
    published_seeds = (1, None)
    petal_length = 4.0

    def __init__(
        self,
        *,
        n_samples: int = 400,
        noise: float = 0.2,
        split: SplitMode = "random",
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        standardize: bool = False,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        label_noise: float = 0.0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            n_samples=n_samples,
            noise=noise,
            split=split,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            standardize=standardize,
            batch_size=batch_size,
            seed=seed,
            train_size=train_size,
            label_noise=label_noise,
            num_workers=num_workers,
        )
        self.class_names = ["red", "blue"]

    def generate(self, n: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        half = n // 2
        X_parts, y_parts = [], []
        # The draws go in the assignment's order (angle noise, then radius noise, class by
        # class) so that RandomState(1) reproduces its data set exactly for n = 400.
        for j, size in enumerate((half, n - half)):
            t = np.linspace(3.12 * j, 3.12 * (j + 1), size) + self.noise * rng.randn(size)
            r = self.petal_length * np.sin(4 * t) + self.noise * rng.randn(size)
            X_parts.append(np.c_[r * np.sin(t), r * np.cos(t)])
            y_parts.append(np.full(size, j, dtype=np.int64))
        return np.concatenate(X_parts), np.concatenate(y_parts)
