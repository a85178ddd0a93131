"""A catalogue of bad inputs: each ends in one sentence naming the key, the value and what
is allowed (or the closest valid key / the data that fits), before anything is trained or
written. Most cases run in process on the composed config; a handful through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from dlnotes.cli.train import _hydra_message, null_groups
from dlnotes.training.run import train
from dlnotes.training.validate import ConfigError, problems, value_problems
from tests.cli.conftest import compose_config, run_cli

FAST = ["trainer.max_epochs=1", "callbacks=none", "print_config=false"]


def corrupt_mnist(root: Path) -> Path:
    """A data.root whose MNIST/raw files exist but hold garbage."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):  # fmt: skip
        (raw / name).write_bytes(b"not an idx file")
    return root


def files(tmp: Path) -> dict[str, str]:
    """Files the cases point at: {missing}, {empty}, {binary}, {corrupt}."""
    (tmp / "empty.txt").write_text("")
    (tmp / "binary.txt").write_bytes(b"\xff\xfe\x00\x81" * 64)
    return {
        "missing": str(tmp / "no-such-file.txt"),
        "empty": str(tmp / "empty.txt"),
        "binary": str(tmp / "binary.txt"),
        "nodir": str(tmp / "no-such-folder"),
        "corrupt": str(corrupt_mnist(tmp / "corrupt")),
    }


# overrides → fragments the one-sentence message must contain ({name}: a path of files())
CASES: dict[str, tuple[list[str], list[str]]] = {
    # unknown group options and keys: the valid choices, the closest key
    "group-option": (["model=lenett"], ["model=lenett is not an option of model",
                                        "did you mean lenet?", "shallow_mlp"]),
    "experiment-option": (["experiment=planr"], ["did you mean planar?"]),
    "key-typo": (["optimizer.lrr=0.1"], ["optimizer.lrr", "did you mean optimizer.lr?"]),
    "key-typo-added": (["+optimizer.lrr=0.1"], ["optimizer.lrr is not a setting of optimizer=adam",
                                                 "did you mean optimizer.lr?"]),
    "key-needs-plus": (["optimizer.eps=1e-7"], ["add it with +optimizer.eps=1e-7"]),
    # the logger's **kwargs go to its SummaryWriter: named before the run, not at its end
    "forwarded-key-typo": (["+logger.flush_sec=3"],
                           ["logger.flush_sec is not a setting of logger=tensorboard",
                            "did you mean logger.flush_secs?"]),
    "forwarded-key-needs-plus": (["logger.flush_secs=30"], ["add it with +logger.flush_secs=30"]),
    "data-key-typo": (["data=moons", "data.nois=0.3"], ["did you mean data.noise?"]),
    "root-key-typo": (["sed=3"], ["did you mean seed?"]),
    "root-key-typo-added": (["+sed=3"], ["sed is not a key", "did you mean seed?"]),
    "plus-on-a-present-key": (["+trainer.max_steps=5"],
                              ["+trainer.max_steps adds a key", "trainer.max_steps=<value>"]),
    "filled-by-data": (["+model.in_features=3"], ["model.in_features is set by dlnotes-train",
                                                  "DataSpec"]),
    "unquoted-equals": (["hydra.run.dir=outputs/runs/x_data=moons,seed=1"],
                        ["The override hydra.run.dir=outputs/runs/x_data=moons,seed=1 could not "
                         "be parsed", "\"key='value'\""]),
    "parse-error": (["model.hidden=[0"], ["could not be parsed", "'[0'"]),
    # types and ranges: the key, the value, the allowed range
    "lr-negative": (["optimizer.lr=-1"], ["optimizer.lr=-1 is out of range", "> 0"]),
    "lr-text": (["optimizer.lr=fast"], ["optimizer.lr=fast has the wrong type", "a number"]),
    "dropout": (["model=deep_mlp", "model.dropout=1.5"], ["model.dropout=1.5", "[0, 1)"]),
    "hidden-zero": (["model=deep_mlp", "model.hidden=[0]"], ["model.hidden=[0]",
                                                             "an integer >= 1"]),
    "betas-length": (["optimizer.betas=[0.9]"], ["optimizer.betas=[0.9] has 1 entry",
                                                 "a list of 2", "β1, β2"]),
    "channels-length": (["model=lenet", "data=mnist5k", "model.channels=[6,16,32]"],
                        ["model.channels=[6,16,32] has 3 entries", "a list of 2"]),
    "hidden-size": (["model=elman_rnn", "data=parity", "model.hidden_size=0"],
                    ["model.hidden_size=0", ">= 1"]),
    "batch-size-zero": (["data.batch_size=0"], ["data.batch_size=0", ">= 1, or full"]),
    "batch-size-text": (["data.batch_size=half"], ["data.batch_size=half", "wrong type"]),
    "max-epochs": (["trainer.max_epochs=-3"], ["trainer.max_epochs=-3", ">= -1"]),
    "max-epochs-float": (["trainer.max_epochs=2.5"], ["trainer.max_epochs=2.5", "an integer"]),
    "activation": (["model.activation=rellu"], ["model.activation=rellu", "did you mean relu?"]),
    "rnn-activation": (["model=elman_rnn", "data=parity", "model.activation=sigmoid"],
                       ["model.activation=sigmoid is not one of tanh, relu"]),
    "batch-norm": (["model=deep_mlp", "model.batch_norm=yes"], ["model.batch_norm=yes",
                                                                "true or false"]),
    "init-std": (["init=normal", "init.std=0"], ["init.std=0", "> 0"]),
    "label-noise": (["data=moons", "data.label_noise=2"], ["data.label_noise=2", "[0, 1]"]),
    "val-fraction": (["data=moons", "data.val_fraction=1"], ["data.val_fraction=1", "[0, 1)"]),
    "seed": (["seed=-1"], ["seed=-1", "[0, 4294967295]"]),
    "on-error": (["on_error=ignore"], ["on_error=ignore is not one of continue, raise"]),
    "scheduler": (["scheduler=step", "scheduler.gamma=-0.5"], ["scheduler.gamma=-0.5", "> 0"]),
    "accelerator": (["trainer.accelerator=quantum"], ["trainer", "quantum"]),
    "plateau-no-validation": (["scheduler=plateau", "data.val_fraction=0"],
                              ["scheduler=plateau watches scheduler.monitor=val/loss",
                               "data.val_fraction=0 leaves no validation samples",
                               "scheduler.monitor=train/loss"]),
    "early-stopping-no-validation": (["experiment=fitting-remedies",
                                      "experiment/fitting-remedies=early_stopping",
                                      "++trainer.limit_val_batches=0"],
                                     ["callbacks.early_stopping watches "
                                      "callbacks.early_stopping.monitor=val/loss",
                                      "trainer.limit_val_batches=0 switches it off",
                                      "callbacks.early_stopping=null"]),
    "plateau-step": (["scheduler=plateau", "scheduler.interval=step"],
                     ["scheduler.interval=step does not fit scheduler=plateau",
                      "use scheduler.interval=epoch"]),
    "plateau-monitor": (["scheduler=plateau", "scheduler.monitor=val_loss"],
                        ["scheduler.monitor=val_loss is not a metric", "did you mean val/loss?"]),
    "plateau-regression-acc": (["model=elman_rnn", "data=adding", "scheduler=plateau",
                                "scheduler.monitor=val/acc"],
                               ["scheduler.monitor=val/acc", "a regression run logs no accuracy",
                                "train/loss, val/loss"]),
    "ddp-spawn": (["+trainer.strategy=ddp_spawn", "trainer.devices=2"],
                  ["trainer.strategy=ddp_spawn runs the fit in spawned processes",
                   "use trainer=ddp_cpu"]),
    "barebones": (["+trainer.barebones=true"], ["trainer.barebones=true cannot be used",
                                                "logger=null callbacks=none"]),
    "train-size": (["data=moons", "data.train_size=1000000"],
                   ["data.train_size=1000000", "exceeds the 180 training samples"]),
    # a model that cannot take the data: which data fits
    "lenet-moons": (["model=lenet", "data=moons"],
                    ["model=lenet cannot take data=moons", "tabular data, 2 features",
                     "data that fits model=lenet: mnist5k, mnist, fashion_mnist, cifar10"]),
    "rnn-tabular": (["model=elman_rnn", "data=breast_cancer"],
                    ["model=elman_rnn cannot take data=breast_cancer",
                     "parity, adding, seq_mnist, text"]),
    "mlp-text": (["model=shallow_mlp", "data=text"],
                 ["model=shallow_mlp cannot take data=text", "moons"]),
    "bce-multiclass": (["model=deep_mlp", "data=digits", "model.loss=bce"],
                       ["cannot take data=digits with these settings", "one output unit", "moons"]),
    "softmax-binary": (["model=logistic_regression", "data=moons", "model.activation=softmax"],
                       ["cannot take data=moons with these settings",
                        "loss 'ce' needs an output unit per class", "sigmoid and bce", "digits"]),
    "batch-norm-batch-of-one": (["model=deep_mlp", "model.batch_norm=true", "data.batch_size=1"],
                                ["model.batch_norm=true needs 2 or more samples",
                                 "data.batch_size=1", "data.batch_size=2 or more"]),
    "batch-norm-last-batch-of-one": (["model=deep_mlp", "model.batch_norm=true", "data=moons",
                                      "data.batch_size=179"],
                                     ["data.batch_size=179 leaves a last batch of 1 of the 180",
                                      "e.g. data.batch_size=178"]),
    # files: the path and the fix
    "text-missing": (["model=elman_rnn", "data=text", "data.path={missing}"],
                     ["data.path={missing} does not exist", "built-in corpus"]),
    "text-empty": (["model=elman_rnn", "data=text", "data.path={empty}"],
                   ["data.path={empty} is empty"]),
    "text-binary": (["model=elman_rnn", "data=text", "data.path={binary}"],
                    ["data.path={binary} could not be read as UTF-8 text"]),
    "root-missing": (["model=lenet", "data=mnist", "data.root={nodir}"],
                     ["data.root={nodir} does not exist", "data.download=true"]),
    "mnist-corrupt": (["model=lenet", "data=mnist", "data.root={corrupt}"],
                      ["not found (or is corrupted)", "{corrupt}/MNIST/raw",
                       "data.download=true"]),
    "ckpt-missing": (["ckpt_path={missing}"], ["ckpt_path={missing} does not exist",
                                               "resume=true hydra.run.dir="]),
    "ckpt-not-torch": (["ckpt_path={binary}"], ["ckpt_path={binary} could not be read as a "
                                                 "checkpoint", "not a PyTorch file"]),
    "resume-nothing": (["resume=true"], ["resume=true found no checkpoint",
                                         "hydra.run.dir=<run folder>"]),
}  # fmt: skip


def message_of(overrides: list[str], run_dir: Path) -> str:
    """The one sentence a user gets for ``overrides``, from composition or from train()."""
    try:
        cfg = compose_config([*FAST, *overrides], run_dir)
    except Exception as err:  # Hydra's composition errors
        message = _hydra_message(err)
        assert message is not None, f"no sentence for {type(err).__name__}: {err}"
        return message
    try:
        with pytest.raises(ConfigError) as info:
            train(cfg, run_dir, overrides, dict(cfg.hydra.runtime.choices))
    finally:
        GlobalHydra.instance().clear()
    return str(info.value)


def assert_nothing_written(run_dir: Path) -> None:
    if not run_dir.exists():
        return
    assert not (run_dir / "metrics.json").exists()
    assert not (run_dir / "checkpoints").exists()
    assert not list(run_dir.rglob("*tfevents*"))


def assert_one_sentence(message: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith((".", "?", ")"))


def test_the_catalogue_has_at_least_25_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_sentence_and_writes_nothing(case, tmp_path):
    paths = files(tmp_path)
    overrides, fragments = CASES[case]
    run_dir = tmp_path / "run"
    message = message_of([o.format(**paths) for o in overrides], run_dir)
    assert_one_sentence(message)
    for fragment in fragments:
        assert fragment.format(**paths) in message, message
    assert_nothing_written(run_dir)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_accelerator_without_a_gpu_names_the_key_and_auto(tmp_path):
    message = message_of(["trainer.accelerator=gpu"], tmp_path / "run")
    assert "trainer.accelerator=gpu finds no GPU" in message
    assert "trainer.accelerator=auto" in message
    assert_nothing_written(tmp_path / "run")


def test_resume_without_last_ckpt_points_to_the_checkpoints_there(tmp_path):
    """callbacks=none: Lightning's own checkpoint (epoch=…-step=….ckpt), no last.ckpt."""
    other = tmp_path / "run" / "checkpoints" / "epoch=1-step=6.ckpt"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"")
    message = message_of(["resume=true"], tmp_path / "run")
    assert "resume=true found no checkpoint" in message
    # quoted for Hydra (the = of the name) and for the shell: ready to paste
    assert f"\"ckpt_path='{other}'\"" in message


def test_a_checkpoint_of_another_model_names_its_differences(tmp_path):
    """A checkpoint of the default shallow MLP with 4 hidden units, into 9 of them."""
    ckpt = tmp_path / "other.ckpt"
    first = compose_config([*FAST, "trainer.max_steps=1"], tmp_path / "first")
    try:
        train(first, tmp_path / "first", [])
    finally:
        GlobalHydra.instance().clear()
    (written,) = (tmp_path / "first" / "checkpoints").glob("*.ckpt")  # Lightning's own
    ckpt.write_bytes(written.read_bytes())
    message = message_of(["model.hidden=9", f"ckpt_path={ckpt}"], tmp_path / "run")
    assert f"ckpt_path={ckpt} holds the weights of another model" in message
    assert "is 4×2 there, 9×2 here" in message
    assert_nothing_written(tmp_path / "run")


def test_a_key_the_logger_passes_on_to_its_summary_writer_is_accepted(tmp_path):
    cfg = compose_config([*FAST, "+logger.flush_secs=30"], tmp_path / "run")
    try:
        args, choices = ["+logger.flush_secs=30"], dict(cfg.hydra.runtime.choices)
        assert value_problems(cfg, args, choices) == problems(cfg, choices, args) == []
        logger = instantiate(cfg.logger)
        assert logger.experiment.flush_secs == 30  # the SummaryWriter got it
    finally:
        GlobalHydra.instance().clear()


def test_corrupt_mnist_is_not_a_missing_root(tmp_path):
    # the folder exists: the message is about its files, not about the folder
    paths = files(tmp_path)
    message = message_of(["model=lenet", "data=mnist", f"data.root={paths['corrupt']}"], tmp_path)
    assert "does not exist" not in message


CLI_CASES = ["group-option", "key-typo", "lr-negative", "lenet-moons", "text-missing"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_exits_2_with_the_sentence_and_no_traceback(case, tmp_path):
    paths = files(tmp_path)
    overrides, fragments = CASES[case]
    # print_config=true (the default) prints nothing for a config that fails its checks
    proc = run_cli(FAST[:-1] + [o.format(**paths) for o in overrides], tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("dlnotes-train: ")
    if case in ("group-option", "key-typo", "lr-negative"):  # found before the config prints
        assert proc.stderr.strip() == last and proc.stdout == ""
    for fragment in fragments:
        assert fragment.format(**paths) in last
    for run_dir in (tmp_path / "outputs").glob("runs/*/*"):
        assert_nothing_written(run_dir)


def test_hydra_full_error_shows_the_traceback(tmp_path):
    proc = run_cli(["optimizer.lr=-1", *FAST], tmp_path, HYDRA_FULL_ERROR="1")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "ConfigError" in proc.stderr


def test_null_removes_an_optional_group_and_names_the_options_of_a_needed_one():
    args = ["experiment=null", "scheduler=null", "logger=null", "callbacks=none"]
    assert null_groups(args) == ["~experiment", "~scheduler", "~logger", "callbacks=none"]
    # keys and Hydra's own groups are not config groups of dlnotes
    kept = ["model.hidden=null", "hydra/launcher=null", "threads=null", "-m"]
    assert null_groups(kept) == kept
    with pytest.raises(ConfigError, match="model=null: every run needs a model; pick one of "):
        null_groups(["model=null"])


LOADS_NOTHING_HEAVY = """
import sys
from dlnotes.cli.train import main
sys.argv = ["dlnotes-train", *sys.argv[1:]]
try:
    main()
except SystemExit as stop:
    print(stop.code, sorted(m for m in ("torch", "lightning") if m in sys.modules))
"""


@pytest.mark.parametrize(
    "args",
    [["model=lenett"], ["model=null"], ["model.hidden=[4"], ["optimizer.lr=-1"],
     ["model.activation=rellu"], ["model=deep_mlp", "model.dropout=1.5"],
     ["data.batch_sise=3"], ["trainer.max_epoch=3"], ["+data.foo=1"],
     ["+trainer.barebones=true"], ["+optimizer.lrr=0.1"], ["+callbacks.divergence.foo=1"]],
)  # fmt: skip
def test_a_typo_or_a_value_out_of_range_is_answered_before_torch_loads(args, tmp_path):
    # a typo in a group option, an override or a key (read from the target's source), a
    # value out of range or not among the choices: the most common mistakes get their
    # sentence before the seconds PyTorch and Lightning take to import
    proc = subprocess.run([sys.executable, "-c", LOADS_NOTHING_HEAVY, *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.stdout.split("\n")[0] == "2 []", proc.stdout + proc.stderr[-2000:]
    assert proc.stderr.startswith("dlnotes-train: ")


def test_cli_runs_without_experiment_and_logger(tmp_path):
    # the default callbacks include a learning-rate monitor, which has no logger to use
    args = ["experiment=null", "logger=null", "trainer=fast", "print_config=false"]
    proc = run_cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (metrics,) = (tmp_path / "outputs").glob("runs/*/*/metrics.json")
    assert not list(metrics.parent.glob("events.out.tfevents.*"))  # no TensorBoard files
    proc = run_cli(["model=null", *FAST], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("dlnotes-train: model=null:")


def test_the_early_value_check_says_what_the_full_check_says(tmp_path):
    """dlnotes-train checks ranges and choices before it imports PyTorch (value_problems),
    then everything (problems): for every case of the catalogue, the early check finds
    nothing, or the first problem the full check finds."""
    paths = files(tmp_path)
    early_cases = []
    for case, (overrides, _) in CASES.items():
        args = [*FAST, *(o.format(**paths) for o in overrides)]
        try:
            cfg = compose_config(args, tmp_path / "run")
        except Exception:  # a composition error: answered before either check
            continue
        try:
            choices = dict(cfg.hydra.runtime.choices)
            early = value_problems(cfg, args, choices)
            if early:
                early_cases.append(case)
                assert early[0] == problems(cfg, choices, args)[0], case
        finally:
            GlobalHydra.instance().clear()
    assert {"lr-negative", "dropout", "seed", "activation", "rnn-activation"} <= set(early_cases)
    # a key that an override adds is checked against its target's source too
    assert {"barebones", "key-typo-added", "filled-by-data"} <= set(early_cases)
