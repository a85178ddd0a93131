"""``dlnotes-report``: a table and figures of the runs under a run or sweep folder.

dlnotes-report outputs/multirun/2025-01-01/12-00-00_ab12        # one sweep
dlnotes-report outputs/runs/2025-01-01/12-00-00_cd34_data=moons # one run
dlnotes-report outputs --metrics val_loss val_acc --out reports # everything, chosen metrics

Writes report.md, report.csv, curves_<job>.png and overlay_<metric>.png into the folder
(or --out), prints the Markdown table and the files written. A sweep of a demo
(``dlnotes-train -m experiment=<demo>``) also gets that demo's tables and figures, as in
its README (``<demo>.md`` and PNGs; ``--demo`` names the demo, ``--demo none`` skips it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from dlnotes.experiments import DEMO_REPORTS, demo_report, detect_demo
from dlnotes.training.report import OVERLAYS, ReportError, write_report

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlnotes-report",
        description=(
            "Report on every run below a folder: report.md and report.csv (one row per job: "
            "its distinguishing overrides, final metrics and status) and PNG figures of the "
            "training curves (curves_<job>.png, overlay_<metric>.png)."
        ),
    )
    parser.add_argument("folder", help="a run folder, a sweep folder or a folder of several")
    parser.add_argument(
        "--metrics",
        nargs="+",
        metavar="METRIC",
        help=(
            "final metrics to tabulate and curves to overlay, space- or comma-separated "
            f"(val_loss, val/acc, …; default: all, overlays {', '.join(OVERLAYS)})"
        ),
    )
    parser.add_argument("--out", metavar="DIR", help="where to write (default: the folder)")
    parser.add_argument(
        "--demo",
        choices=[*sorted(DEMO_REPORTS), "none"],
        help="add this demo's tables and figures (default: the experiment the runs used)",
    )
    parser.add_argument(
        "--reference",
        nargs="+",
        default=[],
        metavar="RUN",
        help="single run folders a demo compares with (e.g. logistic regression)",
    )
    return parser


class DemoReportError(RuntimeError):
    """A demo's report could not be made: a job did not write a file it needs (a
    checkpoint, event files), or ``--demo`` named a demo the runs are not of."""


def _smoke_test(job: Path) -> bool:
    """Whether the job ran with ``trainer.fast_dev_run`` (``trainer=fast``)."""
    config = job / ".hydra" / "config.yaml"
    if not config.is_file():
        return False
    trainer = (yaml.safe_load(config.read_text()) or {}).get("trainer") or {}
    return bool(trainer.get("fast_dev_run"))


def _demo_section(args: argparse.Namespace, jobs: Sequence[Path]) -> list[Path]:
    """Write the demo's tables (``<demo>.md``) and figures; print the tables."""
    name = args.demo if args.demo else detect_demo(jobs)
    if name is None or name == "none":
        return []
    if any(_smoke_test(job) for job in jobs):
        print(
            f"dlnotes-report: no {name} tables and figures: the jobs ran with trainer=fast "
            f"(a smoke test), which keeps no checkpoints or TensorBoard events; run the "
            f"demo without trainer=fast for them.",
            file=sys.stderr,
        )
        return []
    out = Path(args.out or args.folder)
    before = {p: p.stat().st_mtime_ns for p in out.glob("*.png")}
    try:
        tables = demo_report(name, jobs, out, [Path(r) for r in args.reference])
    except FileNotFoundError as err:
        raise DemoReportError(
            f"the {name} tables and figures need {err.filename or err}, which its job did "
            f"not write (callbacks=none, logger=null or trainer.enable_checkpointing=false "
            f"leave out checkpoints and events); run the demo with its own settings for them"
        ) from err
    except Exception as err:
        if not args.demo:  # the demo the runs were started with: a bug, with its traceback
            raise
        raise DemoReportError(
            f"--demo {name} could not read these runs ({type(err).__name__}: {err}); it "
            f"reports on a sweep of dlnotes-train -m experiment={name}"
        ) from err
    md = out / f"{name}.md"
    md.write_text(f"# {name}\n\n{tables}\n")
    print(f"\n## {name}\n\n{tables}")
    written = [p for p in sorted(out.glob("*.png")) if before.get(p) != p.stat().st_mtime_ns]
    return [md, *written]


def _split_metrics(values: Sequence[str] | None) -> list[str] | None:
    """``["val_loss,val_acc", "test_acc"]`` → ``["val_loss", "val_acc", "test_acc"]``."""
    if values is None:
        return None
    return [name for value in values for name in value.split(",") if name.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dlnotes-report``; returns the exit code (0; 2 on a bad folder; 1
    when a file a demo's report needs is missing, after the general report)."""
    args = build_parser().parse_args(argv)
    try:
        report = write_report(args.folder, out=args.out, metrics=_split_metrics(args.metrics))
    except ReportError as exc:
        print(f"dlnotes-report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"dlnotes-report: cannot write{where}: {exc.strerror or exc}.", file=sys.stderr)
        return 1
    print(report.markdown_table)
    code, demo_files = 0, []
    try:
        demo_files = _demo_section(args, [job.path for job in report.jobs])
    except DemoReportError as exc:
        print(f"dlnotes-report: {exc}.", file=sys.stderr)
        code = 1
    print()
    print(f"{report.summary()}.")
    print("Wrote:")
    for path in [*report.files, *demo_files]:
        print(f"  {path}")
    return code


if __name__ == "__main__":
    sys.exit(main())
