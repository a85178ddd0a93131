"""Ctrl-C and SIGTERM end a fit cleanly, at a batch boundary, with a checkpoint that
``resume=true`` continues exactly.

- The first Ctrl-C (SIGINT) is handed to Lightning's SIGTERM handler, so both signals take
  Lightning's own path: the batch in progress finishes (forward, backward, optimizer
  step, its logging), then the fit stops with ``SIGTERMException``. :class:`Interruption`
  then writes ``<checkpoints>/last.ckpt`` (atomically, see ``checkpoint_io``).
- A second Ctrl-C stops at once (``KeyboardInterrupt`` wherever the code is); no
  checkpoint is written then, since the state may be half-way through a step: the last
  one is the previous ``last.ckpt`` (end of the last epoch, from ``ModelCheckpoint``).
- Under DDP every process notes the signal, and all of them agree on it with one
  all-reduce at the end of every 10th training batch and of every epoch (see
  :mod:`dlnotes.training.agreement`), so that they stop together, at most 9 batches
  after the signal; a second Ctrl-C is rank 0's to act on.

A resumed fit continues where the checkpoint was taken, mid-epoch included: Lightning
restores the weights, optimizer, schedulers, loop counters and callback states; the
training loader (``ResumableDataLoader``) replays the epoch's permutation past the
batches already trained on; and this callback's own state restores the random-number
generators (dropout masks, ...) and, for a mid-epoch checkpoint, the running means of
the epoch's metrics, at the first resumed batch. Under DDP the checkpoint holds rank 0's
generators, which are every rank's: ``seed_everything`` gives all processes one seed, and
each draws as many numbers per step.
"""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torchmetrics import Metric

from dlnotes.training.agreement import (
    AGREE_EVERY_N_BATCHES,
    AgreementSchedule,
    several_processes,
)

STOP_CODES: tuple[str | None, ...] = (None, "SIGTERM", "SIGINT")
"""A stop signal as a number the DDP processes all-reduce (max: Ctrl-C wins)."""

SIGNAL_EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}
"""Exit codes of a run stopped by a signal (128 + the signal number, as shells report)."""


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C or SIGTERM; the message says how to continue it.

    A ``KeyboardInterrupt`` so that it ends a whole sweep, not only its job."""

    def __init__(self, message: str, signal_name: str = "SIGINT") -> None:
        super().__init__(message)
        self.signal_name = signal_name

    @property
    def exit_code(self) -> int:
        return SIGNAL_EXIT_CODES.get(self.signal_name, 130)


def rng_state() -> dict[str, Any]:
    """The global random-number generators' states as tensors and plain Python values
    (loadable with ``torch.load(weights_only=True)``)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "state": list(py_state), "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _metrics(module: torch.nn.Module) -> dict[str, Metric]:
    return {name: m for name, m in module.named_modules() if isinstance(m, Metric)}


class Interruption(Callback):
    """Route the first Ctrl-C to Lightning's SIGTERM stop, save ``dirpath/last.ckpt`` when
    a fit stops that way, and carry what an exact resume needs (see the module doc).

    After a fit, ``interrupted`` names the signal that stopped it ("SIGINT", "SIGTERM")
    or is None; ``checkpoint`` is the checkpoint written then (None after a second Ctrl-C).
    """

    def __init__(
        self, dirpath: str | Path, agree_every_n_batches: int = AGREE_EVERY_N_BATCHES
    ) -> None:
        super().__init__()
        self.dirpath = Path(dirpath)
        self._agreement = AgreementSchedule(agree_every_n_batches, "agree_every_n_batches")
        self.interrupted: str | None = None
        self.checkpoint: Path | None = None
        self._signal: str | None = None
        self._with_metrics = False
        self._pending: dict[str, Any] | None = None
        self._module: torch.nn.Module | None = None

    @property
    def stop_signal(self) -> str | None:
        """The signal ("SIGINT", "SIGTERM") that is stopping the run, None until one comes."""
        return self._signal

    @property
    def ckpt_path(self) -> Path:
        return self.dirpath / "last.ckpt"

    @contextmanager
    def sigterm_outside_fit(self) -> Iterator[None]:
        """SIGTERM while no fit is stepping (the final validation and test, a fit's set-up)
        stops the run as Ctrl-C does: ``KeyboardInterrupt``, recorded as SIGTERM. During
        the training batches Lightning's handler, which calls this one as well, stops the
        fit at a batch boundary instead, and this one stands aside."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_sigterm(signum: int, frame: Any) -> None:
            if self._signal is not None:  # a fit is already stopping after its batch
                return
            self._signal = "SIGTERM"
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_sigterm)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)

    # ------------------------------------------------------------------ signals
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.interrupted, self.checkpoint, self._signal = None, None, None
        self._agreement.reset()
        if threading.current_thread() is not threading.main_thread():
            return
        # Lightning registered its SIGTERM handler before this hook and restores every
        # handler at teardown
        lightning_sigterm = signal.getsignal(signal.SIGTERM)

        # Under DDP Lightning's handler broadcasts from inside the signal handler, and
        # the processes get a signal at different points (one in a collective of its
        # own, another drawing a figure): the two collectives then wait for each other
        # for ever. There the handlers only note the signal, and all processes agree on
        # it at the same points, the end of every n-th training batch and of every epoch
        # (one all-reduce, see _agree), where Lightning's own stop follows. (Lightning
        # also broadcasts rank 0's stop flag before every batch, but rank 0 cannot raise
        # that flag alone: Lightning reads it locally at the end of every batch too, so
        # rank 0 would stop there while the others wait in the next broadcast for ever.)
        distributed = trainer.world_size > 1

        def stop_fit(signum: int, frame: Any) -> None:
            if not distributed and callable(lightning_sigterm):
                lightning_sigterm(signum, frame)

        def on_sigterm(signum: int, frame: Any) -> None:
            if self._signal is None:  # else the fit is stopping already
                self._signal = "SIGTERM"
                stop_fit(signum, frame)

        def on_sigint(signum: int, frame: Any) -> None:
            if self._signal is None and (distributed or callable(lightning_sigterm)):
                self._signal = "SIGINT"
                stop_fit(signum, frame)
            elif not (distributed and trainer.global_rank > 0):
                # a second Ctrl-C stops at once; under DDP that is rank 0's to do, and
                # Lightning then kills the other processes
                raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_sigterm)
        signal.signal(signal.SIGINT, on_sigint)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any
    ) -> None:
        if self._agreement.batch_end():
            self._agree(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._agreement.epoch_end():
            self._agree(trainer)

    def _agree(self, trainer: pl.Trainer) -> None:
        """Under DDP: whether any process got a stop signal, agreed by all of them at the
        same point (every n-th batch, every epoch end); then Lightning stops every one
        at the end of this batch (or epoch), as it stops a single process after its
        handler ran."""
        if not several_processes(trainer):  # one process: Lightning's handler stopped it
            return
        code = STOP_CODES.index(self._signal)
        flag = torch.tensor([code], device=trainer.strategy.root_device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        agreed = STOP_CODES[int(flag.item())]
        if agreed is not None:
            self._signal = agreed
            trainer._signal_connector.received_sigterm = True  # Lightning's stop flag

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, SIGTERMException):
            self.interrupted = self._signal or "SIGTERM"
            self._with_metrics = True
            try:
                # the full state (optimizer, loops, callbacks), said outright: Lightning
                # logs a note when weights_only is left unset
                trainer.save_checkpoint(self.ckpt_path, weights_only=False)
            finally:
                self._with_metrics = False
            self.checkpoint = self.ckpt_path
        elif isinstance(exception, KeyboardInterrupt):
            self.interrupted = self._signal or "SIGINT"

    # ------------------------------------------------------------- exact resume
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._module = pl_module

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"rng": rng_state()}
        if self._with_metrics and self._module is not None:
            # the running means of the epoch the interruption cut
            state["metrics"] = {
                name: {k: v.detach().cpu() for k, v in m.metric_state.items() if torch.is_tensor(v)}
                for name, m in _metrics(self._module).items()
            }
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = dict(state_dict)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        if "rng" in pending:
            set_rng_state(pending["rng"])
        metrics = _metrics(pl_module)
        for name, values in pending.get("metrics", {}).items():
            if name in metrics:
                for key, value in values.items():
                    setattr(metrics[name], key, value.to(pl_module.device))
