"""What a model needs to know about its data — the one object that travels from a
datamodule to a model constructor, so that sizes never have to be typed by the user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Task = Literal["binary", "multiclass", "regression"]
Kind = Literal["tabular", "image", "sequence"]


@dataclass(frozen=True)
class DataSpec:
    """Shapes and task of a dataset.

    task:         "binary" (targets 0/1 floats, one logit), "multiclass" (class indices),
                  "regression" (float targets).
    kind:         "tabular" (X: (m, n_x)), "image" (X: (m, C, H, W)),
                  "sequence" (X: (m, T, n_x) floats, or (m, T) token indices when vocab_size).
    in_features:  n_x, the size of one flattened sample (C·H·W for images, per-step size for
                  sequences: n_x, or vocab_size for token sequences).
    out_features: outputs the model must produce: 1 (binary or scalar regression), the number
                  of classes (multiclass), the vocabulary size (next-token prediction).
    num_classes:  classes for classification (2 for binary), 0 for regression.
    in_channels, image_size: images only. seq_len: sequences only.
    vocab_size:   token sequences only (the model one-hot encodes indices).
    many_to_many: sequences with a target at every step (Y: (m, T)); else one per sequence.
    """

    task: Task
    kind: Kind
    in_features: int
    out_features: int
    num_classes: int = 0
    in_channels: int | None = None
    image_size: tuple[int, int] | None = None
    seq_len: int | None = None
    vocab_size: int | None = None
    many_to_many: bool = False
    name: str = ""
