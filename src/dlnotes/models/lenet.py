"""LeNet-5-style convolutional network — notes 003, "Convolutional Neural Networks".

conv 5×5 → g → pool 2×2 → conv 5×5 → g → pool 2×2 → flatten → 120 → g → 84 → g → classes.
On 32×32 inputs the first convolution is "valid" as in LeNet-5; smaller images are
zero-padded by the first convolution (2 pixels for 28×28 MNIST) so that both reach the
16 × 5 × 5 feature maps of the original.
"""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.data.spec import DataSpec
from dlnotes.models.base import Model, check_positive, data_loss, resolve_loss
from dlnotes.nn import Activation, AvgPool2d, Conv2d, Linear, MaxPool2d


class LeNet(Model):
    """X (m, C, H, W) → Z (m, num_classes).

    channels: output channels of the two convolutions (6, 16); fc: the dense sizes
    (120, 84); kernel_size 5; pool "max" or "avg" (LeNet-5 used averaging);
    padding of the first convolution: None = 2 below 32 pixels, else 0.
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int | tuple[int, int] = 28,
        num_classes: int = 10,
        activation: str = "relu",
        pool: str = "max",
        channels: tuple[int, int] | list[int] = (6, 16),
        fc: tuple[int, ...] | list[int] = (120, 84),
        kernel_size: int = 5,
        padding: int | None = None,
        loss: str = "auto",
        backward: str = "manual",
    ) -> None:
        loss = resolve_loss(loss, num_classes)
        super().__init__(num_classes, loss, "identity", backward)
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        if len(channels) != 2:
            raise ValueError(f"channels must be two numbers, got {list(channels)}")
        check_positive("channels", list(channels))
        check_positive("fc", list(fc))
        H, W = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if padding is None:
            padding = 2 if min(H, W) < 32 else 0
        self.activation, self.pool = activation, pool
        Pool = MaxPool2d if pool == "max" else AvgPool2d
        c1, c2 = channels
        k = kernel_size
        # after conv (k, padding p): H − k + 1 + 2p; after pool 2: ⌊·/2⌋
        h1, w1 = (H + 2 * padding - k + 1) // 2, (W + 2 * padding - k + 1) // 2
        h2, w2 = (h1 - k + 1) // 2, (w1 - k + 1) // 2
        if h2 < 1 or w2 < 1:
            raise ValueError(
                f"LeNet needs images of at least {2 * (k - 1) + 4 - 2 * padding} pixels a side "
                f"with kernel {k} and padding {padding}; got {H}×{W}"
            )
        self.conv1 = Conv2d(in_channels, c1, k, padding=padding, backward=backward)
        self.act1 = Activation(activation, backward=backward)
        self.pool1 = Pool(2, backward=backward)
        self.conv2 = Conv2d(c1, c2, k, backward=backward)
        self.act2 = Activation(activation, backward=backward)
        self.pool2 = Pool(2, backward=backward)
        dense: list[nn.Module] = []
        n_prev = c2 * h2 * w2
        for n in fc:
            dense += [
                Linear(n_prev, n, backward=backward),
                Activation(activation, backward=backward),
            ]
            n_prev = n
        self.dense = nn.Sequential(*dense)
        self.head = Linear(n_prev, num_classes, backward=backward)

    def feature_maps(self, X: torch.Tensor) -> list[torch.Tensor]:
        """Activations after each convolution block: (m, c1, ·, ·) and (m, c2, ·, ·)."""
        A1 = self.pool1(self.act1(self.conv1(X)))
        A2 = self.pool2(self.act2(self.conv2(A1)))
        return [A1, A2]

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        A2 = self.feature_maps(X)[1]
        return self.head(self.dense(A2.flatten(1)))

    @classmethod
    def from_data(cls, spec: DataSpec, **hparams: object) -> LeNet:
        if spec.kind != "image":
            raise ValueError(
                f"model=lenet needs image data (mnist5k, digits, mnist, fashion_mnist, "
                f"cifar10); data '{spec.name}' is {spec.kind}"
            )
        data_loss(hparams, spec)
        return cls(
            in_channels=spec.in_channels or 1,
            image_size=spec.image_size or 28,
            num_classes=spec.out_features,
            **hparams,
        )
