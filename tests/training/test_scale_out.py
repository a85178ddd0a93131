"""Scale-out settings: threads per parallel job, and the cluster launcher's config.

The SLURM launcher cannot run here (no cluster); what can be checked is that
``hydra/launcher=slurm`` composes into the submitit launcher with our defaults and the
user's overrides, and that its class imports.
"""

from __future__ import annotations

import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf

from dlnotes.training import threads
from tests.cli.conftest import compose_config


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 4)


def _launcher(n_jobs: int):
    return OmegaConf.create(
        {"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
         "n_jobs": n_jobs}
    )  # fmt: skip


@pytest.mark.parametrize(("n_jobs", "expected"), [(2, 2), (4, 1), (8, 1), (-1, 1), (-3, 2)])
def test_auto_shares_the_cores_among_joblib_workers(four_cores, n_jobs, expected):
    cfg = OmegaConf.create({"threads": "auto", "trainer": {"accelerator": "cpu", "devices": 1}})
    assert threads.resolve_threads(cfg, _launcher(n_jobs)) == expected


def test_auto_shares_the_cores_among_ddp_processes(four_cores):
    cfg = OmegaConf.create({"threads": "auto", "trainer": {"accelerator": "cpu", "devices": 2}})
    assert threads.resolve_threads(cfg, None) == 2
    assert threads.resolve_threads(cfg, _launcher(2)) == 1


def test_auto_keeps_pytorchs_default_for_one_process(four_cores):
    cfg = OmegaConf.create({"threads": "auto", "trainer": {"accelerator": "cpu", "devices": 1}})
    assert threads.resolve_threads(cfg, None) is None
    basic = OmegaConf.create(
        {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}
    )
    assert threads.resolve_threads(cfg, basic) is None


def test_explicit_threads_and_null():
    assert threads.resolve_threads(OmegaConf.create({"threads": 3})) == 3
    assert threads.resolve_threads(OmegaConf.create({"threads": None})) is None
    with pytest.raises(ValueError, match=r"threads=many .*threads=auto"):
        threads.resolve_threads(OmegaConf.create({"threads": "many"}))


def test_set_threads_applies_the_count(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        assert threads.set_threads(OmegaConf.create({"threads": 1})) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_default_config_asks_for_auto(tmp_path):
    assert compose_config([], tmp_path).threads == "auto"


def test_joblib_sweep_config_gives_each_worker_its_share(tmp_path, four_cores):
    cfg = compose_config(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], tmp_path)
    assert threads.resolve_threads(cfg, cfg.hydra.launcher) == 2


@pytest.mark.parametrize("demo", ["optimizer", "cnn", "rnn-clipping"])
def test_demo_sweeps_two_jobs_at_a_time_and_moves_to_slurm_unchanged(demo, tmp_path, four_cores):
    local = compose_config([f"experiment={demo}"], tmp_path)
    assert get_class(local.hydra.launcher._target_).__name__ == "JoblibLauncher"
    assert local.hydra.launcher.n_jobs == 2
    assert threads.resolve_threads(local, local.hydra.launcher) == local.threads  # demos: 1
    more = compose_config([f"experiment={demo}", "hydra.launcher.n_jobs=4"], tmp_path)
    assert more.hydra.launcher.n_jobs == 4
    # the launcher is a group choice: no joblib key is left behind on the cluster's
    cluster = compose_config([f"experiment={demo}", "hydra/launcher=slurm"], tmp_path)
    assert cluster.hydra.launcher._target_.endswith("SlurmLauncher")
    assert "n_jobs" not in cluster.hydra.launcher
    assert cluster.hydra.sweeper.params == local.hydra.sweeper.params


def test_slurm_launcher_composes(tmp_path):
    cfg = compose_config(
        ["hydra/launcher=slurm", "hydra.launcher.partition=cpu", "hydra.launcher.timeout_min=30"],
        tmp_path,
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.partition == "cpu" and launcher.timeout_min == 30
    assert launcher.cpus_per_task == 2 and launcher.array_parallelism == 32
    # the jobs' logs go into the sweep folder of dlnotes-train
    assert launcher.submitit_folder.startswith("outputs/multirun/")
    assert launcher.submitit_folder.endswith("/.submitit/%j")
    assert get_class(launcher._target_).__name__ == "SlurmLauncher"


def test_gpu_trainer_picks_cuda_where_present(tmp_path):
    """trainer=gpu asks Lightning for accelerator=auto: CUDA when there is one, else CPU."""
    import lightning as L
    import torch

    cfg = compose_config(["trainer=gpu"], tmp_path)
    assert cfg.trainer.accelerator == "auto"
    trainer = L.Trainer(accelerator="auto", devices=1, logger=False, enable_checkpointing=False)
    expected = "CUDAAccelerator" if torch.cuda.is_available() else "CPUAccelerator"
    assert type(trainer.accelerator).__name__ == expected


def test_gpu_run_trains_on_cuda(tmp_path):
    """A few steps of dlnotes-train trainer=gpu where CUDA exists (skipped elsewhere)."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from dlnotes.training.run import train

    overrides = ["trainer=gpu", "model=lenet", "data=mnist5k", "data.train_size=64",
                 "trainer.max_steps=3", "callbacks=none", "~logger"]  # fmt: skip
    result = train(compose_config(overrides, tmp_path), tmp_path, overrides)
    assert result["status"] == "ok" and result["steps"] == 3
    assert result["train_loss"] is not None and result["test_loss"] is not None


def test_a_single_run_of_a_demo_does_not_count_the_sweeps_workers(tmp_path, four_cores):
    """A demo's config picks the joblib launcher for its sweep; run once (no -m), it trains
    alone and keeps PyTorch's default, and only its sweep's jobs share the cores."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    cfg = compose_config(["experiment=optimizer", "threads=auto"], tmp_path)
    assert "Joblib" in cfg.hydra.launcher._target_ and cfg.hydra.launcher.n_jobs == 2
    assert threads.hydra_launcher() is None
    assert threads.resolve_threads(cfg, threads.hydra_launcher()) is None
    OmegaConf.set_readonly(cfg.hydra, False)  # HydraConfig made it read-only
    cfg.hydra.mode = RunMode.MULTIRUN
    HydraConfig.instance().set_config(cfg)
    assert threads.resolve_threads(cfg, threads.hydra_launcher()) == 2
