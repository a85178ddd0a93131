"""``dlnotes-train``: the Hydra app over ``conf/``.

dlnotes-train                                   # the default experiment
dlnotes-train model=deep_mlp data=moons model.activation=tanh
dlnotes-train -m model.activation=sigmoid,tanh,relu init=xavier,he
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import (
    ConfigCompositionException,
    HydraException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax

from dlnotes.cli import ddp_job, sweep
from dlnotes.training.errors import ConfigError, did_you_mean, sentence

# overrides that say how a run is watched, not what it computes, stay out of its name
QUIET_PREFIXES = ("callbacks", "logger", "hydra", "print_config", "trainer.log_every_n_steps")


def _split_overrides(override_dirname: str) -> list[str]:
    """Split "a=1,b=[2,3]" at the commas that are not inside brackets or quotes."""
    items, depth, current = [], 0, ""
    for ch in override_dirname:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    return [*items, current] if current else items


def _run_name(override_dirname: str) -> str:
    """A folder-safe name for a run from what it overrides ("default" when nothing)."""
    items = [
        item
        for item in _split_overrides(override_dirname)
        if not item.lstrip("+~").startswith(QUIET_PREFIXES)
    ]
    name = re.sub(r"[^\w=,.\-+\[\]]", "_", ",".join(items))[:120]
    return name or "default"


OPTIONAL_GROUPS = ("experiment", "scheduler", "logger", "callbacks")
"""Config groups a run can do without: ``<group>=null`` removes them."""
CONF = Path(__file__).resolve().parent.parent / "conf"


def null_groups(args: list[str]) -> list[str]:
    """The command line with ``<group>=null`` written as Hydra's ``~<group>``.

    Hydra refuses null as a config-group choice; for the groups a run can do without
    (:data:`OPTIONAL_GROUPS`) it means "none", which Hydra spells ``~<group>``. For a
    group every run needs, a :class:`~dlnotes.training.errors.ConfigError` names its
    options.
    """
    out = []
    for arg in args:
        group, sep, value = arg.partition("=")
        top_level = group.isidentifier()  # not hydra/launcher, not model.hidden
        if not sep or value.strip() != "null" or not top_level or not (CONF / group).is_dir():
            out.append(arg)
        elif group in OPTIONAL_GROUPS:
            out.append(f"~{group}")
        else:
            options = sorted(f.stem for f in (CONF / group).glob("*.yaml"))
            raise ConfigError(
                f"{group}=null: every run needs a {group}; pick one of {', '.join(options)}."
            )
    return out


def register_resolvers() -> None:
    """Resolvers used by conf/hydra/default.yaml (safe to call twice)."""
    if not OmegaConf.has_resolver("dlnotes_uid"):
        # random, and cached so that every use within one run gives the same id
        OmegaConf.register_new_resolver("dlnotes_uid", lambda: secrets.token_hex(2), use_cache=True)
    if not OmegaConf.has_resolver("dlnotes_name"):
        OmegaConf.register_new_resolver("dlnotes_name", _run_name)


register_resolvers()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    """Train one configuration; return the optimized metric to Hydra's sweeper.

    In a sweep (``-m``) a job that cannot run or fails is recorded (metrics.json
    ``status: failed``) and the sweep goes on, unless ``on_error=raise``.
    """
    from dlnotes.training.metrics_file import not_started_record, write_json
    from dlnotes.training.validate import check_config, check_values

    # created here, not at import: the joblib launcher pickles this function by value
    console = Console(stderr=True)
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    overrides = list(hc.overrides.task)
    choices = dict(hc.runtime.choices)
    multirun = hc.mode == RunMode.MULTIRUN
    if multirun and sweep.requested():  # Ctrl-C came before this job started
        write_json(run_dir / "metrics.json", not_started_record(overrides))
        console.print(f"Job {hc.job.num} not started: the sweep was interrupted.")
        return None
    if multirun and cfg.get("resume") and (done := sweep.finished(run_dir)):
        console.print(f"Job {hc.job.num} had ended ({done['status']}); kept as it is.")
        return _optimized(done, cfg)
    try:  # a value out of range or not among the choices, before the seconds of imports
        check_values(cfg, overrides, choices)
    except ConfigError as err:
        return _failed(err, cfg, run_dir, overrides, console)
    # the heavy imports (PyTorch, Lightning), once the values are known to be good
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    from dlnotes.training.distributed import runs_apart
    from dlnotes.training.interrupt import RunInterrupted
    from dlnotes.training.run import RunFailed, train

    apart = multirun and runs_apart(cfg.get("trainer") or {})
    try:
        with sweep.job():
            if cfg.get("print_config"):
                check_config(cfg, choices, overrides)  # a config that cannot run: not printed
                yaml_text = OmegaConf.to_yaml(cfg, resolve=True)
                console.print(Syntax(yaml_text, "yaml", theme="ansi_dark"))
            if apart:  # DDP that would run the sweep's command again: see cli/ddp_job.py
                result = ddp_job.run(cfg, run_dir, overrides, choices, hc.launcher)
            else:
                result = train(cfg, run_dir, overrides, choices)
    except RunInterrupted as err:
        if not multirun:
            raise
        sweep.request()  # metrics.json has the record; the jobs to come are skipped
        console.print(f"[bold yellow]Job {hc.job.num}[/]: {escape(str(err))}", soft_wrap=True)
        return None
    except (ConfigError, RunFailed) as err:
        return _failed(err, cfg, run_dir, overrides, console)
    # DDP: the processes of ranks > 0 say nothing; a job run apart said it in its child
    if getattr(rank_zero_only, "rank", 0) == 0 and not apart:
        done = f"[bold green]Run finished[/] — logs, checkpoints and metrics.json in {run_dir}"
        # soft_wrap: a long path stays on one line, whole for copying
        console.print(done, soft_wrap=True)
        console.print(f"Watch it with: tensorboard --logdir {run_dir}", soft_wrap=True)
    code = int(cfg.get("diverged_exit_code") or 0)
    if result.get("diverged") and code and not multirun:
        step = result.get("diverged_step")
        raise Stop(f"the training loss diverged at step {step}; metrics.json records it.", code)
    return _optimized(result, cfg)


def _failed(
    err: Exception, cfg: DictConfig, run_dir: Path, overrides: list[str], console: Console
) -> None:
    """A job that cannot run (:class:`ConfigError`) or failed (``RunFailed``): a single
    run stops with the sentence; a sweep records it in metrics.json and goes on, unless
    ``on_error=raise``."""
    from dlnotes.training.metrics_file import failure_record, write_json

    hc = HydraConfig.get()
    config = isinstance(err, ConfigError)
    if config and _job_reports():
        # the DDP run of a sweep's job: the job reads why from metrics.json
        write_json(run_dir / "metrics.json", failure_record(str(err), overrides))
    if hc.mode != RunMode.MULTIRUN or cfg.get("on_error", "continue") == "raise":
        raise stop(err, 2 if config else 1) from err
    if config:  # RunFailed wrote its metrics.json already
        write_json(run_dir / "metrics.json", failure_record(str(err), overrides))
    why = escape(str(err))
    console.print(f"[bold red]Job {hc.job.num} failed[/]: {why} The sweep goes on.", soft_wrap=True)
    return None


def _optimized(record: Mapping, cfg: DictConfig) -> float | None:
    """The metric a run's record gives Hydra's sweeper (``optimized_metric``)."""
    metric = record.get(cfg.optimized_metric)
    return float(metric) if metric is not None else None


class Stop(SystemExit):
    """End dlnotes-train with ``message`` on stderr and ``code``. A SystemExit, so that it
    leaves Hydra at once: Hydra reports the jobs' ordinary exceptions with more lines."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(code)
        self.message = message

    def __reduce__(self) -> tuple[type[Stop], tuple[str, int]]:  # joblib workers pickle it
        return type(self), (self.message, int(self.code or 0))


TRACEBACKS = {"on": False}
"""Whether the user asked for tracebacks (``HYDRA_FULL_ERROR=1``); set by :func:`main`."""


def stop(err: Exception, code: int) -> BaseException:
    """:class:`Stop` with ``err``'s message, or ``err`` itself when tracebacks are on."""
    return err if TRACEBACKS["on"] else Stop(str(err), code)


def _unknown_key(err: ConfigCompositionException) -> str | None:
    """ "optimizer.lrr is not a key of optimizer; did you mean optimizer.lr?" for an
    override of a key the config does not have (None for other composition errors)."""
    from dlnotes.training.validate import FILLED_IN, accepted, signature, source_signature

    cause = err.__cause__
    full_key, node = getattr(cause, "full_key", None), getattr(cause, "parent_node", None)
    if not (isinstance(cause, OmegaConfBaseException) and full_key and isinstance(node, Mapping)):
        return None
    section, _, key = str(full_key).rpartition(".")
    where = section or "dlnotes-train's config"
    params: list[str] = []
    if target := node.get("_target_"):
        try:  # read from the source where it can: no seconds of imports for a typo
            sig = accepted(str(target), source_signature) or accepted(str(target), signature)
            params = list(sig.params) if sig else []
        except Exception:  # not importable: suggest from the config's keys only
            params = []
    filled = FILLED_IN.get(section, {})
    known = [k for k in dict.fromkeys([*node.keys(), *params]) if k not in filled]
    added = re.search(r"use (\+\S+)", str(err))
    if key in params and key not in filled and added:
        return f"{full_key} is not in the config of {where}; add it with {added.group(1)}."
    prefix = f"{section}." if section else ""
    return f"{full_key} is not a key of {where}{did_you_mean(key, known, prefix)}."


def _hydra_message(err: BaseException) -> str | None:
    """One sentence for Hydra's composition errors (None for any other error)."""
    if isinstance(err, MissingConfigException) and err.options and err.missing_cfg_file:
        group, _, name = str(err.missing_cfg_file).rpartition("/")
        hint = did_you_mean(name, err.options)
        return (
            f"{group}={name} is not an option of {group}{hint}; options: {', '.join(err.options)}."
        )
    if isinstance(err, ConfigCompositionException) and (message := _unknown_key(err)):
        return message
    present = re.search(r"An item is already at '([^']+)'", str(err))
    if isinstance(err, ConfigCompositionException) and present:
        key = present.group(1)
        return (
            f"+{key} adds a key, but {key} is in the config already: set it with "
            f"{key}=<value> (++{key}=<value> sets a key whether it is there or not)."
        )
    if isinstance(err, OverrideParseException):
        why = sentence(str(err)).rstrip(".")
        what = f"The override {err.override}" if getattr(err, "override", None) else "An override"
        return (
            f"{what} could not be parsed ({why}); check its brackets, and quote a value "
            f"that holds = or , (as a run folder's name does): \"key='value'\"."
        )
    if isinstance(err, HydraException) and not isinstance(err, InstantiationException):
        return sentence(str(err))
    return None


def _other_rank() -> bool:
    """A DDP process of rank > 0: rank 0 says how the run ended."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0) > 0


def _job_reports() -> bool:
    """Rank 0 of the DDP run of a sweep's job (cli/ddp_job.py): the job says how the run
    ended, from the metrics.json that this process wrote."""
    return os.environ.get(ddp_job.ENV_CHILD) == "1" and not _other_rank()


def main() -> None:
    """``dlnotes-train``: the Hydra app, with every error as one sentence on stderr and a
    non-zero exit (2 for a config that cannot run, 1 for a failed run, 130/143 after
    Ctrl-C/SIGTERM); ``HYDRA_FULL_ERROR=1`` shows the traceback instead."""
    if _other_rank():
        # a DDP process besides rank 0 (Lightning started it by running this command
        # again): Ctrl-C reaches it too, and would kill it half-started, upon which
        # Lightning kills rank 0 unrecorded. Rank 0 answers Ctrl-C (and stops this one);
        # once the fit runs, Interruption's handlers take over here as well.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    full = os.environ.get("HYDRA_FULL_ERROR") == "1"
    TRACEBACKS["on"] = full
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises; the message is written here
    try:
        sys.argv[1:] = null_groups(sys.argv[1:])
        hydra_main()
        if sweep.requested():  # a local sweep that Ctrl-C stopped (see cli/sweep.py)
            command = sweep.continue_command(sys.argv[1:])
            print(
                "dlnotes-train: the sweep was interrupted; each job's metrics.json says how "
                f"it ended (dlnotes-report shows them all); continue it with: {command}",
                file=sys.stderr,
            )
            sys.exit(130)
    except Stop as err:
        if not _job_reports():
            print(f"dlnotes-train: {err.message}", file=sys.stderr)
        sys.exit(err.code)
    except KeyboardInterrupt as err:
        from dlnotes.training.interrupt import RunInterrupted

        if full and not isinstance(err, RunInterrupted):
            raise
        if not (_other_rank() or _job_reports()):
            print(f"dlnotes-train: {err or 'interrupted.'}", file=sys.stderr)
        sys.exit(err.exit_code if isinstance(err, RunInterrupted) else 130)
    except Exception as err:
        if full:
            raise
        message = _hydra_message(err) or sentence(str(err) or type(err).__name__)
        print(f"dlnotes-train: {message}", file=sys.stderr)
        composition = isinstance(err, HydraException) and not isinstance(
            err, InstantiationException
        )
        sys.exit(getattr(err, "exit_code", 2 if isinstance(err, ConfigError) or composition else 1))
    finally:
        sweep.disarm()
        if not full:
            os.environ.pop("HYDRA_FULL_ERROR", None)


if __name__ == "__main__":
    main()
