"""``dlnotes-bench`` runs end to end in its tiny mode and writes well-formed tables.

No timing is asserted (the numbers depend on the machine); what is checked is that every
op and model has its row, each row carries the measurements and the issue's target, and
the JSON and Markdown agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dlnotes import functional
from dlnotes.bench import ddp, ops, report, scale, targets, timing
from dlnotes.cli.bench import main
from dlnotes.models import MODELS


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[dict, str, Path]:
    out = tmp_path_factory.mktemp("bench")
    doc = out / "BENCHMARKS.md"
    doc.write_text(f"# Benchmarks\n\nintro\n\n{report.START}\nold\n{report.END}\n\nnotes\n")
    threads = torch.get_num_threads()
    code = main(
        ["--tiny", "--repeats", "2", "--sections", "ops,models,lightning", "--out", str(out),
         "--update", str(doc)]
    )  # fmt: skip
    torch.set_num_threads(threads)
    assert code == 0
    result = json.loads((out / "bench.json").read_text())
    return result, (out / "bench.md").read_text(), doc


def test_json_records_the_machine_and_settings(tiny_run):
    result, _, _ = tiny_run
    machine = result["machine"]
    for key in ("cpu", "cores", "threads", "torch", "date", "commit"):
        assert key in machine
    assert machine["torch"] == torch.__version__ and machine["threads"] >= 1
    assert result["settings"]["repeats"] == 2 and result["settings"]["tiny"] is True
    assert set(result["sections"]) == {"ops", "models", "lightning"}


def test_every_op_of_functional_has_a_row_with_time_and_memory(tiny_run):
    rows = tiny_run[0]["sections"]["ops"]
    assert ops.missing_ops() == []
    assert {r["op"] for r in rows} == set(functional.__all__)
    for r in rows:
        for side in ("dlnotes", "torch"):
            stats = r[side]
            assert stats["samples"] == 2 and 0 < stats["q1"] <= stats["median"] <= stats["q3"]
        assert r["ratio"] == pytest.approx(r["dlnotes"]["median"] / r["torch"]["median"])
        assert r["target"] == targets.OP_TIME[r["op"]]
        assert r["time"] == ("pass" if r["ratio"] <= r["target"] else "miss")
        assert r["memory_target"] == targets.OP_MEMORY
        assert r["peak_bytes_dlnotes"] >= 0 and r["peak_bytes_torch"] >= 0


def test_every_model_has_a_manual_vs_autograd_row(tiny_run):
    rows = tiny_run[0]["sections"]["models"]
    assert set(MODELS) <= {r["model"].split(" ")[0] for r in rows}
    for r in rows:
        assert r["ratio"] == pytest.approx(r["manual"]["median"] / r["autograd"]["median"])
        assert r["params"] > 0


def test_lightning_rows_compare_with_the_plain_loop(tiny_run):
    rows = {r["loop"]: r for r in tiny_run[0]["sections"]["lightning"]}
    mlp = {"plain", "fit, bare LightningModule", "fit", "fit + tensorboard"}
    assert set(rows) == mlp | {"plain, LeNet", "fit, LeNet"}
    assert rows["plain"]["ratio"] == 1.0 and rows["plain"]["target"] is None
    # LeNet's fit is compared with LeNet's own plain loop, without a target
    lenet_plain, lenet_fit = rows["plain, LeNet"], rows["fit, LeNet"]
    assert lenet_plain["ratio"] == 1.0 and lenet_fit["target"] is None
    assert lenet_fit["ratio"] == pytest.approx(
        lenet_fit["seconds"]["median"] / lenet_plain["seconds"]["median"]
    )
    assert rows["fit, bare LightningModule"]["target"] is None
    assert rows["fit"]["target"] == rows["fit + tensorboard"]["target"] == targets.LIGHTNING
    assert all(r["samples_per_s"] > 0 for r in rows.values())


def test_markdown_has_a_table_per_section_and_the_summary(tiny_run):
    result, markdown, doc = tiny_run
    for title in ("### Machine", "### Ops", "### Models", "### Lightning"):
        assert title in markdown
    assert "### Parallel sweep" not in markdown  # not run
    n_rows = len(result["sections"]["ops"])
    ops_table = markdown.split("### Ops")[1].split("###")[0]
    assert ops_table.count("\n| ") == n_rows + 2  # header, separator, a line per row
    s = result["summary"]
    assert f"Targets: {s['pass']} pass, {s['miss']} miss." in markdown
    # --update replaced only the marked block of the document
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nintro\n") and text.endswith("\n\nnotes\n")
    assert "old" not in text and "### Ops" in text


def test_sweep_times_both_launchers_interleaved(monkeypatch, tmp_path):
    """The sweep section's bookkeeping, with the dlnotes-train commands replaced."""
    calls = []

    def fake(command, timeout=None):
        if command == scale.STARTUP:
            calls.append("startup")
            return 0.5
        out = Path(next(a for a in command if a.startswith("hydra.sweep.dir="))[16:])
        parallel = "hydra/launcher=joblib" in command
        for job in range(4):
            (out / str(job)).mkdir(parents=True)
            record = {"seconds": 1.2 if parallel else 0.7}
            (out / str(job) / "metrics.json").write_text(json.dumps(record))
        calls.append("parallel" if parallel else "sequential")
        return 2.0 if parallel else 3.0

    monkeypatch.setattr(scale, "run_command", fake)
    (row,) = scale.sweep(repeats=2, tiny=True, n_jobs=2)
    assert calls == ["sequential", "parallel", "startup", "startup", "parallel", "sequential"]
    assert row["speedup"] == pytest.approx(1.5) and row["n_jobs"] == 2
    assert row["startup"]["median"] == pytest.approx(0.5)
    assert row["job_fit_sequential"] == pytest.approx(0.7)
    assert row["job_fit_parallel"] == pytest.approx(1.2)
    markdown = report.to_markdown({"machine": {}, "settings": {}, "sections": {"sweep": [row]}})
    assert "sequential s" in markdown and "| 0.7 / 1.2 |" in markdown


def test_ddp_rows_time_two_processes_for_each_loop():
    """Each loop runs once, tiny, in two real gloo processes (its own command)."""
    rows = {r["loop"]: r for r in ddp.run(repeats=1, tiny=True)}
    assert list(rows) == list(ddp.LOOPS)
    assert rows["plain DDP"]["ratio"] == 1.0
    for row in rows.values():
        assert row["processes"] == 2 and row["steps"] == 5 and row["batch"] == 4
        assert row["ms_per_step"] > 0 and row["seconds"]["samples"] == 1
        assert row["target"] is None
    markdown = report.to_markdown(
        {"machine": {}, "settings": {}, "sections": {"ddp": list(rows.values())}}
    )
    assert (
        "### DDP on 2 CPU processes" in markdown and "| fit, bare LightningModule | 2 |" in markdown
    )
    with pytest.raises(ddp.RunFailed, match="exited with 2"):
        ddp._sample("no such loop", tiny=True)


def test_demos_are_the_experiment_configs():
    names = scale.experiments()
    assert "quickstart" in names and "optimizer" in names
    assert "optimizers" not in names  # a folder of parts, not a demo
    command = scale.train_command(["experiment=quickstart"], Path("/tmp/x"))
    assert command[-2:] == ["experiment=quickstart", "hydra.sweep.dir=/tmp/x"]


def test_interleaving_and_summary_statistics():
    order = []
    stats = timing.time_interleaved(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")},
        repeats=3,
        warmup=0,
        min_sample_s=0.0,
    )
    assert order == ["a", "b", "b", "a", "a", "b"]
    assert stats["a"].samples == 3
    s = timing.summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s.median == 3.0 and s.q1 == 2.0 and s.q3 == 4.0


def test_peak_memory_counts_what_a_call_allocates():
    n = 1 << 18  # 1 MiB of float32
    keep = []
    assert timing.peak_memory(lambda: keep.append(torch.ones(n))) >= 4 * n
    # a temporary that is freed before the next one is allocated counts once
    peak = timing.peak_memory(lambda: [torch.ones(n).sum() for _ in range(3)])
    assert 4 * n <= peak < 2 * 4 * n


def test_bad_arguments_exit_with_a_sentence(capsys):
    assert main(["--sections", "opz"]) == 2
    assert "opz is not a section" in capsys.readouterr().err
    assert main(["--repeats", "0"]) == 2
    assert main(["--threads", "0"]) == 2
    assert main(["--demos", "quickstart,nodemo"]) == 2
    assert "nodemo is not a demo" in capsys.readouterr().err
    assert main(["--device", "tpu"]) == 2
    if not torch.cuda.is_available():
        assert main(["--device", "cuda"]) == 2
        assert "none is visible" in capsys.readouterr().err
