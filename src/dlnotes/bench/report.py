"""The benchmark's result as Markdown tables (one per section) and as JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlnotes.experiments.common import markdown_table

START, END = "<!-- dlnotes-bench:start -->", "<!-- dlnotes-bench:end -->"


def ms(stats: dict[str, float] | None) -> str:
    """Median [first quartile, third quartile] of a timing, in milliseconds."""
    if not stats:
        return "–"
    return f"{1e3 * stats['median']:.3g} [{1e3 * stats['q1']:.3g}, {1e3 * stats['q3']:.3g}]"


def seconds(stats: dict[str, float] | None) -> str:
    if not stats:
        return "–"
    return f"{stats['median']:.1f} [{stats['q1']:.1f}, {stats['q3']:.1f}]"


def ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def limit(target: float | None, unit: str = "×") -> str:
    return "–" if target is None else f"≤ {target:g}{unit}"


def mb(n: int | None) -> str:
    return "–" if n is None else f"{n / 2**20:.2f}"


def verdict(word: str | None) -> str:
    return {"pass": "pass", "miss": "**miss**"}.get(word or "", "–")


def _ops(rows: list[dict[str, Any]]) -> str:
    headers = ["op", "shape", "dlnotes ms", "torch ms", "ratio", "floor", "target", "time",
               "peak MiB dlnotes", "peak MiB torch", "ratio", "target", "memory"]  # fmt: skip
    body = [
        [r["op"], r["shape"], ms(r["dlnotes"]), ms(r["torch"]), ratio(r["ratio"]),
         ratio(r.get("floor")), limit(r["target"]), verdict(r["time"]),
         mb(r["peak_bytes_dlnotes"]),
         mb(r["peak_bytes_torch"]), ratio(r["memory_ratio"]), limit(r["memory_target"]),
         verdict(r["memory"])]
        for r in rows
    ]  # fmt: skip
    return markdown_table(headers, body)


def _models(rows: list[dict[str, Any]]) -> str:
    headers = ["model", "batch", "params", "manual ms", "autograd ms", "ratio", "target", "time"]
    body = [
        [r["model"], r["batch"], r["params"], ms(r["manual"]), ms(r["autograd"]),
         ratio(r["ratio"]), limit(r["target"]), verdict(r["time"])]
        for r in rows
    ]  # fmt: skip
    return markdown_table(headers, body)


def _lightning(rows: list[dict[str, Any]]) -> str:
    headers = ["loop", "steps × batch", "fit s", "ms / step", "samples / s", "ratio", "target",
               "time"]  # fmt: skip
    body = [
        [r["loop"], f"{r['steps']} × {r['batch']}", seconds(r["seconds"]),
         f"{r['ms_per_step']:.2f}", f"{r['samples_per_s']:.0f}", ratio(r["ratio"]),
         limit(r["target"]), verdict(r["time"])]
        for r in rows
    ]  # fmt: skip
    return markdown_table(headers, body)


def _ddp(rows: list[dict[str, Any]]) -> str:
    headers = ["loop", "processes", "steps × batch a process", "timed s", "ms / step", "ratio"]
    body = [
        [r["loop"], r["processes"], f"{r['steps']} × {r['batch']}", seconds(r["seconds"]),
         f"{r['ms_per_step']:.2f}", ratio(r["ratio"])]
        for r in rows
    ]  # fmt: skip
    return markdown_table(headers, body)


def _sweep(rows: list[dict[str, Any]]) -> str:
    headers = ["sweep (4 jobs)", "sequential s", "joblib s", "n_jobs", "speed-up",
               "start-up s", "fit s of a job, sequential / joblib"]  # fmt: skip
    body = [
        [f"`{r['sweep']}`", seconds(r["sequential"]), seconds(r["parallel"]), r["n_jobs"],
         ratio(r["speedup"]), seconds(r.get("startup")),
         f"{_s(r.get('job_fit_sequential'))} / {_s(r.get('job_fit_parallel'))}"]
        for r in rows
    ]  # fmt: skip
    return markdown_table(headers, body)


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _demos(rows: list[dict[str, Any]]) -> str:
    headers = ["demo", "command", "jobs", "seconds", "target", "time", "status"]
    body = [
        [r["demo"], f"`{r['command']}`", r["jobs"],
         "–" if r["seconds"] is None else f"{r['seconds']:.0f}", limit(r["target"], " s"),
         verdict(r["time"]), r["status"]]
        for r in rows
    ]  # fmt: skip
    return markdown_table(headers, body)


SECTIONS: dict[str, tuple[str, Callable[[list[dict[str, Any]]], str]]] = {
    "ops": ("Ops: forward + backward, dlnotes vs its PyTorch twin (float32)", _ops),
    "models": ("Models: one training step, backward=manual vs autograd", _models),
    "lightning": (
        "Lightning fit vs a plain PyTorch loop (deep MLP; LeNet without target; batch 128)",
        _lightning,
    ),
    "ddp": (
        "DDP on 2 CPU processes (gloo): Lightning fit vs a plain DistributedDataParallel "
        "loop (deep MLP, global batch 128)",
        _ddp,
    ),
    "sweep": ("Parallel sweep: basic launcher vs hydra/launcher=joblib", _sweep),
    "demos": ("Demos at their default size", _demos),
}


def _machine(info: dict[str, Any], settings: dict[str, Any]) -> str:
    rows = [[k, "–" if v is None else v] for k, v in {**info, **settings}.items()]
    return markdown_table(["", ""], rows)


def to_markdown(result: dict[str, Any]) -> str:
    """Every section of ``result`` present, each a heading and a table."""
    parts = [
        "Times are medians over interleaved samples, [first, third quartile] beside them; "
        "a ratio is dlnotes (or Lightning) over PyTorch (or the plain loop). An op's",
        "*floor* is PyTorch's op followed by an autograd.Function that does nothing, over",
        "PyTorch's op: the least any op written as one Python Function can cost here.",
        "",
        "### Machine",
        "",
        _machine(result["machine"], result["settings"]),
    ]
    for key, (title, table) in SECTIONS.items():
        if key in result["sections"]:
            parts += ["", f"### {title}", "", table(result["sections"][key])]
    counts = result.get("summary", {})
    parts += ["", f"Targets: {counts.get('pass', 0)} pass, {counts.get('miss', 0)} miss."]
    return "\n".join(parts) + "\n"


def summary(sections: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """How many target checks passed and missed, over every row and column."""
    words = [
        row[col]
        for rows in sections.values()
        for row in rows
        for col in ("time", "memory")
        if row.get(col) in ("pass", "miss")
    ]
    return {"pass": words.count("pass"), "miss": words.count("miss")}


def write(result: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``bench.json`` and ``bench.md`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "bench.json", out_dir / "bench.md"
    json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    md_path.write_text(to_markdown(result))
    return json_path, md_path


def update_document(path: Path, markdown: str) -> None:
    """Replace the text between the two bench markers of ``path`` with ``markdown``."""
    text = path.read_text()
    if START not in text or END not in text:
        raise ValueError(
            f"{path} has no {START} … {END} block to replace: add the two marker lines "
            "where the tables go"
        )
    block = f"{START}\n{markdown}{END}"
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    path.write_text(pattern.sub(lambda _: block, text, count=1))
