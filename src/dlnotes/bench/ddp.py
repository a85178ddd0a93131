"""Section "ddp": the cost of our framework layer on 2 CPU processes (DDP, gloo).

The same deep MLP (784 → 64 → 64 → 10, hand-written backward) trains on the same
in-memory data, each process taking its half of every epoch (a DistributedSampler) in
batches of 64, so that a step is the gradient of a global batch of 128:

- by a plain PyTorch loop around ``DistributedDataParallel`` (its forward computes
  :meth:`~dlnotes.models.Model.cost`, so that DDP all-reduces the gradients of the
  hand-written backward);
- by ``Trainer.fit`` of a bare LightningModule (Lightning's own share);
- by ``Trainer.fit`` of our :class:`~dlnotes.training.task.Task` with the callbacks every
  ``dlnotes-train trainer=ddp_cpu`` run has that take part in every step: the
  :class:`~dlnotes.training.callbacks.DivergenceMonitor` and the Ctrl-C/SIGTERM
  :class:`~dlnotes.training.interrupt.Interruption` (their agreements between the
  processes, see :mod:`dlnotes.training.agreement`).

Each sample is one run of ``python -m dlnotes.bench.ddp <loop>`` (the Lightning loops
start their second process as ``dlnotes-train`` does, by running that command again), and
its time is that of the steps after the first ``WARM`` alone: starting the processes and
the process group (seconds) is left out. The row reports the median milliseconds a step
and the ratio to the plain loop; there is no target. Each process gets half the cores.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from lightning.pytorch.strategies import DDPStrategy
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from dlnotes.bench.lightning_fit import BareModule, bench_trainer, quiet_lightning, tensor_data
from dlnotes.bench.timing import time_interleaved
from dlnotes.data.base import TensorBatchDataset, collate_batch
from dlnotes.data.loader import ResumableDataLoader
from dlnotes.models import DeepMLP, Model
from dlnotes.training.callbacks import DivergenceMonitor
from dlnotes.training.interrupt import Interruption
from dlnotes.training.task import Task
from dlnotes.training.threads import available_cores

LOOPS = ("plain DDP", "fit, bare LightningModule", "fit")
"""The loops compared, the plain one first (the ratios are to it)."""

PROCESSES = 2
WARM = 30
"""Untimed steps at the start of a run (allocator, caches, the first collectives)."""


def _setting(tiny: bool) -> dict[str, Any]:
    """Sizes of a run: full (MNIST-sized MLP, 300 steps) or tiny (for the tests)."""
    if tiny:
        return {"features": 12, "hidden": [4], "batch": 4, "batches": 3, "epochs": 2, "warm": 1}
    return {"features": 784, "hidden": [64, 64], "batch": 64, "batches": 25, "epochs": 12,
            "warm": WARM}  # fmt: skip


def run(repeats: int, tiny: bool = False) -> list[dict[str, Any]]:
    """The three loops, ``repeats`` interleaved runs each: a row per loop."""
    setting = _setting(tiny)
    fns = {loop: functools.partial(_sample, loop, tiny) for loop in LOOPS}
    stats = time_interleaved(fns, repeats, warmup=0, min_sample_s=0.0)
    steps = setting["batches"] * setting["epochs"] - setting["warm"]
    plain = stats[LOOPS[0]].median
    return [
        {
            "loop": loop,
            "processes": PROCESSES,
            "steps": steps,
            "batch": setting["batch"],
            "seconds": s.as_dict(),
            "ms_per_step": 1e3 * s.median / steps,
            "ratio": s.median / plain,
            "target": None,
            "time": "–",
        }
        for loop, s in stats.items()
    ]


class RunFailed(RuntimeError):
    """A DDP run of the benchmark exited with an error."""


def _sample(loop: str, tiny: bool) -> float:
    """Seconds of the timed steps of one run of ``loop``, in fresh processes."""
    command = [sys.executable, "-m", __name__, loop, *(["--tiny"] if tiny else [])]
    # a run of its own, never a rank of an outer one (a cluster runner's variables would
    # make Lightning wait for processes it did not start)
    outer = ("MASTER_", "WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_",
             "TORCHELASTIC_", "OMPI_", "LSB_")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(outer)}
    env["PYTHONWARNINGS"] = "ignore"
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise RunFailed(f"{' '.join(command)} exited with {proc.returncode}:\n{tail}")
    return float(json.loads(lines[-1])["seconds"])


# ------------------------------------------------------------ inside the processes
def _threads() -> int:
    return max(1, available_cores() // PROCESSES)


def _data(setting: dict[str, Any]) -> TensorBatchDataset:
    samples = PROCESSES * setting["batches"] * setting["batch"]
    return tensor_data(samples, (setting["features"],), 10)


def _model(setting: dict[str, Any]) -> Model:
    torch.manual_seed(0)
    return DeepMLP(setting["features"], hidden=setting["hidden"], out_features=10)


class Cost(torch.nn.Module):
    """DDP's module in the plain loop: its forward is the model's cost, so that DDP
    all-reduces the gradients of the hand-written backward."""

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.model = model

    def forward(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        return self.model.cost(X, Y)[1]


def _plain_process(rank: int, setting: dict[str, Any], port: int) -> None:
    """One process of the plain loop; rank 0 prints the seconds of the timed steps."""
    torch.set_num_threads(_threads())
    store = dist.TCPStore("127.0.0.1", port, PROCESSES, is_master=rank == 0)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=PROCESSES)
    try:
        model, data = _model(setting), _data(setting)
        sampler = DistributedSampler(data, PROCESSES, rank, shuffle=False)
        loader = DataLoader(data, setting["batch"], sampler=sampler, collate_fn=collate_batch)
        cost = DistributedDataParallel(Cost(model))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        step, start = 0, 0.0
        for _ in range(setting["epochs"]):
            for X, Y in loader:
                if step == setting["warm"]:
                    start = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                cost(X, Y).backward()
                opt.step()
                step += 1
        seconds = time.perf_counter() - start
        if rank == 0:
            print(json.dumps({"seconds": seconds}), flush=True)
    finally:
        dist.destroy_process_group()


def _plain(setting: dict[str, Any]) -> None:
    with socket.socket() as s:  # a free port for the process group's store
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_plain_process, args=(setting, port), nprocs=PROCESSES)


class Clock(L.Callback):
    """Times the training steps after the first ``warm``."""

    def __init__(self, warm: int) -> None:
        self.warm, self.start, self.seconds = warm, 0.0, 0.0

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.warm:
            self.start = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.seconds = time.perf_counter() - self.start


def _fit(loop: str, setting: dict[str, Any]) -> None:
    """A Lightning DDP fit; Lightning runs this command again for rank 1."""
    torch.set_num_threads(_threads())
    model = _model(setting)
    loader = ResumableDataLoader(
        _data(setting), batch_size=setting["batch"], shuffle=False, collate_fn=collate_batch
    )
    clock = Clock(setting["warm"])
    with tempfile.TemporaryDirectory() as checkpoints, quiet_lightning():
        if loop == "fit":
            task: L.LightningModule = Task(model, functools.partial(torch.optim.SGD, lr=0.01))
            callbacks = [DivergenceMonitor(), Interruption(checkpoints), clock]
        else:
            task, callbacks = BareModule(model, 0.01), [clock]
        trainer = bench_trainer(
            setting["epochs"], False, callbacks, accelerator="cpu", devices=PROCESSES,
            strategy=DDPStrategy(process_group_backend="gloo"),
        )  # fmt: skip
        trainer.fit(task, train_dataloaders=loader)
    if trainer.global_rank == 0:
        print(json.dumps({"seconds": clock.seconds}), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one run of a loop of the ddp section")
    parser.add_argument("loop", choices=LOOPS)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    setting = _setting(args.tiny)
    if args.loop == LOOPS[0]:
        _plain(setting)
    else:
        _fit(args.loop, setting)


if __name__ == "__main__":
    main()
