"""Support code of the experiment suite (``experiments/`` and ``conf/experiment/``):
callbacks that record the curves a demo is about, datamodules a demo needs, and one
``report(runs, out, reference)`` per demo that turns its finished sweep into the tables
and figures of its README. ``dlnotes-report <sweep>`` finds the demo a sweep was started
with (``experiment=<name>``) and calls its report; nothing here imports torch until then.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

import yaml

DEMO_REPORTS: dict[str, str] = {
    "initialization": "initialization:report",
    "optimizer": "optimizer:report",
    "vanishing-gradients": "vanishing_gradients:report",
    "activation": "activation:report",
    "activation-mnist": "activation:report_mnist",
    "planar": "planar:report",
    "loss-choice": "loss_choice:report",
    "fitting": "fitting:report",
    "fitting-remedies": "fitting:report_remedies",
    "rnn": "rnn:report",
    "rnn-text": "rnn:report_text",
    "rnn-clipping": "rnn:report_clipping",
    "cnn": "cnn:report",
    "depth-vs-width": "depth_vs_width:report",
    "generative-vs-discriminative": "gan:report",
}
"""``experiment=<name>`` → ``<module of dlnotes.experiments>:<function>`` making its report."""


def experiment_of(job_folder: Path) -> str | None:
    """The ``experiment`` group choice a run or sweep job was started with, if any."""
    hydra_file = job_folder / ".hydra" / "hydra.yaml"
    if not hydra_file.exists():
        return None
    hydra_cfg = yaml.safe_load(hydra_file.read_text()) or {}
    choices = ((hydra_cfg.get("hydra") or {}).get("runtime") or {}).get("choices") or {}
    return choices.get("experiment")


def detect_demo(job_folders: Sequence[Path]) -> str | None:
    """The demo every job folder was started with, when they agree and it has a report."""
    names = {experiment_of(folder) for folder in job_folders}
    name = names.pop() if len(names) == 1 else None
    return name if name in DEMO_REPORTS else None


def demo_report(
    name: str, folders: Sequence[Path], out: Path, reference: Sequence[Path] = ()
) -> str:
    """Run the report of demo ``name`` on the finished jobs in ``folders`` (plus the
    single ``reference`` runs some demos compare with); figures go into ``out``; returns
    the Markdown tables."""
    import torch

    from dlnotes.experiments.common import load_run

    module_name, function = DEMO_REPORTS[name].split(":")
    module = importlib.import_module(f"dlnotes.experiments.{module_name}")
    runs = [load_run(folder) for folder in folders if (folder / "metrics.json").exists()]
    references = [load_run(folder) for folder in reference]
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        return getattr(module, function)(runs, out, reference=references)
