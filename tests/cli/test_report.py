"""dlnotes-report on a real (tiny) sweep: the table, the CSV, the figures and the statuses."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from dlnotes.cli.report import main
from dlnotes.training import report as rp
from tests.cli.conftest import run_cli

SWEEP_ARGS = [
    "-m",
    "data=moons",
    "data.n_samples=100",
    "model.activation=tanh,relu",
    "trainer.max_epochs=2",
    "trainer.log_every_n_steps=1",  # a train/loss_step point at every step
    "callbacks=none",
    "print_config=false",
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained_sweep(tmp_path_factory) -> Path:
    """A 2-job sweep trained once by the real CLI (activation tanh, relu)."""
    cwd = tmp_path_factory.mktemp("report_sweep")
    proc = run_cli(SWEEP_ARGS, cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (cwd / "outputs" / "multirun").glob("*/*")
    return sweep


@pytest.fixture
def sweep(trained_sweep, tmp_path) -> Path:
    """A private copy of the sweep, free to be altered and written into."""
    return Path(shutil.copytree(trained_sweep, tmp_path / trained_sweep.name))


def job_dirs(sweep: Path) -> list[Path]:
    return sorted((p for p in sweep.iterdir() if (p / ".hydra").is_dir()), key=lambda p: p.name)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def report(folder: Path, *args: str, capsys=None) -> tuple[int, str, str]:
    code = main([str(folder), *args])
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return code, out, err


def test_sweep_report_has_one_row_per_job_with_the_metrics_json_numbers(sweep, capsys):
    code, out, err = report(sweep, capsys=capsys)
    assert code == 0, err
    md, table = sweep / "report.md", sweep / "report.csv"
    assert md.is_file() and table.is_file()
    rows = read_csv(table)
    assert [r["job"] for r in rows] == ["0", "1"]
    assert [r["model.activation"] for r in rows] == ["tanh", "relu"]
    # only the override that differs gets a column
    assert "data.n_samples" not in rows[0] and "trainer.max_epochs" not in rows[0]
    for row, job in zip(rows, job_dirs(sweep)):
        metrics = json.loads((job / "metrics.json").read_text())
        for key in (*rp.FINAL_METRICS, "seconds"):
            assert float(row[key]) == metrics[key], key
        for key in ("epochs", "steps", "params"):
            assert int(row[key]) == metrics[key], key
        assert row["status"] == "ok"
        assert row["folder"] == job.name
    # the Markdown table is printed and written, with the rounded numbers
    text = md.read_text()
    first = json.loads((job_dirs(sweep)[0] / "metrics.json").read_text())
    table_lines = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table_lines) == 2 + 2
    assert table_lines[0].startswith("| job | model.activation | train_loss")
    assert f"| 0 | tanh | {first['train_loss']:.4g} |" in text
    assert "\n".join(table_lines) in out
    assert str(md) in out and str(table) in out
    assert "2 jobs: 2 ok, 0 diverged, 0 failed" in out


def test_figures_are_valid_pngs(sweep, capsys):
    assert report(sweep, capsys=capsys)[0] == 0
    names = ["curves_0.png", "curves_1.png"] + [f"overlay_{m}.png" for m in rp.OVERLAYS]
    for name in names:
        path = sweep / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        with Image.open(path) as image:
            image.verify()
            assert image.size[0] > 200 and image.size[1] > 200
    md = (sweep / "report.md").read_text()
    assert "![val_loss](overlay_val_loss.png)" in md and "(curves_1.png)" in md
    # drawn without pyplot: nothing left in its figure registry
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


def test_curves_follow_the_epochs_of_the_fit(trained_sweep):
    (job, _) = job_dirs(trained_sweep)
    series = rp.read_series(job)
    metrics = json.loads((job / "metrics.json").read_text())
    for name in ("train_loss", "val_loss", "train_acc", "val_acc"):
        assert series[name].x == [1.0, 2.0], name  # not the extra post-fit validation point
    assert series["val_loss"].y[-1] == pytest.approx(metrics["val_loss"], rel=1e-6)
    assert series["train_loss_step"].x == [float(s) for s in range(metrics["steps"])]
    assert "test_loss" not in series


def test_a_job_without_metrics_json_is_failed_with_its_log_error(sweep, capsys):
    source = job_dirs(sweep)[1]
    broken = sweep / source.name.replace("1_", "2_", 1)
    shutil.copytree(source, broken)
    (broken / "metrics.json").unlink()
    with (broken / "train.log").open("a") as log:
        log.write("[2025-01-01 00:00:00][__main__][ERROR] - RuntimeError: out of memory\n")
    code, out, _ = report(sweep, capsys=capsys)
    assert code == 0
    rows = read_csv(sweep / "report.csv")
    assert [r["job"] for r in rows] == ["0", "1", "2"]
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]
    assert rows[2]["val_loss"] == "" and "RuntimeError: out of memory" in rows[2]["error"]
    assert "| 2 | relu |" in out and "| failed |" in out
    md = (sweep / "report.md").read_text()
    assert "## Failed jobs" in md and "RuntimeError: out of memory" in md


def test_a_failed_marker_or_recorded_error_fails_the_job(sweep, capsys):
    first, second = job_dirs(sweep)
    (first / "failed").write_text("killed by the scheduler\n")
    metrics = json.loads((second / "metrics.json").read_text())
    (second / "metrics.json").write_text(json.dumps({**metrics, "error": "CUDA error"}))
    assert report(sweep, capsys=capsys)[0] == 0
    rows = read_csv(sweep / "report.csv")
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert rows[0]["error"] == "killed by the scheduler"
    assert rows[1]["error"] == "CUDA error"


def test_a_diverged_job_shows_its_step(sweep, capsys):
    job = job_dirs(sweep)[0]
    metrics = json.loads((job / "metrics.json").read_text())
    diverged = {**metrics, "diverged": True, "diverged_step": 7, "val_loss": None}
    (job / "metrics.json").write_text(json.dumps(diverged))
    code, out, _ = report(sweep, capsys=capsys)
    assert code == 0
    rows = read_csv(sweep / "report.csv")
    assert rows[0]["status"] == "diverged (step 7)" and rows[0]["val_loss"] == ""
    assert "| diverged (step 7) |" in out
    assert "1 ok, 1 diverged, 0 failed" in out


def test_metrics_and_out_choose_columns_overlays_and_folder(sweep, tmp_path, capsys):
    out_dir = tmp_path / "reports"
    code, out, _ = report(
        sweep, "--metrics", "val/loss,val_acc", "--out", str(out_dir), capsys=capsys
    )
    assert code == 0
    rows = read_csv(out_dir / "report.csv")
    assert [k for k in rows[0] if k in rp.FINAL_METRICS] == ["val_loss", "val_acc"]
    overlays = sorted(p.name for p in out_dir.glob("overlay_*.png"))
    assert overlays == ["overlay_val_acc.png", "overlay_val_loss.png"]
    assert not (sweep / "report.md").exists()
    assert str(out_dir / "report.md") in out


def test_single_run_and_several_sweeps(sweep, tmp_path, capsys):
    job = job_dirs(sweep)[0]
    assert report(job, capsys=capsys)[0] == 0
    rows = read_csv(job / "report.csv")
    assert len(rows) == 1 and rows[0]["model.activation"] == "tanh"  # its own overrides
    assert rows[0]["folder"] == "."

    parent = tmp_path / "several"
    for name in ("12-00-00_aaaa", "13-00-00_bbbb"):
        shutil.copytree(sweep, parent / name, ignore=shutil.ignore_patterns("report.*"))
    assert report(parent, capsys=capsys)[0] == 0
    rows = read_csv(parent / "report.csv")
    keys = ["12-00-00_aaaa/0", "12-00-00_aaaa/1", "13-00-00_bbbb/0", "13-00-00_bbbb/1"]
    assert [r["job"] for r in rows] == keys
    assert (parent / "curves_13-00-00_bbbb-1.png").is_file()


def test_missing_folder_exits_2_with_one_sentence(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "dlnotes.cli.report", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "nowhere" in lines[0] and lines[0].endswith(".")


@pytest.mark.parametrize("args", [[], ["--metrics", "nonsense"]])
def test_no_runs_or_unknown_metric_exit_2(tmp_path, capsys, args):
    folder = tmp_path / "empty"
    (folder / "sub").mkdir(parents=True)
    if args:  # a folder with a run, asked for a metric nobody logged
        (folder / "sub" / "metrics.json").write_text(json.dumps({"val_loss": 0.5}))
    code, out, err = report(folder, *args, capsys=capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert ("nonsense" if args else "No runs found") in err


def test_parse_overrides_and_distinguishing_keys():
    assert rp.parse_overrides(["a=1", "+b=x=y", "~c", "callbacks=none", "print_config=false"]) == {
        "a": "1",
        "b": "x=y",
        "~c": "",
    }

    def job(**overrides: str) -> rp.Job:
        return rp.Job(Path("."), (), dict(overrides), {}, "ok")

    jobs = [job(a="1", b="x", c="z"), job(a="2", b="x", c="z"), job(a="1", b="y", c="z")]
    assert rp.distinguishing_keys(jobs) == ["a", "b"]
    assert rp.distinguishing_keys([job(a="1"), job(a="1", d="4")]) == ["d"]


def test_a_demo_report_without_checkpoints_says_what_is_missing(sweep, capsys):
    """callbacks=none keeps no last.ckpt, which the activation demo's figures read: one
    sentence, exit 1, and the general report is written all the same."""
    code, _, err = report(sweep, "--demo", "activation", capsys=capsys)
    assert code == 1
    assert "dlnotes-report: the activation tables and figures need" in err
    assert "checkpoints/last.ckpt" in err and "Traceback" not in err
    assert (sweep / "report.md").is_file()


def test_a_demo_report_of_a_smoke_test_is_skipped_with_a_note(sweep, capsys):
    for job in job_dirs(sweep):
        config = job / ".hydra" / "config.yaml"
        cfg = yaml.safe_load(config.read_text())
        cfg["trainer"]["fast_dev_run"] = True
        config.write_text(yaml.safe_dump(cfg))
    code, _, err = report(sweep, "--demo", "planar", capsys=capsys)
    assert code == 0
    assert "no planar tables and figures: the jobs ran with trainer=fast" in err
    assert (sweep / "report.md").is_file() and not (sweep / "planar.md").exists()


def test_a_demo_named_for_runs_of_another_kind_is_one_sentence(sweep, capsys):
    code, _, err = report(sweep, "--demo", "planar", capsys=capsys)
    assert code == 1 and "Traceback" not in err
    assert "--demo planar could not read these runs" in err
    assert "dlnotes-train -m experiment=planar" in err
