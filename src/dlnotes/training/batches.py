"""Training batches a model cannot take, found before the fit.

Batch normalization of a dense layer divides by the standard deviation of each unit over
the batch; with one sample that is 0, and the op (like ``torch.nn.functional.batch_norm``)
refuses it. A batch of one comes from ``data.batch_size=1``, from a training split of one
sample, or as the last batch of an epoch whose size leaves one sample over (180 samples
in batches of 179); under DDP each process's share counts.
"""

from __future__ import annotations

import math

import lightning as L
from omegaconf import DictConfig
from torch import nn

from dlnotes.data import InMemoryDataModule
from dlnotes.nn import BatchNorm1d
from dlnotes.training.validate import ConfigError


def batch_sizes(samples: int, batch_size: int | str, processes: int = 1) -> list[int]:
    """Sizes of the training batches of one process: ``samples`` split evenly between
    ``processes`` (Lightning's sampler pads the split to a multiple of them), then cut in
    batches of ``batch_size`` ("full": one batch)."""
    share = math.ceil(samples / processes)
    size = share if batch_size == "full" else min(int(batch_size), share)
    if size < 1:
        return []
    full, rest = divmod(share, size)
    return [size] * full + ([rest] if rest else [])


def check_batch_norm_batches(
    cfg: DictConfig, model: nn.Module, datamodule: L.LightningDataModule, processes: int = 1
) -> None:
    """A :class:`ConfigError` when ``model`` normalizes a dense layer over a batch and a
    training batch would hold a single sample."""
    if not isinstance(datamodule, InMemoryDataModule):
        return
    if not any(isinstance(m, BatchNorm1d) for m in model.modules()):
        return
    samples, batch_size = len(datamodule.dataset("train")), datamodule.batch_size
    sizes = batch_sizes(samples, batch_size, processes)
    if 1 not in sizes:
        return
    key = "model.batch_norm=true" if cfg.model.get("batch_norm") else "the model's batch norm"
    need = f"{key} needs 2 or more samples in every training batch (the variance of one is 0)"
    over = f" over {processes} processes" if processes > 1 else ""
    if sizes[0] == 1:
        raise ConfigError(
            f"{need}, but data.batch_size={batch_size} with {samples} training "
            f"sample{'s' if samples > 1 else ''}{over} gives batches of 1; use "
            f"data.batch_size=2 or more, with 2 or more training samples (data.train_size)."
        )
    share = math.ceil(samples / processes)
    fits = min(
        (b for b in range(2, share + 1) if 1 not in batch_sizes(samples, b, processes)),
        key=lambda b: abs(b - sizes[0]),
    )
    raise ConfigError(
        f"{need}, but data.batch_size={batch_size} leaves a last batch of 1 of the "
        f"{samples} training samples{over}; use another batch size, e.g. "
        f"data.batch_size={fits}."
    )
