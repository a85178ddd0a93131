"""``dlnotes-bench`` (or ``python -m dlnotes.bench``): the performance benchmark.

dlnotes-bench                                   # ops, models, lightning, ddp, sweep (~7 min)
dlnotes-bench --sections ops --repeats 31       # one section, more samples
dlnotes-bench --sections all                    # + every demo at its default size (long)
dlnotes-bench --update BENCHMARKS.md            # and refresh the tables of BENCHMARKS.md
dlnotes-bench --tiny --repeats 1                # smoke test: tiny shapes, seconds

Writes bench.json and bench.md into --out (default outputs/bench/<date>_<time>) and
prints the tables. See :mod:`dlnotes.bench` for what each section measures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_SECTIONS = ("ops", "models", "lightning", "ddp", "sweep")
ALL_SECTIONS = (*DEFAULT_SECTIONS, "demos")
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlnotes-bench",
        description=(
            "Time dlnotes against PyTorch: every op (forward + backward, and peak memory), "
            "a training step of every model (manual vs autograd backward), Lightning fit "
            "vs a plain loop (in one process and in 2 DDP processes), a 4-job sweep "
            "sequential vs joblib, and (opt-in) every demo. "
            "Compared runs are interleaved; tables show medians and quartiles, the "
            "issue's targets and pass/miss."
        ),
    )
    parser.add_argument(
        "--sections",
        default=",".join(DEFAULT_SECTIONS),
        help=f"comma-separated from {', '.join(ALL_SECTIONS)}, or all "
        f"(default: {','.join(DEFAULT_SECTIONS)})",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=15,
        help="samples per op and model (default 15); Lightning fits take a third as many, "
        "sweeps a seventh (at least 3 and 1)",
    )
    parser.add_argument(
        "--threads", type=int, help="PyTorch intra-op threads (default: PyTorch's, one per core)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda, for ops and models")
    parser.add_argument("--demos", help="comma-separated demo names (implies the demos section)")
    parser.add_argument("--out", metavar="DIR", help="where bench.json and bench.md go")
    parser.add_argument(
        "--update",
        metavar="FILE",
        help="also replace the tables between the dlnotes-bench markers of FILE "
        "(e.g. BENCHMARKS.md)",
    )
    parser.add_argument(
        "--tiny", action="store_true", help="tiny shapes and short fits: checks the command runs"
    )
    return parser


def _sections(args: argparse.Namespace) -> list[str]:
    names = ALL_SECTIONS if args.sections == "all" else args.sections.split(",")
    names = [n.strip() for n in names if n.strip()]
    if args.demos and "demos" not in names:
        names.append("demos")
    unknown = [n for n in names if n not in ALL_SECTIONS]
    if unknown:
        raise ValueError(
            f"--sections {','.join(unknown)} is not a section: choose from "
            f"{', '.join(ALL_SECTIONS)} or all"
        )
    return names


def _check_demos(demos: str | None) -> None:
    """Every name of ``--demos`` is an experiment of conf/experiment/."""
    if not demos:
        return
    from dlnotes.bench.scale import experiments

    known = experiments()
    unknown = [name for name in demos.split(",") if name not in known]
    if unknown:
        raise ValueError(
            f"--demos {','.join(unknown)} is not a demo: choose from {', '.join(known)}"
        )


def run_sections(names: Sequence[str], args: argparse.Namespace, log: Any) -> dict[str, Any]:
    """Run each section in order; ``log`` prints progress."""
    from dlnotes.bench import ddp, lightning_fit, models, ops, scale

    repeats, tiny, results = args.repeats, args.tiny, {}
    for name in names:
        log(f"[bold]{name}[/] …")
        if name == "ops":
            results[name] = ops.run(repeats, tiny, args.device, 0.0 if tiny else 0.02)
        elif name == "models":
            results[name] = models.run(
                repeats, tiny, min_sample_s=0.0 if tiny else 0.02, device=args.device
            )
        elif name == "lightning":
            results[name] = lightning_fit.run(max(1 if tiny else 3, repeats // 3), tiny)
        elif name == "ddp":
            results[name] = ddp.run(max(1, repeats // 5), tiny)
        elif name == "sweep":
            results[name] = scale.sweep(max(1, repeats // 7), tiny)
        elif name == "demos":
            chosen = args.demos.split(",") if args.demos else None
            results[name] = scale.demos(chosen)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dlnotes-bench``; returns the exit code."""
    args = build_parser().parse_args(argv)
    import torch

    try:
        names = _sections(args)
        if args.repeats < 1:
            raise ValueError(f"--repeats {args.repeats} is not a sample count: give 1 or more")
        if args.threads is not None and args.threads < 1:
            raise ValueError(f"--threads {args.threads} is not a thread count: give 1 or more")
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("--device cuda needs a CUDA GPU and none is visible: use --device cpu")
        if args.device != "cpu" and not args.device.startswith("cuda"):
            raise ValueError(f"--device {args.device} is not a device: use cpu or cuda")
        _check_demos(args.demos)
    except ValueError as exc:
        print(f"dlnotes-bench: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from rich.console import Console
    from rich.markdown import Markdown

    from dlnotes.bench import ddp, machine, report, scale

    if args.threads:
        torch.set_num_threads(args.threads)
    console = Console(stderr=True)
    started = dt.datetime.now()
    try:
        sections = run_sections(names, args, console.print)
    except scale.CommandFailed as exc:
        print(
            f"dlnotes-bench: a dlnotes-train command of the benchmark failed: {exc}",
            file=sys.stderr,
        )
        return 1
    except ddp.RunFailed as exc:
        print(f"dlnotes-bench: a DDP run of the benchmark failed: {exc}", file=sys.stderr)
        return 1
    result = {
        "machine": machine.describe(args.device),
        "settings": {
            "sections": ",".join(names),
            "repeats": args.repeats,
            "tiny": args.tiny,
            "seconds": round((dt.datetime.now() - started).total_seconds(), 1),
            "command": "dlnotes-bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        },
        "sections": sections,
        "summary": report.summary(sections),
    }
    out = Path(args.out or f"outputs/bench/{started:%Y-%m-%d_%H-%M-%S}")
    json_path, md_path = report.write(result, out)
    markdown = report.to_markdown(result)
    stdout = Console()
    # rich tables on a terminal; the Markdown itself when piped into a file or a log
    if stdout.is_terminal:
        stdout.print(Markdown(markdown))
    else:
        print(markdown)
    if args.update:
        try:
            report.update_document(Path(args.update), markdown)
        except (OSError, ValueError) as exc:
            print(f"dlnotes-bench: cannot update {args.update}: {exc}", file=sys.stderr)
            return 1
    console.print(
        f"Wrote {json_path} and {md_path}" + (f"; updated {args.update}" if args.update else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
