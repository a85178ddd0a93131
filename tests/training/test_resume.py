"""Interruption and resume, atomic weights-only checkpoints, reproducibility.

An interrupted run leaves checkpoints/last.ckpt and a metrics.json marked interrupted;
resume=true continues it and ends with exactly the metrics of an uninterrupted run of the
same seed — mid-epoch (Ctrl-C/SIGTERM stop after the batch in progress), on the last batch
of an epoch, and from the end-of-epoch checkpoint after a hard KeyboardInterrupt.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from dlnotes.data.toy2d import MoonsDataModule
from dlnotes.training.checkpoint_io import AtomicCheckpointIO
from dlnotes.training.interrupt import RunInterrupted
from dlnotes.training.run import train
from tests.cli.conftest import compose_config

# 120 training points in batches of 16: 8 steps per epoch; dropout draws from the global RNG
BASE = [
    "model=deep_mlp",
    "model.hidden=[8,8]",
    "model.dropout=0.3",
    "data=moons",
    "data.n_samples=200",
    "data.batch_size=16",
    "trainer.max_epochs=4",
    "scheduler=step",
    "scheduler.step_size=1",
    "callbacks=none",
    "+callbacks.model_checkpoint._target_=lightning.pytorch.callbacks.ModelCheckpoint",
    "+callbacks.model_checkpoint.dirpath=${hydra:runtime.output_dir}/checkpoints",
    "+callbacks.model_checkpoint.filename=last",
    "+callbacks.model_checkpoint.save_on_train_epoch_end=true",
    "+callbacks.model_checkpoint.enable_version_counter=false",
    "print_config=false",
]
NUMBERS = ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc", "epochs",
           "steps", "params", "diverged", "status")  # fmt: skip


class SignalAt(pl.Callback):
    """After training step ``step``: send ``signum`` to this process, or with ``hard``
    raise KeyboardInterrupt right there."""

    def __init__(self, step: int, signum: int = signal.SIGINT, hard: bool = False) -> None:
        self.step, self.signum, self.hard = step, signum, hard

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            if self.hard:
                raise KeyboardInterrupt
            os.kill(os.getpid(), self.signum)


def run(run_dir: Path, *extra: str, interrupt: dict | None = None, base=BASE) -> dict:
    cfg = compose_config([*base, *extra], run_dir)
    if interrupt:
        with open_dict(cfg):
            cfg.callbacks.interrupt = {"_target_": f"{__name__}.SignalAt", **interrupt}
    try:
        return train(cfg, run_dir, [*base, *extra], dict(cfg.hydra.runtime.choices))
    finally:
        GlobalHydra.instance().clear()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    return run(tmp_path_factory.mktemp("reference"))


@pytest.mark.parametrize(
    "interrupt",
    [
        {"step": 13},  # Ctrl-C mid-epoch (epoch 1, batch 5 of 8)
        {"step": 13, "signum": signal.SIGTERM},
        {"step": 16},  # on the last batch of epoch 1
        {"step": 13, "hard": True},  # no new checkpoint: resumes from the end of epoch 0
        {"step": 29},  # mid-way through the last epoch: its train means span the resume
    ],
    ids=[
        "sigint-mid-epoch",
        "sigterm-mid-epoch",
        "sigint-last-batch",
        "hard-interrupt",
        "sigint-last-epoch",
    ],
)
def test_interrupted_run_resumes_to_the_uninterrupted_metrics(interrupt, reference, tmp_path):
    with pytest.raises(RunInterrupted) as info:
        run(tmp_path, interrupt=interrupt)
    stopped = json.loads((tmp_path / "metrics.json").read_text())
    assert stopped["status"] == "interrupted" and stopped["interrupted"] is True
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert stopped["checkpoint"] == str(last) and last.is_file()
    ckpt = torch.load(last, weights_only=True)
    if interrupt.get("hard"):
        assert stopped["signal"] == "SIGINT" and ckpt["global_step"] == 8  # end of epoch 0
    else:
        name = "SIGTERM" if interrupt.get("signum") == signal.SIGTERM else "SIGINT"
        assert stopped["signal"] == name and info.value.exit_code == {"SIGINT": 130}.get(name, 143)
        assert stopped["steps"] == ckpt["global_step"] == interrupt["step"]  # the batch finished
    assert "resume=true" in str(info.value) and f"hydra.run.dir={tmp_path}" in str(info.value)
    assert stopped["resume_command"].endswith(f"resume=true hydra.run.dir={tmp_path}")

    resumed = run(tmp_path, "resume=true")
    assert {k: resumed[k] for k in NUMBERS} == {k: reference[k] for k in NUMBERS}
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "ok"
    assert not list((tmp_path / "checkpoints").glob("last-v*.ckpt"))


# the same run on 64 MNIST digits whose training batches are randomly rotated, zoomed and
# shifted (fitting-remedies' augmentation): 4 steps per epoch, the augmentation's own
# random stream continues across the resume
AUGMENTED = [
    *[arg for arg in BASE if not arg.startswith("data")],
    "data=mnist5k",
    "data.train_size=64",
    "data.batch_size=16",
    "+experiment/fitting-remedies=augment",
]


@pytest.mark.parametrize("step", [6, 8], ids=["mid-epoch", "end-of-epoch"])
def test_augmented_run_resumes_to_the_uninterrupted_metrics(step, tmp_path):
    reference = run(tmp_path / "reference", base=AUGMENTED)
    with pytest.raises(RunInterrupted):
        run(tmp_path / "run", interrupt={"step": step}, base=AUGMENTED)
    resumed = run(tmp_path / "run", "resume=true", base=AUGMENTED)
    assert {k: resumed[k] for k in NUMBERS} == {k: reference[k] for k in NUMBERS}


class SigtermAtTest(pl.Callback):
    """SIGTERM to this process when the final test starts (after the fit)."""

    def on_test_start(self, trainer, pl_module) -> None:
        os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_after_the_fit_is_recorded_and_resumed(reference, tmp_path):
    cfg = compose_config(BASE, tmp_path)
    with open_dict(cfg):
        cfg.callbacks.interrupt = {"_target_": f"{__name__}.SigtermAtTest"}
    try:
        with pytest.raises(RunInterrupted) as info:
            train(cfg, tmp_path, BASE, dict(cfg.hydra.runtime.choices))
    finally:
        GlobalHydra.instance().clear()
    assert info.value.exit_code == 143
    stopped = json.loads((tmp_path / "metrics.json").read_text())
    assert stopped["status"] == "interrupted" and stopped["signal"] == "SIGTERM"
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert stopped["steps"] == 32 and stopped["checkpoint"] == str(last)
    assert torch.load(last, weights_only=True)["global_step"] == 32  # the fit's final weights
    resumed = run(tmp_path, "resume=true")  # nothing left to train: validation and test
    assert {k: resumed[k] for k in NUMBERS} == {k: reference[k] for k in NUMBERS}


class SignalInSetup(MoonsDataModule):
    """Moons whose set-up gets ``signum`` (SIGTERM by default), as a long data read might."""

    def __init__(self, signum: int = signal.SIGTERM, **kwargs) -> None:
        super().__init__(**kwargs)
        self.signum = signum

    def setup(self, stage: str | None = None) -> None:
        os.kill(os.getpid(), self.signum)
        super().setup(stage)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_stop_signal_while_the_run_is_built_is_recorded(signum, tmp_path):
    target = f"data._target_={__name__}.SignalInSetup"
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RunInterrupted) as info:
        run(tmp_path, target, f"+data.signum={int(signum)}")
    name = signal.Signals(signum).name
    assert info.value.exit_code == {"SIGINT": 130, "SIGTERM": 143}[name]
    assert "before any checkpoint was written" in str(info.value)
    stopped = json.loads((tmp_path / "metrics.json").read_text())
    assert stopped["status"] == "interrupted" and stopped["signal"] == name
    assert stopped["steps"] == stopped["epochs"] == 0 and stopped["checkpoint"] is None
    assert stopped["overrides"][-2:] == [target, f"+data.signum={int(signum)}"]
    assert signal.getsignal(signal.SIGTERM) == handler  # the process's own, back again


def test_ckpt_path_continues_from_a_given_checkpoint(reference, tmp_path):
    with pytest.raises(RunInterrupted):
        run(tmp_path / "first", interrupt={"step": 20})
    ckpt = tmp_path / "first" / "checkpoints" / "last.ckpt"
    resumed = run(tmp_path / "second", f"ckpt_path={ckpt}")
    assert {k: resumed[k] for k in NUMBERS} == {k: reference[k] for k in NUMBERS}


def test_same_config_and_seed_give_the_same_metrics(reference, tmp_path):
    again = run(tmp_path / "again")
    assert {k: v for k, v in again.items() if k != "seconds"} == {
        k: v for k, v in reference.items() if k != "seconds"
    }
    other = run(tmp_path / "seed1", "seed=1")
    assert other["val_loss"] != reference["val_loss"]


def test_checkpoint_save_is_atomic(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 1}, path)

    def torn_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "epoch": 2}, path)
    monkeypatch.undo()
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]  # no temp file left
    kept = io.load_checkpoint(path)
    assert kept["epoch"] == 1 and torch.equal(kept["state_dict"]["w"], torch.ones(3))


def test_checkpoints_load_weights_only(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "evil.ckpt"
    io.save_checkpoint({"callback": SignalAt(1)}, path)  # an arbitrary object: unsafe
    with pytest.raises(Exception, match=r"[Ww]eights only|weights_only"):
        io.load_checkpoint(path)
    with pytest.raises(ValueError, match="weights_only=True only"):
        io.load_checkpoint(path, weights_only=False)


# named as Hydra names run folders: the overrides, whose = and , the printed command quotes
RUN = "run_data=moons,trainer.max_epochs=12"


def test_sigterm_to_the_cli_and_resume_with_the_printed_command(tmp_path):
    # 30 steps per epoch, 12 epochs; the signal comes once the first epoch has ended
    args = ["data=moons", "data.n_samples=400", "data.batch_size=8", "trainer.max_epochs=12",
            "callbacks=none", "~logger", "++trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false", "print_config=false",
            f"hydra.run.dir='{RUN}'"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])

    def cli(cwd: Path, *extra: str) -> subprocess.Popen:
        cwd.mkdir(exist_ok=True)
        cmd = [sys.executable, "-m", "dlnotes", *args, *extra]
        return subprocess.Popen(cmd, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)

    reference = cli(tmp_path / "reference")
    victim = cli(tmp_path / "victim", "+callbacks.epochs._target_=" + f"{__name__}.EpochFile")
    marker = tmp_path / "victim" / RUN / "epoch"
    deadline = time.time() + 240
    while not marker.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    victim.send_signal(signal.SIGTERM)
    _, stderr = victim.communicate(timeout=240)
    assert victim.returncode == 143, stderr[-2000:]
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("dlnotes-train: Interrupted (SIGTERM)") and "Traceback" not in stderr
    command = line.split("continue with: ")[1]
    stopped = json.loads((tmp_path / "victim" / RUN / "metrics.json").read_text())
    assert stopped["status"] == "interrupted" and 30 <= stopped["steps"] < 12 * 30
    assert command == stopped["resume_command"]

    resumed = subprocess.run(
        [sys.executable, "-m", "dlnotes", *shlex.split(command)[1:]],
        cwd=tmp_path / "victim",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert reference.wait(timeout=300) == 0
    final = json.loads((tmp_path / "victim" / RUN / "metrics.json").read_text())
    expected = json.loads((tmp_path / "reference" / RUN / "metrics.json").read_text())
    assert final["status"] == "ok" and final["steps"] == expected["steps"] == 12 * 30
    assert {k: final[k] for k in NUMBERS} == {k: expected[k] for k in NUMBERS}


class EpochFile(pl.Callback):
    """Writes ``<run>/epoch`` when an epoch ends (the test then knows training runs)."""

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        Path(trainer.default_root_dir, "epoch").write_text(str(trainer.current_epoch))
