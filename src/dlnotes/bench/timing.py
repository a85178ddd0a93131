"""Interleaved timing and peak memory: the two measurements every benchmark row rests on.

Timing. The implementations being compared run in rounds, A B, B A, A B, … (the order
flips every round, so neither always runs first after the other warmed the caches). A
sample is the mean of ``number`` back-to-back calls, ``number`` chosen once so that a
sample lasts at least ``min_sample_s``; the row reports the median of the samples and
their interquartile range. A burst of load from another process then slows a few
samples of *both* sides instead of all samples of one side, and the median ignores it.

Peak memory. On CUDA, the allocator's own peak counter (``torch.cuda.max_memory_allocated``).
On the CPU PyTorch has no such counter, but its profiler, with ``profile_memory=True``,
records every allocation and release of the CPU allocator (every tensor's storage goes
through it) with its size and time. Summing those signed sizes in time order gives the
bytes held at each instant by the code under the profiler; the peak is their maximum.
Tensors that existed before (the inputs) count as 0, so the figure is the extra memory a
call needs: its outputs, the tensors saved for backward, temporaries and gradients.
Buffers that a library allocates behind PyTorch's back (oneDNN scratch space) are not
seen, on either side.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class Stats:
    """Median and quartiles of one implementation's samples, in seconds per call."""

    median: float
    q1: float
    q3: float
    samples: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "iqr": self.iqr}


def summarize(samples: list[float]) -> Stats:
    """Median, first and third quartile of ``samples`` (one sample: all three equal)."""
    if not samples:
        raise ValueError("no samples to summarize")
    if len(samples) == 1:
        return Stats(samples[0], samples[0], samples[0], 1)
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return Stats(median, q1, q3, len(samples))


def _calls_per_sample(fn: Callable[[], object], min_sample_s: float) -> int:
    """How many calls of ``fn`` make one sample last at least ``min_sample_s``."""
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(1, int(min_sample_s / max(once, 1e-7)) + 1) if once < min_sample_s else 1


def time_interleaved(
    fns: Mapping[str, Callable[[], object]],
    repeats: int,
    warmup: int = 2,
    min_sample_s: float = 0.02,
) -> dict[str, Stats]:
    """Seconds per call of each function, sampled in alternating rounds.

    fns: name → a function of no arguments (one forward + backward, one training step…).
         A function that returns a float has timed itself: that many seconds are its
         sample (so that set-up, such as building a Trainer, stays out of the figure).
    repeats: samples per function; warmup: untimed calls of each function first.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    # the same number of calls per sample for every side, sized on the slowest
    number = 1
    if min_sample_s > 0:
        number = min(_calls_per_sample(fns[name], min_sample_s) for name in names)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            fn, own = fns[name], 0.0
            start = time.perf_counter()
            for _ in range(number):
                seconds = fn()
                own += seconds if isinstance(seconds, float) else 0.0
            elapsed = own or time.perf_counter() - start
            samples[name].append(elapsed / number)
    return {name: summarize(s) for name, s in samples.items()}


@contextlib.contextmanager
def _silenced_stderr() -> Iterator[None]:
    """Mute file descriptor 2 (the profiler's C++ start/stop lines) for the block."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_memory(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """Bytes allocated at the worst moment of one call of ``fn``, beyond what existed before.

    CUDA: the allocator's peak counter. CPU: the running sum of the profiler's allocation
    (+bytes) and release (−bytes) events, in time order (see the module docstring).
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return max(0, torch.cuda.max_memory_allocated(device) - before)
    from torch.profiler import ProfilerActivity, profile

    with _silenced_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p:
        fn()
    events = [e for e in p.profiler.kineto_results.events() if e.name() == "[memory]"]
    held = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        if event.device_type() == torch.autograd.DeviceType.CPU:
            # bytes held now = Σ allocations − Σ releases so far
            held += event.nbytes()
            peak = max(peak, held)
    return peak
