"""The RNN demos, reduced, through the real configs: the many-to-one network learns to
read digits row by row (notes 003); the character model's cost falls and its samples
start to spell corpus words; with plain gradient descent at α = 1 the gradient norm
explodes and throws W far away unless it is clipped (notes 001, "Gradient clipping")."""

from __future__ import annotations

import math

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from PIL import Image

from dlnotes.experiments.common import load_run
from dlnotes.experiments.rnn import (
    clipping_trace,
    corpus_words,
    read_text_samples,
    report_clipping,
    report_text,
    sample_body,
    unigram_kl,
    untrained_sample,
    word_hit_rate,
)
from dlnotes.training.run import train
from tests.cli.conftest import compose_config

QUIET = [
    "print_config=false",
    "callbacks.model_checkpoint=null",
    "callbacks.gradient_check=null",
    "callbacks.histograms=null",
    "callbacks.scalar_layout=null",
]


def _train(tmp_path_factory, name: str, overrides: list[str]):
    """Train into a fresh folder with the TensorBoard logger (the demos read their
    curves and samples back from its events); returns the run."""
    run_dir = tmp_path_factory.mktemp(name)
    cfg = compose_config([*overrides, *QUIET], run_dir)
    threads = torch.get_num_threads()
    try:
        train(cfg, run_dir, overrides)
    finally:
        torch.set_num_threads(threads)
        GlobalHydra.instance().clear()
    return load_run(run_dir, cfg)


# ------------------------------------------------------------ many-to-one
def test_many_to_one_rnn_reads_digits_row_by_row(run_experiment):
    result = run_experiment("rnn", "trainer.max_epochs=2")
    assert result.metrics["params"] == 64 * 28 + 64 * 64 + 2 * 64 + 64 * 10 + 10
    first, last = result.first, result.last
    assert first["val_acc"] < 0.2  # chance: 10 digits
    assert last["val_acc"] > 0.5
    assert last["val_loss"] < first["val_loss"] - 1.0


# ------------------------------------------------------------- many-to-many
@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """experiment=rnn-text on a quarter of the windows (stride 40), 3 epochs."""
    overrides = ["experiment=rnn-text", "data.stride=40", "trainer.max_epochs=3"]
    return _train(tmp_path_factory, "text", overrides)


def test_char_model_cost_falls_below_uniform_guessing(text_run):
    first, last = text_run.history[0], text_run.history[-1]
    # an untrained model is near uniform over the 94 characters: log₂ 94 ≈ 6.55 bits
    assert first["val_loss"] / math.log(2) > 6.0
    assert last["val_loss"] / math.log(2) < 5.0


def test_samples_are_read_back_and_take_the_corpus_statistics(text_run):
    samples = read_text_samples(text_run.path)
    assert [step for step, _ in samples] == [r["step"] for r in text_run.history[1:]]
    last = sample_body(samples[-1][1])
    assert len(last) == 300 and not last.startswith(" " * 4)
    corpus = instantiate(text_run.cfg.data).text
    before = untrained_sample(text_run)
    assert len(before) == 300
    # random characters → the corpus' character frequencies (D_KL in bits)
    assert unigram_kl(before, corpus) > 1.5
    assert unigram_kl(last, corpus) < unigram_kl(before, corpus) / 3
    assert word_hit_rate(before, corpus_words(corpus)) < 0.05
    assert word_hit_rate("xqzv blorf the", corpus_words(corpus)) == pytest.approx(1 / 3)


def test_text_report(text_run, tmp_path):
    tables = report_text([text_run], tmp_path)
    assert "Sample after step" in tables and "bits/char" in tables
    assert Image.open(tmp_path / "rnn-text.png").width > 300


# ---------------------------------------------------------- exploding gradients
@pytest.fixture(scope="module")
def clipping_runs(tmp_path_factory):
    """experiment=rnn-clipping at α = 1, 30 steps, without and with clipping."""
    base = ["experiment=rnn-clipping", "trainer.max_steps=30", "callbacks.text_samples=null"]
    return {
        clip: _train(tmp_path_factory, f"clip{clip}", [*base, f"trainer.gradient_clip_val={clip}"])
        for clip in ("null", "1.0")
    }


def test_without_clipping_the_gradient_explodes_and_throws_w_away(clipping_runs):
    trace, clipped = (clipping_trace(clipping_runs[c]) for c in ("null", "1.0"))
    s = trace.summary()
    assert len(trace.steps) == 30 and trace.clip is None
    # which step explodes, and how far, is chaotic (float rounding decides); that it does
    # is not: ‖g‖ leaves its typical size (~0.5), W is thrown far away, the cost rises
    assert s["max_grad"] > 20 * clipped.summary()["median_grad"]
    assert s["over_1"] > 0.5
    assert s["w_end"] > 5 * s["w_start"]
    assert s["final_loss"] > s["first_loss"]  # worse than the untrained network


def test_with_clipping_the_same_run_trains(clipping_runs):
    clipped, unclipped = (clipping_trace(clipping_runs[c]) for c in ("1.0", "null"))
    s, u = clipped.summary(), unclipped.summary()
    assert clipped.clip == 1.0
    # the steps are bounded, α‖g‖ ≤ 1: W moves little and the cost falls
    assert s["w_end"] < 1.5 * s["w_start"]
    assert s["final_loss"] < s["first_loss"] - 0.5
    assert 2 * s["final_loss"] < u["final_loss"]


def test_clipping_report(clipping_runs, tmp_path):
    table = report_clipping(list(clipping_runs.values()), tmp_path)
    lines = table.splitlines()
    assert len(lines) == 4 and "| 1 | none |" in lines[2] and "| 1 | 1 |" in lines[3]
    assert Image.open(tmp_path / "rnn-clipping.png").width > 600
