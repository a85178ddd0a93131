"""Reports over finished runs: a table of final metrics and figures of the logged curves.

A *job* is a folder that holds a ``.hydra/`` folder or a ``metrics.json`` (one
``dlnotes-train`` run, or one job of a ``-m`` sweep). :func:`write_report` finds every job
under a folder, reads each one once (its overrides, its ``metrics.json``, its TensorBoard
event files) and writes ``report.md``, ``report.csv``, one ``curves_<job>.png`` per job and
one ``overlay_<metric>.png`` per metric across jobs.

Figures are drawn on their own Agg canvas, never through ``pyplot``, so nothing is left in
pyplot's figure registry and the user's backend is untouched. The module imports neither
torch nor Lightning: a report of a large sweep starts in well under a second.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

FINAL_METRICS = ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc")
"""The final metrics of ``metrics.json`` shown by default, in table order."""
RUN_COLUMNS = ("epochs", "steps", "seconds", "params")
"""Facts about a run that every table shows after its metrics."""
OVERLAYS = ("train_loss", "val_loss", "train_acc", "val_acc", "train_loss_step")
"""The curves drawn across jobs by default (``*_step`` against step, the others epoch)."""
NOT_METRICS = frozenset(
    {*RUN_COLUMNS, "diverged", "diverged_step", "overrides", "model", "data", "error", "failed"}
    | {"status", "interrupted", "signal", "checkpoint", "resume_command"}
)
"""Keys of ``metrics.json`` that are not final metrics."""
QUIET_PREFIXES = ("callbacks", "logger", "hydra", "print_config", "trainer.log_every_n_steps")
"""Overrides that change how a run is watched, not what it computes (as in run names)."""
FAILED_MARKERS = ("failed", "FAILED", ".failed")
"""A file of one of these names in a job folder marks the job as failed."""
SPLITS = ("train/", "val/", "test/")
"""Prefixes of the scalar tags read from the event files."""
LEGEND_INSIDE_MAX = 10
"""Overlays of more jobs than this put the legend beside the axes."""
LEGEND_ROWS = 28
"""Entries per column of a legend beside the axes."""

_JOB_NUMBER = re.compile(r"^(\d+)_")
_RUN_STAMP = re.compile(r"^(\d{2}-\d{2}-\d{2}_[0-9a-f]+)(?:_|$)")
_UNSAFE = re.compile(r"[^\w.=,+\-]")
_SIZE_GUIDANCE = {
    "scalars": 0,  # keep every scalar
    "images": 1,
    "audio": 1,
    "histograms": 1,
    "compressedHistograms": 1,
    "tensors": 1,
}


class ReportError(Exception):
    """A report cannot be made; the message is one sentence meant for the user."""


@dataclass
class Series:
    """One logged curve: x (epochs completed, or the global step) and the values."""

    x: list[float]
    y: list[float]


@dataclass
class Job:
    """What a report needs from one job folder."""

    path: Path
    rel: tuple[str, ...]  # path relative to the reported folder
    overrides: dict[str, str]
    metrics: dict[str, Any] | None
    status: str
    error: str = ""
    key: str = ""  # short unique name, set once all jobs are known
    series: dict[str, Series] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def diverged(self) -> bool:
        return self.status.startswith("diverged")


@dataclass
class Report:
    """The result of :func:`write_report`: the Markdown table and every file written."""

    jobs: list[Job]
    markdown_table: str
    files: list[Path]

    def summary(self) -> str:
        return summarize(self.jobs)


# ---------------------------------------------------------------------------- discovery


def is_job(folder: Path) -> bool:
    """A job folder holds a ``.hydra/`` folder or a ``metrics.json``."""
    return (folder / ".hydra").is_dir() or (folder / "metrics.json").is_file()


def find_jobs(root: Path) -> list[Path]:
    """Every job folder at or under ``root`` (a job's own subfolders are not searched)."""
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        folder = Path(dirpath)
        if is_job(folder):
            found.append(folder)
            dirnames.clear()
        else:
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
    return found


def _part_order(part: str) -> tuple[int, int, str]:
    """Sweep jobs ("<num>_…") by number first, any other folder by name."""
    match = _JOB_NUMBER.match(part)
    return (0, int(match.group(1)), part) if match else (1, 0, part)


def job_order(job: Job) -> tuple[tuple[int, int, str], ...]:
    """Sort key of a job: folder by folder, sweep jobs by number."""
    return tuple(_part_order(part) for part in job.rel)


def _short(part: str) -> str:
    """The job number of a sweep job, the time and id of a single run, else the name."""
    match = _JOB_NUMBER.match(part) or _RUN_STAMP.match(part)
    return match.group(1) if match else part


def assign_keys(jobs: Sequence[Job], root: Path) -> None:
    """Give every job a short unique name: its path below what all jobs share, shortened.

    A sweep reported from its folder gives "0", "1", …; a folder of several sweeps gives
    "<time>_<id>/0", …; a single run reported from its own folder its "<time>_<id>".
    """
    parts = [job.rel for job in jobs]
    common = 0
    while all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    seen: dict[str, int] = {}
    for job in jobs:
        rel = job.rel[common:] or (root.resolve().name,)
        key = "/".join(_short(part) for part in rel)
        if key in seen:
            seen[key] += 1
            key = f"{key}~{seen[key]}"
        else:
            seen[key] = 0
        job.key = key


def file_stem(key: str) -> str:
    """A job key made safe for a file name."""
    return _UNSAFE.sub("_", key.replace("/", "-"))


# ------------------------------------------------------------------------------ reading


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``["a=1", "+b=x", "~c"]`` → ``{"a": "1", "b": "x", "~c": ""}`` (quiet keys dropped)."""
    out: dict[str, str] = {}
    for item in items:
        key, _, value = str(item).partition("=")
        key = key.lstrip("+")
        if key and not key.lstrip("~").startswith(QUIET_PREFIXES):
            out[key] = value
    return out


def read_overrides(folder: Path, metrics: dict[str, Any] | None) -> dict[str, str]:
    """The job's overrides from ``.hydra/overrides.yaml``, else from its metrics.json."""
    items: Any = None
    path = folder / ".hydra" / "overrides.yaml"
    if path.is_file():
        try:
            items = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            items = None
    if not isinstance(items, list) and metrics:
        items = metrics.get("overrides")
    return parse_overrides(items) if isinstance(items, list) else {}


def read_metrics(folder: Path) -> tuple[dict[str, Any] | None, str]:
    """The content of ``metrics.json`` (None when missing or unreadable) and why not."""
    path = folder / "metrics.json"
    if not path.is_file():
        return None, "no metrics.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"unreadable metrics.json ({type(exc).__name__})"
    if not isinstance(data, dict):
        return None, "metrics.json holds no object"
    return data, ""


def last_error_line(folder: Path) -> str:
    """The last line of the job's log (``train.log``, else any ``*.log``) naming an error."""
    logs = sorted(folder.glob("*.log"), key=lambda p: (p.name != "train.log", p.name))
    for log in logs:
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in reversed(lines):
            if "Error" in line or "[ERROR]" in line:
                return line.strip()
    return ""


def _marker_text(folder: Path) -> str | None:
    """The last line of a failed marker in ``folder`` ("" if empty), None if there is none."""
    for name in FAILED_MARKERS:
        marker = folder / name
        if marker.is_file():
            try:
                lines = [line for line in marker.read_text(errors="replace").splitlines() if line]
            except OSError:
                lines = []
            return lines[-1].strip() if lines else ""
    return None


def _failure(folder: Path, metrics: dict[str, Any] | None, why: str) -> str | None:
    """Why the job failed (a marker file, no or a bad metrics.json, an error recorded in
    it), None when it did not."""
    marker = _marker_text(folder)
    if marker is not None:
        return marker or "marked failed"
    if metrics is None:
        return why
    if metrics.get("error"):
        return str(metrics["error"])
    if metrics.get("failed"):
        return "marked failed in metrics.json"
    return None


def job_status(folder: Path, metrics: dict[str, Any] | None, why: str) -> tuple[str, str]:
    """``("ok" | "diverged (step N)" | "interrupted (step N)" | "interrupted (not started)"
    | "failed", error text)`` of one job (an interrupted job can be resumed); the error text of
    a failed job ends with the last line of its log naming an error, if any."""
    reason = _failure(folder, metrics, why)
    if reason is not None:
        line = last_error_line(folder)
        return "failed", f"{reason}; {line}" if line and line != reason else reason
    assert metrics is not None
    if metrics.get("not_started"):  # an interrupted sweep's job that never began
        return "interrupted (not started)", ""
    if metrics.get("interrupted") or metrics.get("status") == "interrupted":
        return f"interrupted (step {metrics.get('steps')})", ""
    if metrics.get("diverged"):
        step = metrics.get("diverged_step")
        return (f"diverged (step {step})" if step is not None else "diverged"), ""
    return "ok", ""


def _event_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*tfevents*") if p.is_file())


def _load_scalars(path: Path) -> dict[str, dict[int, float]]:
    """Every scalar of one event file: tag → {step: value} (the last value of a step)."""
    acc = EventAccumulator(str(path), size_guidance=_SIZE_GUIDANCE, purge_orphaned_data=False)
    try:
        acc.Reload()
    except Exception:  # a truncated or foreign file: keep what the other files hold
        return {}
    return {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}


def _to_series(points: dict[int, float], epochs: dict[int, float], per_step: bool) -> Series | None:
    """Finite points in step order; x the step, or the epochs completed at that step."""
    steps = sorted(s for s, v in points.items() if math.isfinite(v))
    if not steps:
        return None
    if per_step:
        x = [float(s) for s in steps]
    elif all(s in epochs for s in steps):
        x = [epochs[s] + 1.0 for s in steps]
    else:  # no "epoch" scalar to map steps: one point per epoch, in order
        x = [float(i + 1) for i in range(len(steps))]
    return Series(x, [points[s] for s in steps])


def read_series(folder: Path) -> dict[str, Series]:
    """The training curves of a job: metric name ("val_loss", "train_loss_step", …) → Series.

    Each event file is read once. Only files written by ``fit`` (those holding a
    ``train/`` tag) count: the extra validation and test after fit log one more point of
    the final weights, which is a number for the table, not part of the curve.
    """
    merged: dict[str, dict[int, float]] = {}
    epochs: dict[int, float] = {}
    for path in _event_files(folder):
        scalars = _load_scalars(path)
        if not any(tag.startswith("train/") for tag in scalars):
            continue
        epochs.update(scalars.get("epoch", {}))
        for tag, points in scalars.items():
            if tag.startswith(SPLITS):
                merged.setdefault(tag.replace("/", "_"), {}).update(points)
    out = {}
    for name, points in merged.items():
        series = _to_series(points, epochs, per_step=name.endswith("_step"))
        if series is not None:
            out[name] = series
    return out


def load_job(folder: Path, root: Path, curves: bool = True) -> Job:
    """Read one job folder: metrics.json, status, overrides and (if asked) its curves."""
    metrics, why = read_metrics(folder)
    status, error = job_status(folder, metrics, why)
    rel = folder.relative_to(root).parts if folder != root else ()
    job = Job(folder, rel, read_overrides(folder, metrics), metrics, status, error)
    if curves:
        job.series = read_series(folder)
    return job


def load_jobs(root: Path, curves: bool = True) -> list[Job]:
    """Every job under ``root``, sorted (sweep by sweep, by job number), with short keys."""
    if not root.exists():
        raise ReportError(f"There is no folder {root}.")
    if not root.is_dir():
        raise ReportError(f"{root} is a file, not a run or sweep folder.")
    jobs = [load_job(folder, root, curves) for folder in find_jobs(root)]
    if not jobs:
        raise ReportError(
            f"No runs found under {root} (a run folder holds a .hydra/ folder or a metrics.json)."
        )
    jobs.sort(key=job_order)
    assign_keys(jobs, root)
    return jobs


# ------------------------------------------------------------------------------- tables


def distinguishing_keys(jobs: Sequence[Job]) -> list[str]:
    """The override keys whose value differs across jobs (a missing key differs too), in
    first-seen order; for a single job, all of its overrides."""
    keys = list(dict.fromkeys(k for job in jobs for k in job.overrides))
    if len(jobs) == 1:
        return keys
    return [k for k in keys if len({job.overrides.get(k) for job in jobs}) > 1]


def job_label(job: Job, keys: Sequence[str]) -> str:
    """``key=value`` of the distinguishing overrides (the job key when there are none)."""
    parts = [f"{k}={job.overrides[k]}" for k in keys if k in job.overrides]
    return ", ".join(parts) or job.key


def normalize_metric(name: str) -> str:
    """``val/loss`` and ``val_loss`` name the same metric."""
    return name.strip().replace("/", "_")


def metric_columns(jobs: Sequence[Job], requested: Sequence[str] | None) -> list[str]:
    """The final-metric columns: the requested ones, else every default one present."""
    if requested is not None:
        return [m for m in requested if m not in RUN_COLUMNS and not m.endswith("_step")]
    present = {k for job in jobs if job.metrics for k in job.metrics}
    return [m for m in FINAL_METRICS if m in present] or list(FINAL_METRICS)


def known_metrics(jobs: Sequence[Job]) -> set[str]:
    """Every name ``--metrics`` accepts for these jobs."""
    names = set(FINAL_METRICS) | set(OVERLAYS)
    for job in jobs:
        names |= {k for k in job.metrics or {} if k not in NOT_METRICS}
        names |= set(job.series)
    return names


def check_metrics(jobs: Sequence[Job], requested: Sequence[str]) -> None:
    """Raise :class:`ReportError` naming the requested metrics no job knows."""
    unknown = [m for m in requested if m not in known_metrics(jobs) and m not in RUN_COLUMNS]
    if unknown:
        choices = ", ".join(sorted(known_metrics(jobs)))
        raise ReportError(f"Unknown metric {', '.join(unknown)}; choose among {choices}.")


def header(keys: Sequence[str], metrics: Sequence[str]) -> list[str]:
    """The table's columns: job, distinguishing overrides, metrics, run facts, status."""
    return ["job", *keys, *metrics, *RUN_COLUMNS, "status"]


def row_values(job: Job, keys: Sequence[str], metrics: Sequence[str]) -> list[Any]:
    """One table row of raw values (None where nothing is known)."""
    known = job.metrics or {}
    return [
        job.key,
        *(job.overrides.get(k) for k in keys),
        *(known.get(m) for m in metrics),
        *(known.get(c) for c in RUN_COLUMNS),
        job.status,
    ]


def format_cell(value: Any, column: str = "") -> str:
    """A value as the Markdown table shows it (4 significant digits, "—" for nothing)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.1f}" if column == "seconds" else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table; numeric columns right-aligned."""
    numeric = [
        all(isinstance(r[i], int | float) or r[i] is None for r in rows)
        and any(r[i] is not None for r in rows)
        for i in range(len(columns))
    ]
    lines = [
        "| " + " | ".join(format_cell(c) for c in columns) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    for row in rows:
        cells = (format_cell(v, c) for v, c in zip(row, columns))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """The table at full precision (floats as Python writes them, "" for nothing)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
    return path


def summarize(jobs: Sequence[Job]) -> str:
    """The counts of a report, e.g. "3 jobs: 1 ok, 1 diverged, 1 failed"."""
    ok = sum(job.status == "ok" for job in jobs)
    diverged = sum(job.diverged for job in jobs)
    failed = sum(job.failed for job in jobs)
    interrupted = sum(job.status.startswith("interrupted") for job in jobs)
    noun = "job" if len(jobs) == 1 else "jobs"
    also = f", {interrupted} interrupted" if interrupted else ""
    return f"{len(jobs)} {noun}: {ok} ok, {diverged} diverged, {failed} failed{also}"


# ------------------------------------------------------------------------------ figures


Margins = tuple[float, float, float, float]
"""Left, right, bottom, top margins of a figure, in inches."""


def _set_margins(fig: Figure, margins: Margins) -> None:
    """Place the subplots ``margins`` inches from the figure's edges."""
    width, height = fig.get_size_inches()
    left, right, bottom, top = margins
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height
    )


def _figure(figsize: tuple[float, float], margins: Margins) -> Figure:
    """A figure on its own Agg canvas (no pyplot: nothing is left open once it is dropped).

    Fixed margins instead of a layout engine halve the drawing time, which dominates a
    report.
    """
    fig = Figure(figsize=figsize, dpi=100)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(wspace=0.3)
    _set_margins(fig, margins)
    return fig


def _widen_for_legend(fig: Figure, legend: Any, margins: Margins) -> None:
    """Make room right of the axes for a legend anchored there (measured, not drawn)."""
    extent = legend.get_window_extent(fig.canvas.get_renderer())
    extra = extent.width / fig.dpi + 0.15
    width, height = fig.get_size_inches()
    fig.set_size_inches(width + extra, height)
    left, right, bottom, top = margins
    _set_margins(fig, (left, right + extra, bottom, top))


def _save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG and release it."""
    fig.savefig(path)
    fig.clear()
    return path


def _marker(series: Series) -> str | None:
    """Dots on short curves (a few epochs), a plain line on long ones."""
    return "o" if len(series.x) <= 30 else None


def _maybe_log_scale(ax: Any, values: Iterable[float], name: str) -> None:
    """Log y for a loss whose values span more than three decades (a run blowing up)."""
    values = [v for v in values if math.isfinite(v)]
    if "loss" in name and values and min(values) > 0 and max(values) / min(values) > 1e3:
        ax.set_yscale("log")


def _draw_pair(ax: Any, job: Job, kind: str) -> bool:
    """Train and val ``kind`` ("loss", "acc") of one job against epoch; False if neither."""
    drawn = False
    for split in ("train", "val"):
        series = job.series.get(f"{split}_{kind}")
        if series is not None:
            ax.plot(series.x, series.y, label=split, marker=_marker(series), markersize=3)
            drawn = True
    if drawn:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("accuracy" if kind == "acc" else kind)
        ax.grid(alpha=0.3)
        ax.legend()
        pair = (job.series.get(f"{split}_{kind}") for split in ("train", "val"))
        _maybe_log_scale(ax, (v for s in pair if s is not None for v in s.y), kind)
    return drawn


def _draw_steps(ax: Any, series: Series) -> None:
    """The per-step training loss, for a job that logged no epoch-level loss."""
    ax.plot(series.x, series.y, label="train (per step)", marker=_marker(series), markersize=3)
    ax.set(xlabel="step", ylabel="loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    _maybe_log_scale(ax, series.y, "loss")


def curves_figure(job: Job, title: str) -> Figure | None:
    """Train vs val loss (and accuracy when logged) of one job; None if nothing was logged.

    A job with no epoch-level loss (it diverged or failed in its first epoch) shows its
    per-step training loss instead.
    """
    has_loss = any(f"{s}_loss" in job.series for s in ("train", "val"))
    has_acc = any(f"{s}_acc" in job.series for s in ("train", "val"))
    step = job.series.get("train_loss_step")
    if not (has_loss or has_acc or step):
        return None
    panels = int(has_loss or step is not None) + int(has_acc)
    fig = _figure((4.6 * panels, 3.6), margins=(0.7, 0.2, 0.55, 0.5))
    axes = fig.subplots(1, panels, squeeze=False)[0]
    if has_loss:
        _draw_pair(axes[0], job, "loss")
    elif step is not None:
        _draw_steps(axes[0], step)
    if has_acc:
        _draw_pair(axes[-1], job, "acc")
    fig.suptitle(title, fontsize=10)
    return fig


def overlay_figure(jobs: Sequence[Job], metric: str, labels: dict[str, str]) -> Figure | None:
    """``metric`` of every job that logged it, one line each; None if no job did."""
    having = [job for job in jobs if metric in job.series]
    if not having:
        return None
    many = len(having) > LEGEND_INSIDE_MAX
    margins = (0.8, 0.25, 0.55, 0.4)
    fig = _figure((6.4, 4.2), margins)
    ax = fig.add_subplot()
    colors = _colors(len(having))
    for job, color in zip(having, colors):
        series = job.series[metric]
        label = labels[job.key] + ("" if job.status == "ok" else f" ({job.status})")
        style = {"ok": "-", "failed": ":"}.get(job.status, "--")
        marker = None if metric.endswith("_step") else _marker(series)
        ax.plot(series.x, series.y, style, color=color, label=label, marker=marker, markersize=3)
    ax.set_xlabel("step" if metric.endswith("_step") else "epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric)
    ax.set_title(metric)
    ax.grid(alpha=0.3)
    _maybe_log_scale(ax, (v for job in having for v in job.series[metric].y), metric)
    if many:
        legend = ax.legend(
            fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0,
            ncols=math.ceil(len(having) / LEGEND_ROWS),
        )
        _widen_for_legend(fig, legend, margins)
    else:
        ax.legend(fontsize=8)
    return fig


def _colors(n: int) -> list[Any]:
    """``n`` distinct colours (tab10, tab20 beyond ten, cycling beyond twenty)."""
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def unique_labels(jobs: Sequence[Job], keys: Sequence[str]) -> dict[str, str]:
    """job key → legend label; labels shared by several jobs get their job key in front."""
    labels = {job.key: job_label(job, keys) for job in jobs}
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    return {k: (f"{k}: {v}" if counts[v] > 1 and v != k else v) for k, v in labels.items()}


def overlay_metrics(jobs: Sequence[Job], requested: Sequence[str] | None) -> list[str]:
    """The metrics to overlay: the requested ones with curves, else the default ones."""
    names = requested if requested is not None else OVERLAYS
    return [m for m in names if any(m in job.series for job in jobs)]


# ------------------------------------------------------------------------------- report


def write_overlay(
    jobs: Sequence[Job], metric: str, labels: dict[str, str], path: Path
) -> Path | None:
    """Draw and write ``overlay_<metric>.png``; None if no job logged ``metric``."""
    having = [
        replace(job, series={metric: job.series[metric]}) for job in jobs if metric in job.series
    ]
    fig = overlay_figure(having, metric, labels)
    return None if fig is None else _save(fig, path)


def write_curves(job: Job, label: str, path: Path) -> Path | None:
    """Draw and write ``curves_<job>.png``; None if the job logged no curve."""
    title = job.key if label == job.key else f"{job.key}: {label}"
    fig = curves_figure(job, title if job.status == "ok" else f"{title} ({job.status})")
    return None if fig is None else _save(fig, path)


def write_figures(
    jobs: Sequence[Job], labels: dict[str, str], requested: Sequence[str] | None, out_dir: Path
) -> tuple[list[Path], dict[str, Path]]:
    """Every overlay written, and job key → its curves figure (jobs with curves only)."""
    overlays = []
    for metric in overlay_metrics(jobs, requested):
        path = write_overlay(jobs, metric, labels, out_dir / f"overlay_{metric}.png")
        if path is not None:
            overlays.append(path)
    curves = {}
    for job in jobs:
        path = write_curves(job, labels[job.key], out_dir / f"curves_{file_stem(job.key)}.png")
        if path is not None:
            curves[job.key] = path
    return overlays, curves


def _markdown_document(
    root: Path, jobs: Sequence[Job], table: str, overlays: Sequence[Path], curves: dict[str, Path]
) -> str:
    """report.md: a summary line, the table, the failed jobs, then the figures."""
    lines = [f"# Report: {root.resolve().name}", "", f"{summarize(jobs)} under `{root}`.", ""]
    lines += [table, ""]
    failed = [job for job in jobs if job.failed]
    if failed:
        lines += ["## Failed jobs", ""]
        for job in failed:
            folder = "/".join(job.rel) or "."
            lines.append(f"- `{job.key}` (`{folder}`): {job.error or 'failed'}")
        lines.append("")
    if overlays:
        lines += ["## Curves across jobs", ""]
        lines += [f"![{p.stem.removeprefix('overlay_')}]({p.name})" for p in overlays]
        lines.append("")
    if curves:
        lines += ["## Curves per job", ""]
        for key, path in curves.items():
            lines += [f"![{key}]({path.name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    root: str | Path,
    out: str | Path | None = None,
    metrics: Sequence[str] | None = None,
) -> Report:
    """Report on every job under ``root``; write everything into ``out`` (default root).

    metrics: the final metrics shown as columns and the curves overlaid across jobs
             ("val_loss", "val/acc", "train_loss_step", …); default: all of them.
    Raises :class:`ReportError` (a one-sentence message) for a missing folder, a folder
    without runs, or an unknown metric.
    """
    root = Path(root)
    jobs = load_jobs(root)
    requested = None if metrics is None else [normalize_metric(m) for m in metrics if m.strip()]
    if requested is not None:
        check_metrics(jobs, requested)
    out_dir = Path(out) if out is not None else root
    out_dir.mkdir(parents=True, exist_ok=True)

    keys = distinguishing_keys(jobs)
    columns_m = metric_columns(jobs, requested)
    columns = header(keys, columns_m)
    rows = [row_values(job, keys, columns_m) for job in jobs]
    table = markdown_table(columns, rows)
    csv_rows = [[*row, job.error, "/".join(job.rel) or "."] for row, job in zip(rows, jobs)]
    files = [write_csv(out_dir / "report.csv", [*columns, "error", "folder"], csv_rows)]
    overlays, curves = write_figures(jobs, unique_labels(jobs, keys), requested, out_dir)

    md = out_dir / "report.md"
    md.write_text(_markdown_document(root, jobs, table, overlays, curves))
    files = [md, *files, *overlays, *curves.values()]
    return Report(jobs, table, files)
