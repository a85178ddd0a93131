"""Every model × a compatible data set trains a few steps through the real configs."""

import json

import pytest

from dlnotes.training.run import SWITCHED_CALLBACKS, build_trainer, train

FAST = ["trainer.max_epochs=1", "trainer.max_steps=3", "callbacks=none", "~logger"]

MATRIX = {
    "logreg-moons": ["model=logistic_regression", "data=moons", "data.n_samples=120"],
    "logreg-digits-softmax": ["model=logistic_regression", "data=digits"],
    "logreg-breast-cancer": ["model=logistic_regression", "data=breast_cancer"],
    "shallow-circles": ["model=shallow_mlp", "data=circles", "data.n_samples=120"],
    "shallow-blobs": ["model=shallow_mlp", "data=blobs", "data.n_samples=120"],
    "shallow-flower-full-batch": ["model=shallow_mlp", "data=flower", "data.batch_size=full"],
    "deep-xor-bn-dropout": [
        "model=deep_mlp",
        "data=xor",
        "data.n_samples=120",
        "model.batch_norm=true",
        "model.dropout=0.2",
        "model.hidden=[8,8,8]",
    ],
    "deep-spirals-sgd-he": ["model=deep_mlp", "data=spirals", "optimizer=momentum", "init=he"],
    "deep-mnist5k": ["model=deep_mlp", "data=mnist5k", "data.train_size=64"],
    "deep-parity": ["model=deep_mlp", "data=parity", "data.n_samples=64"],
    "lenet-mnist5k-avg": ["model=lenet", "data=mnist5k", "data.train_size=32", "model.pool=avg"],
    "rnn-parity": ["model=elman_rnn", "data=parity", "data.n_samples=64"],
    "rnn-adding": ["model=elman_rnn", "data=adding", "data.n_samples=64", "data.seq_len=10"],
    "rnn-seq-mnist": ["model=elman_rnn", "data=seq_mnist", "data.train_size=32"],
    "rnn-text": ["model=elman_rnn", "data=text", "data.seq_len=20", "model.hidden_size=16"],
    "autograd-backward-rmsprop-cosine": [
        "model=deep_mlp",
        "data=moons",
        "model.backward=autograd",
        "optimizer=rmsprop",
        "scheduler=cosine",
    ],
    "adagrad-plateau": ["data=moons", "optimizer=adagrad", "scheduler=plateau"],
    "nesterov-step-xavier": ["optimizer=nesterov", "scheduler=step", "init=xavier"],
    "adamw-clip-lecun": ["optimizer=adamw", "trainer.gradient_clip_val=1.0", "init=lecun"],
}


@pytest.mark.parametrize("case", MATRIX)
def test_model_and_data_train_a_few_steps(case, run_config, tmp_path):
    cfg = run_config(*MATRIX[case], *FAST)
    result = train(cfg, tmp_path, MATRIX[case])
    assert result["steps"] == 3 or result["epochs"] >= 1
    assert result["diverged"] is False
    assert result["train_loss"] is not None and result["val_loss"] is not None
    assert result["test_loss"] is not None
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["params"] == result["params"] > 0


@pytest.mark.parametrize("switch", SWITCHED_CALLBACKS)
def test_a_trainer_switch_takes_our_callback_of_its_kind_out(switch, run_config, tmp_path):
    """trainer.enable_checkpointing=false (…_progress_bar, …_model_summary) does what it
    says: Lightning would refuse the default callbacks' checkpoint (bar, summary)."""
    kind = SWITCHED_CALLBACKS[switch]
    assert any(isinstance(c, kind) for c in build_trainer(run_config()).callbacks)
    overrides = [f"++trainer.{switch}=false", "trainer.max_steps=2", "print_config=false"]
    cfg = run_config(*overrides)
    assert not any(isinstance(c, kind) for c in build_trainer(cfg).callbacks)
    result = train(cfg, tmp_path, overrides)
    assert result["status"] == "ok" and result["steps"] == 2
    assert (tmp_path / "checkpoints").exists() == (switch != "enable_checkpointing")
