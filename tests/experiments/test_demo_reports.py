"""dlnotes-report on a demo's sweep adds the demo's own tables and figures (as in its
README), found from the ``experiment=<name>`` the jobs were started with."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from dlnotes.cli.report import main
from dlnotes.experiments import DEMO_REPORTS, detect_demo, experiment_of
from tests.cli.conftest import run_cli


@pytest.fixture(scope="module")
def planar_sweep(tmp_path_factory) -> Path:
    """experiment=planar reduced to 2 jobs (logistic regression, n_h = 4) × 20 steps."""
    cwd = tmp_path_factory.mktemp("planar_sweep")
    args = [
        "-m",
        "experiment=planar",
        "model.hidden=[],[4]",
        "trainer.max_epochs=20",
        "trainer.check_val_every_n_epoch=10",
        "hydra.launcher.n_jobs=1",
        "print_config=false",
    ]
    proc = run_cli(args, cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (cwd / "outputs" / "multirun").glob("*/*")
    return sweep


def test_every_registered_demo_has_its_report_function():
    import importlib

    for name, target in DEMO_REPORTS.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(f"dlnotes.experiments.{module}"), function))
        config = Path(__file__).parents[2] / "src" / "dlnotes" / "conf" / "experiment"
        assert (config / f"{name}.yaml").exists(), name


def test_the_demo_is_found_and_its_table_and_figure_written(planar_sweep, capsys):
    jobs = sorted(p for p in planar_sweep.iterdir() if p.is_dir())
    assert [experiment_of(job) for job in jobs] == ["planar", "planar"]
    assert detect_demo(jobs) == "planar"
    assert main([str(planar_sweep)]) == 0
    printed = capsys.readouterr().out
    table = (planar_sweep / "planar.md").read_text()
    # one row per job, beside the published accuracy of the assignment
    assert "| logistic regression | 47.00% |" in table
    assert "| n_h = 4 | 90.50% |" in table
    assert table.strip().splitlines()[-1] in printed
    with Image.open(planar_sweep / "decision_boundaries.png") as image:
        assert image.width > 400 and image.height > 200


def test_demo_none_skips_it_and_mixed_experiments_have_no_demo(planar_sweep, tmp_path, capsys):
    out = tmp_path / "plain"
    assert main([str(planar_sweep), "--demo", "none", "--out", str(out)]) == 0
    assert (out / "report.md").exists() and not (out / "planar.md").exists()
    other = tmp_path / "other_job"
    other.mkdir()
    assert detect_demo([*planar_sweep.iterdir(), other]) is None
