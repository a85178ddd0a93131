"""The documentation runs: every ``dlnotes-train`` command written in the READMEs and in
the configs' comments composes into jobs that pass the app's checks and build (data,
model, task, optimizer, trainer), and the README's Python example runs as printed."""

from __future__ import annotations

import importlib.util
import math
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser

from dlnotes.cli import bench, report
from dlnotes.cli.train import null_groups
from dlnotes.training.distributed import check_ddp_launch
from dlnotes.training.run import build_checked
from dlnotes.training.validate import check_config
from tests.cli.conftest import compose_config
from tests.data.test_data_images import write_mnist

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = [
    ROOT / "README.md",
    *sorted((ROOT / "experiments").rglob("README.md")),
    ROOT / "BENCHMARKS.md",
]
CONFIGS = sorted((ROOT / "src" / "dlnotes" / "conf").rglob("*.yaml"))


def _joined(lines: list[str]) -> Iterator[str]:
    """Shell lines with their backslash continuations joined."""
    command = ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            command += line.rstrip()[:-1] + " "
        else:
            yield command + line
            command = ""


def _markdown_commands(text: str) -> Iterator[str]:
    """Commands of the fenced shell blocks and of the inline code spans."""
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S):
        yield from _joined(block.splitlines())
    for span in re.findall(r"`(dlnotes-[a-z]+ [^`]*)`", text):
        yield " ".join(span.split())  # a span may wrap onto the next line


def _config_commands(text: str) -> Iterator[str]:
    """Commands in a YAML file's comments (``#   dlnotes-train …``)."""
    comments = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    yield from _joined(comments)


def documented_commands(program: str, placeholders: bool = False) -> dict[str, list[str]]:
    """``file:n`` → the arguments of the n-th complete ``program`` command of a file (a
    command written in several places is checked once, where it is first found).
    ``placeholders``: keep commands with ``<…>`` parts (paths, which a parser takes as
    they are)."""
    found: dict[str, list[str]] = {}
    for path in [*MARKDOWN, *CONFIGS]:
        text = path.read_text()
        lines = _markdown_commands(text) if path.suffix == ".md" else _config_commands(text)
        commands = [c.strip() for c in lines if c.strip().startswith(f"{program} ")]
        for n, command in enumerate(commands, 1):
            args = shlex.split(command, comments=True)[1:]
            skip = any("…" in a or ("<" in a and not placeholders) for a in args)
            if not skip and args not in found.values():
                found[f"{path.relative_to(ROOT)}:{n}"] = args
    return found


COMMANDS = documented_commands("dlnotes-train")


def sweep_jobs(args: list[str]) -> tuple[list[list[str]], bool]:
    """The overrides of each job the command starts, as Hydra's basic sweeper expands them
    (the experiment's ``hydra.sweeper.params`` first, the command line after), and whether
    it is a sweep."""
    multirun = bool({"-m", "--multirun"} & set(args))
    overrides = null_groups([a for a in args if a not in ("-m", "--multirun")])
    if not multirun:
        return [overrides], False
    parsed = OverridesParser.create().parse_overrides(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    params = compose_config(fixed, Path()).hydra.sweeper.params or {}
    lines = [f"{key}={value}" for key, value in params.items()] + overrides
    batches = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(lines), None)
    return [list(job) for batch in batches for job in batch], True


def covering(jobs: list[list[str]]) -> list[list[str]]:
    """The jobs, in order, that each bring an override no earlier one had: every value of
    every swept key is checked once (an 18-job sweep of 3 × 2 × 3 values in 5 jobs)."""
    seen: set[str] = set()
    kept = []
    for job in jobs:
        if not seen.issuperset(job):
            kept.append(job)
            seen.update(job)
    return kept


def test_the_documentation_has_commands_to_check():
    files = {key.rpartition(":")[0] for key in COMMANDS}
    assert "README.md" in files
    assert len([f for f in files if f.startswith("experiments/")]) >= 10
    assert any(f.endswith("slurm.yaml") for f in files)


@pytest.mark.parametrize("where", COMMANDS)
def test_documented_command_composes_checks_and_builds(where, tmp_path, monkeypatch):
    write_mnist(tmp_path / "data", "MNIST")  # data=mnist reads files in MNIST's format
    monkeypatch.setenv("DLNOTES_DATA", str(tmp_path / "data"))
    for variable in os.environ:  # this machine's own runner, if any, stays out
        if variable.startswith(("SLURM_", "TORCHELASTIC_")):
            monkeypatch.delenv(variable)
    jobs, multirun = sweep_jobs(COMMANDS[where])
    assert jobs
    try:
        for overrides in covering(jobs):
            cfg = compose_config(overrides, tmp_path)
            choices = dict(cfg.hydra.runtime.choices)
            check_config(cfg, choices, overrides)
            if choices.get("hydra/launcher") == "slurm":  # rank 0 of a job as srun starts it
                tasks = str(cfg.hydra.launcher.tasks_per_node)
                slurm = {"NTASKS": tasks, "NTASKS_PER_NODE": tasks, "JOB_NAME": "dlnotes"}
                slurm |= {"PROCID": "0", "LOCALID": "0", "NODEID": "0", "NODELIST": "node1"}
                for name, value in slurm.items():
                    monkeypatch.setenv(f"SLURM_{name}", value)
            check_ddp_launch(cfg, multirun)
            build_checked(cfg, tmp_path, choices)
    finally:
        GlobalHydra.instance().clear()


OTHER_COMMANDS = {
    f"{program} {where}": (program, args)
    for program in ("dlnotes-bench", "dlnotes-report")
    for where, args in documented_commands(program, placeholders=True).items()
}


@pytest.mark.parametrize("which", OTHER_COMMANDS)
def test_documented_bench_and_report_commands_parse(which):
    program, args = OTHER_COMMANDS[which]
    if program == "dlnotes-bench":
        parsed = bench.build_parser().parse_args(args)
        assert bench._sections(parsed)
        bench._check_demos(parsed.demos)
    else:
        assert report.build_parser().parse_args(args).folder


def test_bench_and_report_commands_are_documented():
    programs = [program for program, _ in OTHER_COMMANDS.values()]
    assert programs.count("dlnotes-bench") >= 3 and programs.count("dlnotes-report") >= 3


def documented_modules() -> dict[str, str]:
    """``file:n`` → the module of the n-th ``python -m <module>`` of a file."""
    found: dict[str, str] = {}
    for path in [*MARKDOWN, *CONFIGS]:
        modules = re.findall(r"python -m ([\w.]+)", path.read_text())
        found |= {f"{path.relative_to(ROOT)}:{n}": m for n, m in enumerate(modules, 1)}
    return found


def test_documented_python_modules_run_as_scripts():
    modules = documented_modules()
    assert "dlnotes" in modules.values() and "dlnotes.bench" in modules.values()
    for where, name in modules.items():
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, f"{where}: no module {name}"
        if spec.submodule_search_locations:  # a package runs its __main__
            assert importlib.util.find_spec(f"{name}.__main__"), f"{where}: {name} has no __main__"
        else:
            source = Path(spec.origin).read_text()
            assert 'if __name__ == "__main__"' in source, f"{where}: {name} does nothing when run"


def readme_example() -> str:
    """The Python block under "Using the library" in README.md."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Using the library\n+```python\n(.*?)```", text, re.S)
    assert block, "README.md has no Python example under 'Using the library'"
    return block.group(1)


def test_readme_python_example_runs_and_its_numbers_hold():
    namespace: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    # the comment beside it: KL(p ‖ q) = 1.927 bits
    kl = namespace["information"].kl_divergence([0.1, 0.4, 0.5], [0.8, 0.15, 0.05], base=2)
    assert math.isclose(float(kl), 1.927, abs_tol=5e-4)
    assert namespace["net"].backward == "autograd"
    assert all(p.grad is not None for p in namespace["net"].parameters())


def test_readme_python_example_is_ruff_clean():
    ruff = Path(sys.executable).with_name("ruff")
    args = [str(ruff), "check", "--stdin-filename", "README_example.py", "-"]
    result = subprocess.run(args, input=readme_example(), capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
