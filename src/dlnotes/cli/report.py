"""``dlnotes-report``: a table and figures of the runs under a run or sweep folder.

dlnotes-report outputs/multirun/2025-01-01/12-00-00_ab12        # one sweep
dlnotes-report outputs/runs/2025-01-01/12-00-00_cd34_data=moons # one run
dlnotes-report outputs --metrics val_loss val_acc --out reports # everything, chosen metrics

Writes report.md, report.csv, curves_<job>.png and overlay_<metric>.png into the folder
(or --out), prints the Markdown table and the files written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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
    return parser


def _split_metrics(values: Sequence[str] | None) -> list[str] | None:
    """``["val_loss,val_acc", "test_acc"]`` → ``["val_loss", "val_acc", "test_acc"]``."""
    if values is None:
        return None
    return [name for value in values for name in value.split(",") if name.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dlnotes-report``; returns the exit code (0, or 2 on a bad folder)."""
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
    print()
    print(f"{report.summary()}.")
    print("Wrote:")
    for path in report.files:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
