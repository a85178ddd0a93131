"""One training run from a composed config: data → model → init → Lightning fit/test.

The config travels down once: ``cfg.data`` builds the datamodule, whose ``spec`` sizes
the model built from ``cfg.model``; ``cfg.init`` initializes it; ``cfg.optimizer`` and
``cfg.scheduler`` become the Task's factories; ``cfg.trainer``, ``cfg.callbacks`` and
``cfg.logger`` build the Lightning Trainer.
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path
from typing import Any

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import (
    LearningRateMonitor,
    ModelCheckpoint,
    ModelSummary,
    ProgressBar,
)
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from dlnotes import init
from dlnotes.data import InMemoryDataModule
from dlnotes.models import Model
from dlnotes.training.batches import check_batch_norm_batches
from dlnotes.training.checkpoint_io import AtomicCheckpointIO, check_loadable
from dlnotes.training.commands import override, shell_join, shell_word
from dlnotes.training.distributed import check_accelerator, check_ddp_launch, hydra_multirun
from dlnotes.training.held_out import plan
from dlnotes.training.interrupt import Interruption, RunInterrupted
from dlnotes.training.metrics_file import failure_record, final_metrics, write_json
from dlnotes.training.threads import set_threads
from dlnotes.training.validate import (
    ConfigError,
    check_config,
    explain,
    model_data_mismatch,
    sentence,
)

log = logging.getLogger(__name__)


def build_model(cfg: DictConfig, datamodule: L.LightningDataModule) -> Model:
    """The model of ``cfg.model`` sized by the data, initialized by ``cfg.init``."""
    # partial: the spec is an object, not config, so it joins after instantiation
    model = instantiate(cfg.model, _partial_=True)(spec=datamodule.spec)
    init_cfg = OmegaConf.to_container(cfg.init, resolve=True) if cfg.get("init") else {}
    if init_cfg:
        init.apply(model, seed=cfg.seed, **init_cfg)
    return model


def build_task(cfg: DictConfig, model: Model, scheduler_frequency: int = 1) -> L.LightningModule:
    """Wrap ``model`` with the optimizer and optional scheduler of the config (stepped
    every ``scheduler_frequency`` intervals)."""
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
        scheduler_frequency=scheduler_frequency,
    )


SWITCHED_CALLBACKS: dict[str, type[L.Callback]] = {
    "enable_checkpointing": ModelCheckpoint,
    "enable_progress_bar": ProgressBar,
    "enable_model_summary": ModelSummary,
}
"""Trainer switch → the kind of callback it turns off."""


def build_trainer(
    cfg: DictConfig,
    extra_callbacks: list[L.Callback] | None = None,
    validates: bool = True,
) -> L.Trainer:
    """The Trainer of ``cfg.trainer`` with the callbacks and logger of the config, plus
    ``extra_callbacks``; checkpoints are written atomically and loaded weights-only. A run
    that never ``validates`` keeps no checkpoint of the best validation metric."""
    # an entry without _target_ is a setting of a callback that callbacks=none switched off
    entries = (cfg.get("callbacks") or {}).items()
    callbacks = [_build(f"callbacks.{k}", c) for k, c in entries if c and "_target_" in c]
    logger = _build("logger", cfg.logger) if cfg.get("logger") else False
    if logger is False:  # logger=null: the learning-rate monitor has nowhere to write
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    # Lightning's switches (trainer.enable_checkpointing=false, …) refuse a callback of
    # their kind in the list: switched off, they take ours out instead
    for switch, kind in SWITCHED_CALLBACKS.items():
        if cfg.trainer.get(switch) is False:
            callbacks = [c for c in callbacks if not isinstance(c, kind)]
    if not validates:
        callbacks = [c for c in callbacks if not _watches_validation(c)]
    return _build(
        "trainer",
        cfg.trainer,
        callbacks=[*callbacks, *(extra_callbacks or [])],
        logger=logger,
        plugins=[AtomicCheckpointIO()],
    )


def _watches_validation(callback: L.Callback) -> bool:
    """A checkpoint callback that keeps the best value of a ``val/`` metric."""
    monitor = getattr(callback, "monitor", None) if isinstance(callback, ModelCheckpoint) else None
    return str(monitor or "").startswith("val/")


def _build(label: str, node: Any, **kwargs: Any) -> Any:
    """``instantiate(node, **kwargs)``; an error becomes a ConfigError naming ``label``."""
    try:
        return instantiate(node, **kwargs)
    except Exception as err:
        raise explain(_cause(err), label) from err


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


class RunFailed(RuntimeError):
    """A run that stopped on an error; its metrics.json says ``status: failed`` and the
    error, ``traceback.txt`` in the run folder holds the traceback."""


def _label(group: str, choices: dict[str, Any]) -> str:
    """``group=<choice>`` ("data=moons"), or the group's name when no choice is known."""
    return f"{group}={choices[group]}" if choices.get(group) else group


def _cause(err: BaseException) -> BaseException:
    """The builder's own error inside Hydra's InstantiationException."""
    return err.__cause__ if isinstance(err, InstantiationException) and err.__cause__ else err


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> str | None:
    """The checkpoint the run continues from: ``ckpt_path``, or with ``resume=true``
    ``<run_dir>/checkpoints/last.ckpt`` (a ConfigError when there is none, except in a
    continued sweep, whose jobs without one start afresh)."""
    if cfg.get("ckpt_path"):
        return str(Path(str(cfg.ckpt_path)).expanduser())
    if not cfg.get("resume"):
        return None
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file() and hydra_multirun():
        log.info(
            "resume=true: %s holds no checkpoint; this job of the sweep starts afresh", run_dir
        )
        return None
    if not last.is_file():
        others = sorted((run_dir / "checkpoints").glob("*.ckpt"))
        fix = (
            "start from one of its other checkpoints with "
            + shell_word(override("ckpt_path", others[-1]))
            if others
            else "continue a run in its own folder with dlnotes-train <its overrides> "
            "resume=true hydra.run.dir=<run folder>"
        )
        raise ConfigError(f"resume=true found no checkpoint {last}; {fix}.")
    return str(last)


def resume_command(run_dir: Path, overrides: list[str]) -> str:
    """The command that continues the run in ``run_dir`` with the same overrides."""
    own = ("resume=", "ckpt_path=", "hydra.run.dir=")
    keep = [o for o in overrides if not o.lstrip("+~").startswith(own)]
    return shell_join(["dlnotes-train", *keep, "resume=true", override("hydra.run.dir", run_dir)])


def build_checked(
    cfg: DictConfig,
    run_dir: Path,
    choices: dict[str, Any],
    interruption: Interruption | None = None,
) -> tuple[L.LightningDataModule, Model, L.LightningModule, L.Trainer, Interruption]:
    """Data, model, task and trainer of the config, each error a one-sentence ConfigError
    naming its group; the trainer's callbacks include ``interruption`` (a new one for
    ``run_dir/checkpoints`` by default). Nothing is written to ``run_dir`` yet."""
    data_label = _label("data", choices)
    try:
        datamodule = instantiate(cfg.data)
        if isinstance(datamodule, InMemoryDataModule):  # files, sizes: checked now
            datamodule.prepare_data()
            datamodule.setup("fit")
    except Exception as err:
        raise explain(_cause(err), data_label) from err
    try:
        model = build_model(cfg, datamodule)
    except Exception as err:
        build = instantiate(cfg.model, _partial_=True)
        label = _label("model", choices)
        raise model_data_mismatch(_cause(err), build, datamodule.spec, label, data_label) from err
    classification = getattr(model, "task", None) in ("binary", "multiclass")
    held_out = plan(cfg, datamodule, classification, _label("scheduler", choices))
    try:
        task = build_task(cfg, model, held_out.scheduler_frequency)
    except Exception as err:
        labels = [_label(g, choices) for g in ("task", "optimizer", "scheduler") if cfg.get(g)]
        raise explain(_cause(err), ", ".join(labels)) from err
    try:  # the optimizer's own checks (betas, eps, ...), now rather than when the fit starts
        instantiate(cfg.optimizer)(params=model.parameters())
    except Exception as err:
        raise explain(_cause(err), _label("optimizer", choices)) from err
    interruption = interruption or Interruption(run_dir / "checkpoints")
    trainer = build_trainer(cfg, [interruption], validates=held_out.val_off is None)
    check_batch_norm_batches(cfg, model, datamodule, trainer.world_size)
    held_out.announce()
    return datamodule, model, task, trainer, interruption


def _print_lightning_once() -> None:
    """Lightning prints its messages ("GPU available: …") with a console handler of its
    own and passes them on to the root logger too: where Hydra gave the root a console
    (dlnotes-train), each line showed twice. Lightning's handler is then taken off, so
    that its lines show once, in Hydra's format, and reach the run's train.log."""
    consoles = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    lightning_log = logging.getLogger("lightning")
    if consoles and lightning_log.propagate:
        for handler in [h for h in lightning_log.handlers if type(h) is logging.StreamHandler]:
            lightning_log.removeHandler(handler)


def train(
    cfg: DictConfig,
    run_dir: str | Path,
    overrides: list[str] | None = None,
    choices: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Check the config, fit, test, write ``metrics.json`` into ``run_dir`` and return it.

    Raises :class:`~dlnotes.training.validate.ConfigError` when the config cannot run
    (nothing written), :class:`~dlnotes.training.interrupt.RunInterrupted` after Ctrl-C
    or SIGTERM (metrics.json ``status: interrupted``, resume from
    ``checkpoints/last.ckpt``), :class:`RunFailed` on any other error (``status: failed``).
    """
    run_dir = Path(run_dir)
    overrides, choices = list(overrides or []), dict(choices or {})
    _print_lightning_once()
    check_config(cfg, choices, overrides)
    ckpt_path = resume_checkpoint(cfg, run_dir)
    check_ddp_launch(cfg, hydra_multirun())
    check_accelerator(cfg)
    set_threads(cfg)  # threads: auto shares the cores among parallel sweep jobs
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    interruption = Interruption(run_dir / "checkpoints")
    with interruption.sigterm_outside_fit():  # from here on, a stop signal is recorded
        built = _build_recorded(cfg, run_dir, choices, interruption, overrides)
        datamodule, model, task, trainer = built
        if ckpt_path:  # a checkpoint of another model: one sentence, before the fit
            key = f"ckpt_path={ckpt_path}" if cfg.get("ckpt_path") else f"resume=true ({ckpt_path})"
            check_loadable(ckpt_path, task, key)
        facts = {
            "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "overrides": overrides,
            "model": type(model).__name__,
            "data": datamodule.spec.name,
        }
        start = time.perf_counter()
        try:
            return _fit_and_test(cfg, run_dir, choices, datamodule, task, trainer, ckpt_path, facts)
        except BaseException as err:
            progress = {
                "epochs": trainer.current_epoch,
                "steps": trainer.global_step,
                "seconds": round(time.perf_counter() - start, 3),
            }
            if interruption.interrupted or isinstance(err, KeyboardInterrupt):
                signal_name = interruption.interrupted or "SIGINT"
                raise _interrupted(run_dir, trainer, task, signal_name, progress, facts) from None
            if not isinstance(err, Exception):
                raise
            message = sentence(f"{type(err).__name__}: {err}")
            if trainer.is_global_zero:  # DDP: one record per run folder
                run_dir.mkdir(parents=True, exist_ok=True)
                (run_dir / "traceback.txt").write_text("".join(traceback.format_exception(err)))
                write_json(run_dir / "metrics.json", failure_record(message, **progress, **facts))
            raise RunFailed(message) from err


def _build_recorded(
    cfg: DictConfig,
    run_dir: Path,
    choices: dict[str, Any],
    interruption: Interruption,
    overrides: list[str],
) -> tuple[L.LightningDataModule, Model, L.LightningModule, L.Trainer]:
    """:func:`build_checked`; a stop signal while it runs (reading the data can take a
    while) is recorded as a run interrupted before its first step."""
    try:
        return build_checked(cfg, run_dir, choices, interruption)[:4]
    except KeyboardInterrupt:
        signal_name = interruption.stop_signal or "SIGINT"
        progress = {"epochs": 0, "steps": 0, "seconds": 0.0}
        facts = {"overrides": overrides}
        raise _interrupted(run_dir, None, None, signal_name, progress, facts) from None


def _interrupted(
    run_dir: Path,
    trainer: L.Trainer | None,
    task: L.LightningModule | None,
    signal_name: str,
    progress: dict[str, Any],
    facts: dict[str, Any],
) -> RunInterrupted:
    """Write metrics.json of an interrupted run; the exception that says how to resume.
    Without a trainer the run stopped while it was being built: no metric, no checkpoint."""
    last = run_dir / "checkpoints" / "last.ckpt"
    command = resume_command(run_dir, facts["overrides"])
    classification = getattr(task, "classification", False)
    metrics = dict(trainer.callback_metrics) if trainer is not None else {}
    record = {
        **final_metrics(metrics, classification=classification),
        "status": "interrupted",
        "interrupted": True,
        "signal": signal_name,
        **progress,
        "diverged": False,
        "checkpoint": str(last) if last.is_file() else None,
        "resume_command": command if last.is_file() else None,
        **facts,
    }
    write_json(run_dir / "metrics.json", record)
    return interrupted_error(record)


def interrupted_error(record: dict[str, Any]) -> RunInterrupted:
    """The exception of a run whose metrics.json is ``record`` (``status: interrupted``):
    where it stopped, and the command that continues it."""
    signal_name = str(record.get("signal") or "SIGINT")
    at = f"Interrupted ({signal_name}) at epoch {record.get('epochs')}, step {record.get('steps')}"
    if not record.get("checkpoint"):
        return RunInterrupted(f"{at}, before any checkpoint was written.", signal_name)
    continued = f"checkpoint {record['checkpoint']}; continue with: {record['resume_command']}"
    return RunInterrupted(f"{at}; {continued}", signal_name)


def _fit_and_test(
    cfg: DictConfig,
    run_dir: Path,
    choices: dict[str, Any],
    datamodule: L.LightningDataModule,
    task: L.LightningModule,
    trainer: L.Trainer,
    ckpt_path: str | None,
    facts: dict[str, Any],
) -> dict[str, Any]:
    start = time.perf_counter()
    trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    seconds = time.perf_counter() - start
    # a resumed run whose fit had ended trains no more: its train means are the checkpoint's
    fit_metrics = {**getattr(task, "restored_train_means", {}), **trainer.callback_metrics}
    divergence = next((c for c in trainer.callbacks if hasattr(c, "diverged")), None)
    diverged = bool(divergence and divergence.diverged)
    final = dict(fit_metrics)
    if not diverged:
        # final weights: val (also when max_steps ended the fit mid-epoch) and test; a
        # stage without batches (held_out.stage_off) returns no results
        for results in (
            trainer.validate(task, datamodule=datamodule, verbose=False),
            trainer.test(task, datamodule=datamodule, verbose=False),
        ):
            final.update(results[0] if results else {})
    metrics = final_metrics(final, classification=getattr(task, "classification", False))
    result: dict[str, Any] = {
        **metrics,
        "status": "diverged" if diverged else "ok",
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "seconds": round(seconds, 3),
        "diverged": diverged,
        "diverged_step": getattr(divergence, "diverged_step", None) if diverged else None,
        "interrupted": False,
        **facts,
    }
    if trainer.is_global_zero:  # DDP: every process gets the result, rank 0 writes it
        write_json(run_dir / "metrics.json", result)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            hp_metrics = {f"hp/{k}": v for k, v in metrics.items() if v is not None}
            logger.log_hyperparams(_hparams(cfg, choices), metrics=hp_metrics)
            logger.experiment.add_text("config", f"```yaml\n{OmegaConf.to_yaml(cfg)}\n```")
            logger.finalize("success")
    return result
