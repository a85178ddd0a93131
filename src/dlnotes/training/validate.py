"""Start-up checks of a composed config: every mistake a user can type becomes one
sentence naming the key, the value and what is allowed — before anything is trained
or written.

The checks follow what the config instantiates instead of repeating it in a schema:

- every section with a ``_target_`` (``model``, ``data``, ``optimizer``, ``scheduler``,
  ``trainer``, ``logger``, ``task``, each ``callbacks.<name>``) and ``init`` (the keyword
  arguments of :func:`dlnotes.init.apply`) is checked against the signature of its target:
  an unknown key names the closest valid one, a value of the wrong type the type the
  target's annotation asks for;
- :data:`RULES` holds the ranges and choices that annotations cannot say (``optimizer.lr``
  > 0, ``model.dropout`` in [0, 1), ``trainer.max_epochs`` >= -1, ...); a rule replaces the
  annotation of its key;
- root keys added with ``+key=...`` must be keys of ``conf/config.yaml``.

The rules and the root keys need no target: :func:`check_values` checks them alone, and
this module imports neither PyTorch nor Lightning (the choices come from
:mod:`dlnotes.names`), so that ``dlnotes-train`` answers ``optimizer.lr=-1`` before it
loads them. A section that an override adds a key to is checked there too, against the
names its target's source gives (:func:`source_signature`, no import and no type hints);
:func:`check_config` then checks everything, types included.

What needs the data (a ``train_size`` larger than the training split, missing files, a
model that cannot take the data) is checked while ``run.py`` builds the run, through
:func:`explain` and :func:`model_data_mismatch`.
"""

from __future__ import annotations

import functools
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from dlnotes.names import ACTIVATIONS, BACKWARDS, LOSSES, SCHEMES
from dlnotes.training.errors import ConfigError, did_you_mean, sentence
from dlnotes.training.metrics_file import TAGS
from dlnotes.training.source_params import source_params

ON_ERROR = ("continue", "raise")
"""Values of the root key ``on_error``."""


# ------------------------------------------------------------------------------ rules


def show(value: Any) -> str:
    """A value as it is typed on the command line: null, true, [4,4], 0.1, relu."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[" + ",".join(show(v) for v in value) + "]"
    return str(value)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else str(x)


@dataclass(frozen=True)
class Number:
    """A number in a range; with ``each`` the rule applies to every entry of a list (a
    single number is accepted too, unless ``length`` asks for a list of that many);
    ``also`` lists other accepted values ("full")."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    null: bool = False
    each: bool = False
    also: tuple[Any, ...] = ()
    note: str = ""
    length: int | None = None

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            text = (
                f"{kind} in {'(' if self.low_open else '['}{_num(lo)}, "
                f"{_num(hi)}{')' if self.high_open else ']'}"
            )
        elif lo is not None:
            text = f"{kind} {'>' if self.low_open else '>='} {_num(lo)}"
        elif hi is not None:
            text = f"{kind} {'<' if self.high_open else '<='} {_num(hi)}"
        else:
            text = kind
        extras = [show(v) for v in self.also] + (["null"] if self.null else [])
        if extras:
            text += ", or " + " or ".join(extras)
        return text + (f" ({self.note})" if self.note else "")

    def _typed(self, v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return False
        return isinstance(v, int) or not self.integer

    def _inside(self, v: float) -> bool:
        if isinstance(v, float) and math.isnan(v):
            return False
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return not (self.high is not None and (v >= self.high if self.high_open else v > self.high))

    def problem(self, key: str, value: Any) -> str | None:
        """None when ``value`` is allowed, else the sentence saying why not."""
        if (value is None and self.null) or value in self.also:
            return None
        entries = value if self.each and isinstance(value, list) else [value]
        what = f"every entry of {key}" if self.each and isinstance(value, list) else key
        if self.length is not None and len(entries) != self.length:
            return (
                f"{key}={show(value)} has {len(entries)} "
                f"entr{'y' if len(entries) == 1 else 'ies'}: {key} must be a list of "
                f"{self.length}, each {self.describe()}"
            )
        if not all(self._typed(v) for v in entries):
            return f"{key}={show(value)} has the wrong type: {what} must be {self.describe()}"
        if not all(self._inside(v) for v in entries):
            return f"{key}={show(value)} is out of range: {what} must be {self.describe()}"
        return None


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values."""

    options: tuple[Any, ...]
    null: bool = False

    def problem(self, key: str, value: Any) -> str | None:
        if (value is None and self.null) or value in self.options:
            return None
        names = [show(o) for o in self.options] + (["null"] if self.null else [])
        hint = did_you_mean(show(value), names)
        return f"{key}={show(value)} is not one of {', '.join(names)}{hint}"


@dataclass(frozen=True)
class Flag:
    """true or false."""

    def problem(self, key: str, value: Any) -> str | None:
        if isinstance(value, bool):
            return None
        return f"{key}={show(value)} has the wrong type: {key} must be true or false"


@dataclass(frozen=True)
class Refused:
    """A value Lightning accepts but dlnotes-train cannot run with, and why."""

    value: Any
    why: str

    def problem(self, key: str, value: Any) -> str | None:
        if value != self.value:
            return None
        return f"{key}={show(value)} cannot be used with dlnotes-train: {self.why}"


@dataclass(frozen=True)
class ExistingFile:
    """A path to an existing file, or null."""

    hint: str

    def problem(self, key: str, value: Any) -> str | None:
        if value is None or Path(str(value)).expanduser().is_file():
            return None
        return f"{key}={show(value)} does not exist; {self.hint}"


Rule = Number | OneOf | Flag | Refused | ExistingFile

POSITIVE_INTS = Number(1, integer=True, each=True)
FRACTION = Number(0, 1, high_open=True)

RULES: dict[str, Rule] = {
    # root keys
    "seed": Number(0, 2**32 - 1, integer=True),
    "threads": Number(1, integer=True, null=True, also=("auto",)),
    "optimized_metric": OneOf(tuple(TAGS.values())),
    "on_error": OneOf(ON_ERROR),
    "diverged_exit_code": Number(0, 255, integer=True),
    "resume": Flag(),
    "print_config": Flag(),
    "ckpt_path": ExistingFile(
        "give the path of a .ckpt file, e.g. <run folder>/checkpoints/last.ckpt, "
        "or resume a run with resume=true hydra.run.dir=<run folder>"
    ),
    # model
    "model.hidden": POSITIVE_INTS,
    "model.hidden_size": Number(1, integer=True),
    "model.channels": Number(1, integer=True, each=True, length=2, note="the two convolutions"),
    "model.fc": POSITIVE_INTS,
    "model.kernel_size": Number(1, integer=True),
    "model.dropout": FRACTION,
    "model.activation": OneOf(ACTIVATIONS),
    "model.pool": OneOf(("max", "avg")),
    "model.loss": OneOf(("auto", *LOSSES)),
    "model.backward": OneOf(BACKWARDS),
    "model.batch_norm": Flag(),
    # data
    "data.batch_size": Number(1, integer=True, also=("full",)),
    "data.train_size": Number(1, integer=True, null=True),
    "data.n_samples": Number(2, integer=True),
    "data.noise": Number(0),
    "data.val_fraction": FRACTION,
    "data.test_fraction": FRACTION,
    "data.label_noise": Number(0, 1),
    "data.num_workers": Number(0, integer=True),
    "data.seq_len": Number(1, integer=True),
    "data.stride": Number(1, integer=True, null=True),
    "data.n_bits": Number(1, integer=True),
    "data.split": OneOf(("random", "published")),
    "data.download": Flag(),
    # optimizer and scheduler
    "optimizer.lr": Number(0, low_open=True, note="the learning rate α"),
    "optimizer.weight_decay": Number(0),
    "optimizer.momentum": FRACTION,
    "optimizer.betas": Number(0, 1, high_open=True, each=True, length=2, note="β1, β2"),
    "optimizer.alpha": Number(0, 1),
    "optimizer.eps": Number(0, low_open=True),
    "optimizer.lr_decay": Number(0),
    "scheduler.gamma": Number(0, low_open=True),
    "scheduler.step_size": Number(1, integer=True),
    "scheduler.T_max": Number(1, integer=True),
    "scheduler.eta_min": Number(0),
    "scheduler.factor": Number(0, 1, low_open=True, high_open=True),
    "scheduler.patience": Number(0, integer=True),
    "scheduler.interval": OneOf(("epoch", "step")),
    # init
    "init.scheme": OneOf(SCHEMES),
    "init.std": Number(0, low_open=True),
    "init.gain": Number(0, low_open=True),
    # trainer
    "trainer.max_epochs": Number(-1, integer=True, null=True, note="-1: no limit"),
    "trainer.max_steps": Number(-1, integer=True, note="-1: no limit"),
    "trainer.min_epochs": Number(0, integer=True, null=True),
    "trainer.gradient_clip_val": Number(0, null=True, note="0 or null: no clipping"),
    "trainer.gradient_clip_algorithm": OneOf(("norm", "value")),
    "trainer.log_every_n_steps": Number(1, integer=True),
    "trainer.check_val_every_n_epoch": Number(1, integer=True, null=True),
    "trainer.num_sanity_val_steps": Number(-1, integer=True),
    "trainer.accumulate_grad_batches": Number(1, integer=True),
    "trainer.barebones": Refused(
        True,
        "the Task logs its metrics with self.log, which barebones mode forbids "
        "(for a lean run: logger=null callbacks=none)",
    ),
}
"""Ranges and choices by dotted key; a key absent from the config is not checked."""

MODEL_ACTIVATIONS: dict[str, Rule] = {
    "LogisticRegression": OneOf((*ACTIVATIONS, "softmax"), null=True),
    "ElmanRNN": OneOf(("tanh", "relu")),
}
"""``model.activation`` of the models whose choices differ from :data:`ACTIVATIONS`."""

FILLED_IN: dict[str, dict[str, str]] = {
    "model": dict.fromkeys(
        (
            "in_features",
            "out_features",
            "in_channels",
            "image_size",
            "num_classes",
            "input_size",
            "vocab_size",
            "many_to_many",
            "spec",
        ),
        "the data's DataSpec sets it",
    ),
    "optimizer": {"params": "the model's parameters"},
    "scheduler": {"optimizer": "the optimizer group"},
    "task": dict.fromkeys(
        ("model", "optimizer", "scheduler", "scheduler_interval", "scheduler_monitor"),
        "the model, optimizer and scheduler groups",
    ),
    "trainer": dict.fromkeys(("callbacks", "logger", "plugins"), "the callbacks and logger groups"),
    "init": {"model": "the model group", "seed": "the root key seed"},
}
"""Arguments dlnotes-train passes itself, by section: a user may not set them."""

EXTRA_KEYS: dict[str, tuple[str, ...]] = {"scheduler": ("interval", "monitor")}
"""Keys run.py reads from a section besides the arguments of its target."""

KWARGS_GO_TO: dict[str, tuple[str, tuple[str, ...]]] = {
    "lightning.pytorch.loggers.tensorboard.TensorBoardLogger": (
        "torch.utils.tensorboard.SummaryWriter",
        ("log_dir",),
    ),
}
"""Targets whose ``**kwargs`` go on to another class (Lightning's TensorBoardLogger makes
its SummaryWriter with them, ``+logger.flush_secs=30``): that class, and the names the
target passes to it itself."""


# ----------------------------------------------------------------------- signatures

INIT = "dlnotes.init.apply"
"""The target of the ``init`` section, which has no ``_target_``."""


@dataclass(frozen=True)
class Signature:
    """What a ``_target_`` accepts: keyword names (``open``: any, it takes ``**kwargs``)
    and the type hints of those names."""

    name: str
    params: tuple[str, ...]
    open: bool
    hints: Mapping[str, Any]


def _params(fn: Any) -> tuple[list[str], bool]:
    sig = inspect.signature(fn)
    names = [
        p.name
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", "cls")
    ]
    return names, any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def _hints(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations: no type checks for this target
        return {}


@functools.lru_cache(maxsize=128)
def signature(target: str) -> Signature:
    """The keyword arguments of ``target``; a ``from_data``-style classmethod taking
    ``**hparams`` accepts those of its class's ``__init__``."""
    obj = get_object(target)
    fn = obj.__init__ if inspect.isclass(obj) else obj
    names, open_ = _params(fn)
    hints = _hints(fn)
    if open_ and inspect.ismethod(obj) and inspect.isclass(obj.__self__):
        init_names, open_ = _params(obj.__self__.__init__)
        names = [*names, *init_names]
        hints = {**hints, **_hints(obj.__self__.__init__)}
    label = getattr(obj, "__qualname__", target)
    module = getattr(obj, "__module__", "")
    return Signature(f"{module}.{label}" if module else label, tuple(names), open_, hints)


def source_signature(target: str) -> Signature | None:
    """:func:`signature` without importing ``target``: its names read from the source
    files (:mod:`dlnotes.training.source_params`, milliseconds instead of the seconds
    PyTorch and Lightning take to import), without type hints; None where the source
    cannot tell."""
    found = source_params(target)
    return None if found is None else Signature(found.name, found.params, found.open, {})


def accepted(target: str, read: Callable[[str], Signature | None]) -> Signature | None:
    """What ``target`` accepts, as ``read`` (:func:`signature` or
    :func:`source_signature`) gives it, with the names of the class its ``**kwargs`` go
    to (:data:`KWARGS_GO_TO`): ``+logger.flush_sec=30`` is then named as a typo before the
    run, not when the logger first writes."""
    sig = read(target)
    if sig is None or not sig.open or sig.name not in KWARGS_GO_TO:
        return sig
    to, own = KWARGS_GO_TO[sig.name]
    inner = read(to)
    if inner is None:
        return sig
    names = [*sig.params, *(p for p in inner.params if p not in own and p not in sig.params)]
    return Signature(sig.name, tuple(names), inner.open, {**inner.hints, **sig.hints})


def _describe_type(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return "null"
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if origin is typing.Literal:
        return "one of " + ", ".join(show(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_describe_type(a) for a in args))
    if origin in (list, tuple, Sequence):
        return "a list"
    return getattr(hint, "__name__", str(hint))


def accepts(hint: Any, value: Any) -> bool | None:
    """Whether ``value`` fits the annotation ``hint`` (None: cannot tell)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return None
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is typing.Literal:
        return value in args
    if origin in (typing.Union, types.UnionType):
        verdicts = [accepts(a, value) for a in args]
        if any(v is True for v in verdicts):
            return True
        return False if all(v is False for v in verdicts) else None
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        if not isinstance(value, list | tuple):
            return False
        item = args[0] if args and (len(args) == 1 or args[-1] is Ellipsis) else None
        if item is None:
            return None if args else True
        verdicts = [accepts(item, v) for v in value]
        return False if any(v is False for v in verdicts) else None
    return None


# --------------------------------------------------------------------------- checks


def _section_problems(
    section: str,
    node: Mapping[str, Any],
    label: str,
    rules: Mapping[str, Rule],
    sig: Signature | None = None,
) -> list[str]:
    """Unknown keys, wrong types and rule violations of one section (``sig``: its
    target's signature, imported here if not given)."""
    target = node.get("_target_")
    try:
        sig = sig or accepted(target if target else INIT, signature)
    except Exception as err:
        return [f"{section}._target_={target} cannot be imported ({type(err).__name__})"]
    filled = FILLED_IN.get(section.split(".")[0], {})
    known = [p for p in sig.params if p not in filled] + list(EXTRA_KEYS.get(section, ()))
    problems = []
    for key, value in node.items():
        if key.startswith("_"):
            continue
        full = f"{section}.{key}"
        if key in filled:
            problems.append(f"{full} is set by dlnotes-train ({filled[key]}); remove it")
            continue
        if key not in known and not sig.open:
            hint = did_you_mean(key, known, prefix=f"{section}.")
            problems.append(f"{full} is not a setting of {label} ({target or sig.name}){hint}")
            continue
        rule = rules.get(full)
        if rule is not None:
            problem = rule.problem(full, value)
        elif key in sig.hints and accepts(sig.hints[key], value) is False:
            expected = _describe_type(sig.hints[key])
            problem = f"{full}={show(value)} has the wrong type: {label} expects {expected}"
        else:
            problem = None
        if problem:
            problems.append(problem)
    return problems


def _root_keys() -> set[str]:
    """The root keys of conf/config.yaml and its groups."""
    text = resources.files("dlnotes.conf").joinpath("config.yaml").read_text()
    primary = OmegaConf.create(text)
    groups = set()
    for entry in primary.get("defaults", []):
        if isinstance(entry, str):
            groups.add(entry.split("/")[0].split("@")[0])
        else:
            groups.update(str(k).removeprefix("override ").split("/")[0] for k in entry)
    return {str(k) for k in primary if k != "defaults"} | groups | {"hydra"}


def _added_root_keys(overrides: Sequence[str]) -> list[str]:
    """Root keys that ``+key=...`` / ``++key=...`` overrides add."""
    out = []
    for item in overrides:
        if item.startswith("+"):
            out.append(item.lstrip("+").split("=", 1)[0].split(".", 1)[0].split("/", 1)[0])
    return out


def _label(section: str, choices: Mapping[str, Any]) -> str:
    group = section.split(".")[0]
    choice = choices.get(group)
    return f"{group}={choice}" if choice and "." not in section else section


def _added_problems(overrides: Sequence[str]) -> list[str]:
    """Root keys that ``+key=...`` adds but conf/config.yaml does not have."""
    found = []
    known_roots = _root_keys()
    for key in _added_root_keys(overrides):
        if key not in known_roots:
            hint = did_you_mean(key, sorted(known_roots))
            found.append(f"{key} is not a key of dlnotes-train's config{hint}")
    return found


def _plain(cfg: DictConfig) -> dict[str, Any]:
    """``cfg`` without ``hydra``, resolved, as plain dicts and lists."""
    plain = OmegaConf.to_container(
        OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True
    )
    assert isinstance(plain, dict)
    return plain


def _rules(plain: Mapping[str, Any]) -> dict[str, Rule]:
    """:data:`RULES`, with the ``model.activation`` of the chosen model."""
    rules = dict(RULES)
    target = str((plain.get("model") or {}).get("_target_", ""))
    for cls_name, rule in MODEL_ACTIVATIONS.items():
        if f".{cls_name}." in f".{target}.":
            rules["model.activation"] = rule
    return rules


def _root_problems(plain: Mapping[str, Any]) -> list[str]:
    found = []
    for key, rule in RULES.items():
        if "." not in key and key in plain:
            problem = rule.problem(key, plain[key])
            if problem:
                found.append(problem)
    return found


SECTIONS = ("model", "data", "optimizer", "scheduler", "init", "trainer")
"""The sections with rules, in the order they are checked."""


def _sections(plain: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Each section a target is built from, in the order the checks go: :data:`SECTIONS`,
    then ``logger``, ``task`` and each ``callbacks.<name>``."""
    sections: list[tuple[str, Any]] = [(s, plain.get(s)) for s in SECTIONS]
    sections += [("logger", plain.get("logger")), ("task", plain.get("task"))]
    return sections + [(f"callbacks.{k}", v) for k, v in (plain.get("callbacks") or {}).items()]


def value_problems(
    cfg: DictConfig, overrides: Sequence[str] = (), choices: Mapping[str, Any] | None = None
) -> list[str]:
    """The problems of ``cfg`` that :data:`RULES` and the root keys show, found without
    importing any ``_target_`` (nor PyTorch, nor Lightning): ``dlnotes-train`` says
    ``optimizer.lr=-1`` is out of range in a fraction of a second, before those imports.

    A section that an override adds a key to (``+model.dropout=2``) is checked against
    its target's signature read from the source (:func:`source_signature`), so that an
    unknown key is named before a rule of it; where the source cannot tell, the added
    key is left to :func:`problems`, which imports the target. So is a config that does
    not resolve.
    """
    found = _added_problems(overrides)
    try:
        plain = _plain(cfg)
    except Exception:  # an interpolation that does not resolve: problems() words it
        return found
    found += _root_problems(plain)
    added = {item.lstrip("+").split("=", 1)[0] for item in overrides if item.startswith("+")}
    rules = _rules(plain)
    for section, node in _sections(plain):
        if not isinstance(node, dict) or ("_target_" not in node and section != "init"):
            continue  # problems() says what is wrong with the section itself
        adds = any(key.startswith(f"{section}.") for key in added)
        if adds and (sig := accepted(str(node.get("_target_") or INIT), source_signature)):
            found += _section_problems(section, node, _label(section, choices or {}), rules, sig)
            continue
        for key, value in node.items():
            full = f"{section}.{key}"
            rule = rules.get(full)
            if rule is not None and full not in added and (problem := rule.problem(full, value)):
                found.append(problem)
    return found


def check_values(
    cfg: DictConfig, overrides: Sequence[str] = (), choices: Mapping[str, Any] | None = None
) -> None:
    """Raise :class:`ConfigError` with the first problem of :func:`value_problems`, if any."""
    found = value_problems(cfg, overrides, choices)
    if found:
        raise ConfigError(sentence(found[0]))


def problems(
    cfg: DictConfig, choices: Mapping[str, Any] | None = None, overrides: Sequence[str] = ()
) -> list[str]:
    """Every problem of ``cfg`` that shows without building anything, one sentence each."""
    choices = choices or {}
    found = _added_problems(overrides)
    try:
        plain = _plain(cfg)
    except Exception as err:  # an interpolation that does not resolve
        return [*found, f"the config does not resolve: {sentence(str(err)).rstrip('.')}"]
    found += _root_problems(plain)
    rules = _rules(plain)
    for section, node in _sections(plain):
        if not node:
            continue
        if not isinstance(node, dict):
            found.append(f"{section}={show(node)} is not a config section (a mapping of keys)")
            continue
        if "_target_" not in node:
            if section.startswith("callbacks."):
                continue  # settings of a callback that callbacks=none switched off
            if section != "init":
                found.append(f"{section} has no _target_; give the class it builds or null")
                continue
        found += _section_problems(section, node, _label(section, choices), rules)
    return found


def check_config(
    cfg: DictConfig, choices: Mapping[str, Any] | None = None, overrides: Sequence[str] = ()
) -> None:
    """Raise :class:`ConfigError` with the first problem of :func:`problems`, if any."""
    found = problems(cfg, choices, overrides)
    if found:
        raise ConfigError(sentence(found[0]))


# ------------------------------------------------------------------- while building


def explain(err: BaseException, label: str) -> ConfigError:
    """A builder's error as one sentence that names the group (``label``, e.g.
    "data=mnist"), unless the message already starts with a key or names a path."""
    message = sentence(str(err) or type(err).__name__)
    if isinstance(err, FileNotFoundError) or message.startswith(f"{label.split('=')[0]}."):
        return ConfigError(message)
    return ConfigError(f"{label}: {message}")


def describe_data(spec: Any) -> str:
    """A DataSpec in words: "tabular data, 2 features, 2 classes"."""
    classes = {"binary": "2 classes", "regression": "a regression target"}.get(
        spec.task, f"{spec.num_classes} classes"
    )
    if spec.kind == "image":
        H, W = spec.image_size or (0, 0)
        return f"{spec.in_channels}×{H}×{W} images, {classes}"
    if spec.kind == "sequence":
        if spec.vocab_size:
            return f"text, {spec.vocab_size} characters"
        return f"sequences of {spec.seq_len} steps × {spec.in_features} features, {classes}"
    return f"tabular data, {spec.in_features} features, {classes}"


@functools.lru_cache(maxsize=1)
def _registered_specs() -> dict[str, Any]:
    from dlnotes.data import DATAMODULES

    specs = {}
    for name, cls in DATAMODULES.items():
        try:
            specs[name] = cls().spec
        except Exception:  # a data set that cannot even be described here: skip it
            continue
    return specs


def fitting_data(build: Any) -> list[str]:
    """The registered data sets (conf/data names) on whose default DataSpec ``build``
    (``spec -> model``) succeeds."""
    fits = []
    for name, spec in _registered_specs().items():
        try:
            build(spec=spec)
        except Exception:
            continue
        fits.append(name)
    return fits


def model_data_mismatch(
    err: BaseException, build: Any, spec: Any, model_label: str, data_label: str
) -> ConfigError:
    """The error of a model that ``build`` (``spec -> model``, the user's settings) could
    not make for ``spec``: the data it fits, and the reason when the settings (not the
    kind of data) are the problem."""
    fits = fitting_data(build)
    reason = sentence(str(err) or type(err).__name__).rstrip(".")
    if not fits or spec.name in fits:
        return ConfigError(f"{model_label} cannot be built with these settings: {reason}.")
    target = getattr(build, "func", None)
    try:  # the model's class with its default settings
        target(spec=spec)
    except Exception:
        return ConfigError(
            f"{model_label} cannot take {data_label} ({describe_data(spec)}); "
            f"data that fits {model_label}: {', '.join(fits)}."
        )
    return ConfigError(
        f"{model_label} cannot take {data_label} with these settings ({reason}); "
        f"data that fits them: {', '.join(fits)}."
    )
