"""Data augmentation for image datamodules — a remedy for over-fitting (notes 001,
"Tackling overfitting"): every time a training image is drawn it is slightly rotated,
scaled and shifted, so the network never sees exactly the same picture twice and cannot
memorise pixels.

The existing datamodules stay untouched: :class:`AugmentedMNIST5kDataModule` is a
subclass of :class:`~dlnotes.data.images.MNIST5kDataModule` that takes every argument of
``data=mnist5k`` (so ``data.train_size``, ``data.seed``… keep working) plus the three
ranges of :class:`RandomAffine`, and only changes what the *training* data loader hands
out. ``X_train`` / ``y_train``, the validation and test splits are the clean images.

Select it from an experiment (see ``conf/experiment/fitting-remedies/augment.yaml``)::

    data:
      _target_: dlnotes.experiments.augment.AugmentedMNIST5kDataModule
      max_rotation: 10
      max_shift: 2
      max_scale: 0.1
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import get_worker_info

from dlnotes.data.base import TensorBatchDataset
from dlnotes.data.images import MNIST5kDataModule


class RandomAffine:
    """A random rotation, scaling and translation per image of a batch (m, C, H, W).

    max_rotation: degrees, angle ~ U(−max_rotation, max_rotation).
    max_shift:    pixels, each of the two shifts ~ U(−max_shift, max_shift).
    max_scale:    relative zoom, factor ~ U(1 − max_scale, 1 + max_scale).

    One affine map per image, applied with bilinear interpolation; pixels that come from
    outside the image repeat the border (the background of a digit). All zeros is the
    identity. Draws come from ``generator`` (reproducible).
    """

    def __init__(self, max_rotation: float = 10.0, max_shift: float = 2.0, max_scale: float = 0.1):
        if max_rotation < 0 or max_shift < 0 or not 0 <= max_scale < 1:
            raise ValueError(
                "need max_rotation >= 0, max_shift >= 0 and 0 <= max_scale < 1, got "
                f"{max_rotation}, {max_shift}, {max_scale}"
            )
        self.max_rotation = float(max_rotation)
        self.max_shift = float(max_shift)
        self.max_scale = float(max_scale)

    @property
    def identity(self) -> bool:
        return self.max_rotation == self.max_shift == self.max_scale == 0.0

    def __call__(self, X: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.identity or X.shape[0] == 0:
            return X
        m, _, H, W = X.shape

        def uniform(half_width: float) -> Tensor:
            return (torch.rand(m, generator=generator) * 2 - 1) * half_width

        angle = uniform(math.radians(self.max_rotation))
        zoom = 1 + uniform(self.max_scale)
        # shifts in affine_grid's normalized coordinates: the image spans [−1, 1]
        tx, ty = uniform(2 * self.max_shift / W), uniform(2 * self.max_shift / H)
        # the map from output to input coordinates: rotation by −angle, scaled by 1/zoom
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack(
            [torch.stack([cos, -sin, tx], dim=1), torch.stack([sin, cos, ty], dim=1)], dim=1
        ).to(X.dtype)
        grid = F.affine_grid(theta, list(X.shape), align_corners=False)
        return F.grid_sample(X, grid, mode="bilinear", padding_mode="border", align_corners=False)


class AugmentedDataset(TensorBatchDataset):
    """A ``(X, y)`` dataset whose images pass through ``transform`` each time a batch is
    drawn (new random maps every epoch; the stored tensors are never modified).

    The maps are drawn from ``generator``, which a resumable loader saves in checkpoints.
    In a loader's worker process (``data.num_workers > 0``) they come from a generator
    seeded with the worker's seed instead, which PyTorch derives anew for every epoch and
    worker from the loader's shuffle generator: the workers do not repeat each other's
    maps, nor an epoch the maps of the one before.
    """

    def __init__(self, X: Tensor, y: Tensor, transform: RandomAffine, seed: int = 0):
        super().__init__(X, y)
        self.transform = transform
        self.generator = torch.Generator().manual_seed(seed)
        self._worker_generator: torch.Generator | None = None

    def _stream(self) -> torch.Generator:
        worker = get_worker_info()
        if worker is None:
            return self.generator
        if self._worker_generator is None:  # this worker's copy of the dataset
            self._worker_generator = torch.Generator().manual_seed(worker.seed)
        return self._worker_generator

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, ...]:
        X, y = super().__getitems__(indices)
        return self.transform(X, self._stream()), y

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        X, y = super().__getitem__(index)
        return self.transform(X.unsqueeze(0), self._stream()).squeeze(0), y


class AugmentedMNIST5kDataModule(MNIST5kDataModule):
    """``data=mnist5k`` whose training batches are randomly rotated, scaled and shifted
    (see :class:`RandomAffine`); every other argument is MNIST5kDataModule's."""

    def __init__(
        self,
        *,
        max_rotation: float = 10.0,
        max_shift: float = 2.0,
        max_scale: float = 0.1,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.transform = RandomAffine(max_rotation, max_shift, max_scale)
        self._augmented: AugmentedDataset | None = None

    def dataset(self, split: str) -> TensorBatchDataset:
        if split != "train":
            return super().dataset(split)
        if self._augmented is None:
            # one dataset for the whole fit: its random stream (distinct from the
            # shuffle's, seeded with ``seed``) goes on from epoch to epoch, also when
            # the training loader is rebuilt
            s = self._split("train")
            self._augmented = AugmentedDataset(s.X, s.y, self.transform, seed=self.seed + 7919)
        return self._augmented
