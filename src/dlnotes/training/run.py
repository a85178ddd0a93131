"""One training run from a composed config: data → model → init → Lightning fit/test.

The config travels down once: ``cfg.data`` builds the datamodule, whose ``spec`` sizes
the model built from ``cfg.model``; ``cfg.init`` initializes it; ``cfg.optimizer`` and
``cfg.scheduler`` become the Task's factories; ``cfg.trainer``, ``cfg.callbacks`` and
``cfg.logger`` build the Lightning Trainer.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from dlnotes import init
from dlnotes.models import Model
from dlnotes.training.metrics_file import final_metrics, write_json

# in-memory tensors need no worker processes; a library deprecation users cannot act on
warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
warnings.filterwarnings("ignore", message=r".*treespec, LeafSpec.*")


def build_model(cfg: DictConfig, datamodule: L.LightningDataModule) -> Model:
    """The model of ``cfg.model`` sized by the data, initialized by ``cfg.init``."""
    # partial: the spec is an object, not config, so it joins after instantiation
    model = instantiate(cfg.model, _partial_=True)(spec=datamodule.spec)
    init_cfg = OmegaConf.to_container(cfg.init, resolve=True) if cfg.get("init") else {}
    if init_cfg:
        init.apply(model, seed=cfg.seed, **init_cfg)
    return model


def build_task(cfg: DictConfig, model: Model) -> L.LightningModule:
    """Wrap ``model`` with the optimizer and optional scheduler of the config."""
    scheduler, interval, monitor = None, "epoch", "val/loss"
    if cfg.get("scheduler"):
        sched_cfg = OmegaConf.to_container(cfg.scheduler, resolve=True)
        interval = sched_cfg.pop("interval", "epoch")
        monitor = sched_cfg.pop("monitor", "val/loss")
        scheduler = instantiate(sched_cfg)
    # cfg.task picks the LightningModule (default: Task); a demo may bring its own
    task_cfg = cfg.get("task") or {"_target_": "dlnotes.training.task.Task"}
    return instantiate(
        task_cfg,
        model,
        optimizer=instantiate(cfg.optimizer),
        scheduler=scheduler,
        scheduler_interval=interval,
        scheduler_monitor=monitor,
    )


def build_trainer(cfg: DictConfig) -> L.Trainer:
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    return instantiate(cfg.trainer, callbacks=callbacks, logger=logger)


def _hparams(cfg: DictConfig, choices: dict[str, str]) -> dict[str, Any]:
    """What the HPARAMS tab shows: the group choices and the model/optimizer/data knobs."""
    params: dict[str, Any] = {f"choice/{k}": v for k, v in choices.items() if v is not None}
    for group in ("model", "optimizer", "init"):
        section = OmegaConf.to_container(cfg.get(group) or {}, resolve=True)
        for key, value in section.items():
            if not key.startswith("_"):
                params[f"{group}.{key}"] = str(value) if isinstance(value, list) else value
    for key in ("batch_size", "n_samples", "noise", "train_size", "label_noise"):
        if key in cfg.data:
            params[f"data.{key}"] = cfg.data[key]
    params["seed"] = cfg.seed
    params["trainer.max_epochs"] = cfg.trainer.max_epochs
    return params


def train(
    cfg: DictConfig,
    run_dir: str | Path,
    overrides: list[str] | None = None,
    choices: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Fit, test, write ``metrics.json`` into ``run_dir`` and return its content."""
    run_dir = Path(run_dir)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    model = build_model(cfg, datamodule)
    task = build_task(cfg, model)
    trainer = build_trainer(cfg)
    ckpt_path = cfg.get("ckpt_path")
    if cfg.get("resume") and not ckpt_path:
        last = run_dir / "checkpoints" / "last.ckpt"
        ckpt_path = str(last) if last.exists() else None

    start = time.perf_counter()
    trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
    seconds = time.perf_counter() - start
    fit_metrics = dict(trainer.callback_metrics)
    divergence = next((c for c in trainer.callbacks if hasattr(c, "diverged")), None)
    diverged = bool(divergence and divergence.diverged)
    final = dict(fit_metrics)
    if not diverged:
        # final weights: val (also when max_steps ended the fit mid-epoch) and test
        final.update(trainer.validate(task, datamodule=datamodule, verbose=False)[0])
        final.update(trainer.test(task, datamodule=datamodule, verbose=False)[0])
    metrics = final_metrics(final, classification=getattr(task, "classification", False))
    result: dict[str, Any] = {
        **metrics,
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "seconds": round(seconds, 3),
        "diverged": diverged,
        "diverged_step": getattr(divergence, "diverged_step", None) if diverged else None,
        "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "overrides": list(overrides or []),
        "model": type(model).__name__,
        "data": datamodule.spec.name,
    }
    write_json(run_dir / "metrics.json", result)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            hp_metrics = {f"hp/{k}": v for k, v in metrics.items() if v is not None}
            logger.log_hyperparams(_hparams(cfg, choices or {}), metrics=hp_metrics)
            logger.experiment.add_text("config", f"```yaml\n{OmegaConf.to_yaml(cfg)}\n```")
            logger.finalize("success")
    return result
