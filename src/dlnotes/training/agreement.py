"""When the processes of a DDP fit agree on a stop (a divergence, a Ctrl-C or SIGTERM).

A stop must be taken by every process at the same batch, or the ones still training wait
in the next gradient all-reduce for ever; so the processes agree on it with a collective
of their own. On 2 CPU processes (gloo) one such collective of a single number costs
~0.3 ms on its own and ~1.5 ms of a deep MLP's DDP step of ~5.5 ms (it waits for the
slower process); :class:`DivergenceMonitor` and :class:`Interruption` taking one each,
every batch, made that step ~35% slower. So they agree every ``every`` training batches
and at the end of every epoch: a stop comes at most ``every − 1`` batches later than a
single process would take it, and costs ~1/``every`` of a collective per step. Every
process counts the same batches (Lightning's DistributedSampler gives each as many), so
all of them agree at the same points. One process needs no agreement at all.
"""

from __future__ import annotations

from typing import Any

import torch

AGREE_EVERY_N_BATCHES = 10
"""Training batches between two agreements of the DDP processes (and at every epoch end)."""


class AgreementSchedule:
    """Counts a fit's training batches and says when the processes agree next."""

    def __init__(self, every: int = AGREE_EVERY_N_BATCHES, name: str = "every") -> None:
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(
                f"{name} must be an integer >= 1 (training batches between two agreements "
                f"of the DDP processes), got {every!r}"
            )
        self.every = every
        self.reset()

    def reset(self) -> None:
        """A new fit: no batch counted."""
        self._batches = 0
        self._since = 0  # batches since the last agreement

    def batch_end(self) -> bool:
        """A training batch ended: whether the processes agree now (every n-th batch)."""
        self._batches += 1
        self._since += 1
        return self._due(self._batches % self.every == 0)

    def epoch_end(self) -> bool:
        """A training epoch ended: whether they agree now (on batches not agreed on yet)."""
        return self._due(self._since > 0)

    def _due(self, due: bool) -> bool:
        if due:
            self._since = 0
        return due


def several_processes(trainer: Any) -> bool:
    """Whether ``trainer`` runs in more than one process with a process group to agree
    through (Lightning DDP)."""
    return (
        trainer.world_size > 1
        and torch.distributed.is_available()
        and torch.distributed.is_initialized()
    )
