"""The RNN demos — notes 003, "Recurrent Neural Network (RNN)", and notes 001, "Solving
gradient problem → … Gradient clipping".

The Elman network of the notes, a(t) = b + W h(t−1) + U x(t), h(t) = tanh(a(t)),
o(t) = c + V h(t), in its two shapes and with its best-known failure:

- ``experiment=rnn``: many-to-one, "read an entire sequence and then produce a single
  output" — a digit read row by row (sequential MNIST), classified from h(T).
- ``experiment=rnn-text``: many-to-many, "an output at each time step" — a character
  model; the text it samples after every epoch (TensorBoard's Text tab) is read back
  here and scored: D_KL of its character frequencies from the corpus', and the share of
  its words that occur in the corpus.
- ``experiment=rnn-clipping``: back-propagation through time multiplies the gradient
  by Wᵀ diag(1 − h(t)²) once per time step, so ‖∂J/∂W‖ can jump by orders of magnitude
  in one step; plain gradient descent then throws the weights far away. The total
  gradient norm ‖g‖ = √(Σ_params ‖∂J/∂θ‖²) is rebuilt from the ``grad_norm/<param>``
  scalars of :class:`~dlnotes.training.callbacks.ParameterNorms` (logged before
  Lightning clips), next to ``weight_norm/rnn.weight_hh`` = ‖W‖_F and the loss per step.

``dlnotes-report <sweep or run>`` adds each demo's table and figure to its report.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hydra.utils import instantiate

from dlnotes.experiments.common import Run, fmt, markdown_table, pct, read_scalars, save_png
from dlnotes.training import plots

SAMPLES_TAG = "samples/text_summary"
"""Where TensorBoard stores the text of ``add_text("samples", …)`` (TextSamples)."""
W_TAG = "weight_norm/rnn.weight_hh"
LOSS_TAG = "train/loss_step"
_WORD = re.compile(r"[A-Za-z]{3,}")


# -------------------------------------------------------------------- reading runs
def _label(run: Run) -> str:
    return str(run.get("model.activation", "?"))


def read_text_samples(run_dir: str | Path, tag: str = SAMPLES_TAG) -> list[tuple[int, str]]:
    """The text summaries of a run's TensorBoard events: ``[(step, text), …]`` in step
    order. For TextSamples' entries the text is the header line, a blank line and the
    sample indented by four spaces (see :func:`sample_body`)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    acc.Reload()
    if tag not in acc.Tags().get("tensors", []):
        return []
    events = sorted(acc.Tensors(tag), key=lambda e: e.step)
    return [(e.step, e.tensor_proto.string_val[0].decode("utf-8")) for e in events]


def sample_body(entry: str) -> str:
    """The sampled characters of a TextSamples entry (header and indentation removed)."""
    _, _, block = entry.partition("\n\n")
    return "\n".join(line[4:] if line.startswith("    ") else line for line in block.split("\n"))


def word_hit_rate(sample: str, vocabulary: set[str]) -> float:
    """Share of the sample's words (runs of three letters or more, case kept) that occur
    in ``vocabulary`` — near 0 for random characters, → 1 as the model learns to spell."""
    words = _WORD.findall(sample)
    return sum(w in vocabulary for w in words) / len(words) if words else 0.0


def unigram_kl(sample: str, corpus: str) -> float:
    """D_KL(P ‖ Q) in bits between the character frequencies P of ``sample`` and Q of
    ``corpus`` (notes 003's KL divergence): how far the sample is from merely using the
    corpus' characters as often as the corpus does. Every character of the sample must
    occur in the corpus (true of a model trained on it)."""
    P, Q = Counter(sample), Counter(corpus)
    m, n = len(sample), len(corpus)
    # D_KL(P ‖ Q) = Σ_c P(c) log₂ (P(c) / Q(c))
    return sum(k / m * math.log2((k / m) / (Q[c] / n)) for c, k in P.items())


def corpus_words(text: str) -> set[str]:
    """The words (runs of three letters or more) of a text."""
    return set(_WORD.findall(text))


def total_grad_norm(scalars: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Steps (n,) and ‖g‖ = √(Σ_params ‖∂J/∂θ‖²) (n,) at the steps where every
    ``grad_norm/<param>`` was logged. A non-finite norm is not logged by ParameterNorms,
    so a step where the gradient overflowed is missing here."""
    series = [s for tag, s in scalars.items() if tag.startswith("grad_norm/") and len(s)]
    if not series:
        return np.zeros(0), np.zeros(0)
    steps = sorted(set.intersection(*(set(s[:, 0].tolist()) for s in series)))
    squares = np.zeros(len(steps))
    for s in series:
        value = dict(zip(s[:, 0].tolist(), s[:, 1].tolist()))
        squares += np.array([value[step] ** 2 for step in steps])
    return np.array(steps), np.sqrt(squares)


@dataclass
class ClippingTrace:
    """One rnn-clipping run, step by step: the loss of each batch, ‖g‖ before clipping,
    ‖W‖_F of the recurrent matrix."""

    alpha: float
    clip: float | None
    steps: np.ndarray
    grad_norm: np.ndarray
    loss_steps: np.ndarray
    loss: np.ndarray
    w_steps: np.ndarray
    w_norm: np.ndarray

    @property
    def label(self) -> str:
        clipping = f"clip ‖g‖ ≤ {self.clip:g}" if self.clip else "no clipping"
        return f"α = {self.alpha:g}, {clipping}"

    def summary(self) -> dict[str, float]:
        """max and median ‖g‖, the share of steps with ‖g‖ > 1 (where a clip at 1 acts),
        the first, peak and final loss (mean of the last 10 % of steps), ‖W‖_F at start
        and end."""
        g = self.grad_norm
        tail = self.loss[-max(1, len(self.loss) // 10) :]
        return {
            "max_grad": float(g.max()) if len(g) else math.nan,
            "median_grad": float(np.median(g)) if len(g) else math.nan,
            "over_1": float(np.mean(g > 1)) if len(g) else math.nan,
            "first_loss": float(self.loss[0]) if len(self.loss) else math.nan,
            "max_loss": float(np.nanmax(self.loss)) if len(self.loss) else math.nan,
            "final_loss": float(np.mean(tail)) if len(tail) else math.nan,
            "w_start": float(self.w_norm[0]) if len(self.w_norm) else math.nan,
            "w_end": float(self.w_norm[-1]) if len(self.w_norm) else math.nan,
        }


def clipping_trace(run: Run) -> ClippingTrace:
    """The per-step curves of one run, read from its TensorBoard events."""
    scalars = read_scalars(run.path)
    steps, g = total_grad_norm(scalars)
    loss = scalars.get(LOSS_TAG, np.zeros((0, 2)))
    W = scalars.get(W_TAG, np.zeros((0, 2)))
    clip = run.get("trainer.gradient_clip_val")
    return ClippingTrace(
        alpha=float(run.get("optimizer.lr")),
        clip=float(clip) if clip else None,
        steps=steps,
        grad_norm=g,
        loss_steps=loss[:, 0],
        loss=loss[:, 1],
        w_steps=W[:, 0],
        w_norm=W[:, 1],
    )


# ------------------------------------------------------------ rnn: many-to-one
def report(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    """experiment=rnn: accuracy of each recurrence, the curves per epoch."""
    runs = [*runs, *(reference or [])]
    rows = [
        [
            _label(run),
            run.get("model.hidden_size"),
            run.metrics.get("params"),
            pct(run.metrics.get("train_acc")),
            pct(run.metrics.get("val_acc")),
            pct(run.metrics.get("test_acc")),
            fmt(run.metrics.get("test_loss")),
            run.metrics.get("epochs"),
            f"{run.metrics.get('seconds', 0):.0f} s",
        ]
        for run in runs
    ]
    headers = ["recurrence", "hidden units", "parameters", "train acc", "val acc",
               "test acc", "test cost", "epochs", "fit time"]  # fmt: skip
    fig = plots.new_figure((9.0, 3.2), dpi=90)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, run in enumerate(runs):
        color = f"C{i}"
        for split, style in (("train", "--"), ("val", "-")):
            kw = {"color": color, "ls": style, "lw": 1.2, "label": f"{_label(run)} {split}"}
            ax_loss.plot(*run.curve(f"{split}_loss"), **kw)
            ax_acc.plot(*run.curve(f"{split}_acc"), **kw)
    ax_loss.set_ylabel("cross-entropy J")
    ax_acc.set_ylabel("accuracy")
    ax_acc.axhline(0.1, color="0.6", lw=0.8, ls=":")
    for ax, title in ((ax_loss, "cost"), (ax_acc, "accuracy (chance: 0.1)")):
        ax.set_xlabel("step")
        ax.set_title(f"sequential MNIST, h(28) → digit: {title}", fontsize=9)
        ax.legend(fontsize=7)
    save_png(fig, out / "rnn.png")
    return markdown_table(headers, rows)


# -------------------------------------------------------- rnn-text: many-to-many
def _code_block(text: str) -> str:
    return "\n".join("    " + line for line in text.split("\n"))


def untrained_sample(run: Run) -> str:
    """What the run's model wrote before its first step: the network rebuilt as
    :func:`~dlnotes.training.run.train` builds it (same seed, same initialization),
    sampled as TextSamples samples (its length, temperature and prompt; a newline when
    the prompt is empty; generator seeded 0)."""
    import lightning as L
    import torch

    from dlnotes.training.run import build_model

    cfg = run.cfg
    L.seed_everything(cfg.seed, verbose=False)
    dm = instantiate(cfg.data)
    model = build_model(cfg, dm).eval()
    options = cfg.callbacks.get("text_samples") or {}
    prompt = str(options.get("prompt", "") or "")
    prefix = dm.encode(prompt or "\n")
    generator = torch.Generator().manual_seed(0)
    tokens = model.generate(
        prefix, int(options.get("length", 200)), float(options.get("temperature", 0.8)), generator
    )
    return prompt + dm.decode(tokens)


def report_text(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    """experiment=rnn-text: per epoch the cost in bits per character and two scores of
    the sampled text — D_KL of its character frequencies from the corpus' and the share
    of its words found in the corpus; the samples before training and after the last
    epoch; figure rnn-text.png (the cost per step)."""
    parts = []
    fig = plots.new_figure((5.5, 3.2), dpi=90)
    ax = fig.subplots()
    for run in [*runs, *(reference or [])]:
        dm = instantiate(run.cfg.data)  # the corpus the run trained on
        vocabulary = corpus_words(dm.text)
        samples = {step: sample_body(text) for step, text in read_text_samples(run.path)}
        samples[0] = untrained_sample(run)
        rows = []
        for record in run.history:
            sample = samples.get(record["step"])
            scores = ["—", "—"]
            if sample is not None:
                scores = [
                    fmt(unigram_kl(sample, dm.text), 2),
                    pct(word_hit_rate(sample, vocabulary)),
                ]
            rows.append(
                [
                    record["epoch"],
                    record["step"],
                    fmt(record["train_loss"] / math.log(2), 2),
                    fmt(record["val_loss"] / math.log(2), 2),
                    pct(record.get("val_acc")),
                    *scores,
                ]
            )
        headers = ["epoch", "step", "train bits/char", "val bits/char", "val next-char acc",
                   "sample: D_KL(chars ‖ corpus) bits", "sampled words in corpus"]  # fmt: skip
        parts.append(markdown_table(headers, rows))
        last_step = max(samples)
        parts.append(f"Sample before training (step 0):\n\n{_code_block(samples[0])}")
        if last_step:
            parts.append(f"Sample after step {last_step}:\n\n{_code_block(samples[last_step])}")
        for split, style in (("train", "--"), ("val", "-")):
            x, y = run.curve(f"{split}_loss")
            ax.plot(x, y / math.log(2), style, lw=1.2, label=split)
        # uniform guessing over the vocabulary
        ax.axhline(math.log2(dm.vocab_size), color="0.6", lw=0.8, ls=":", label="uniform")
    ax.set_xlabel("step")
    ax.set_ylabel("bits per character")
    ax.set_title("char model: cross-entropy of the next character", fontsize=9)
    ax.legend(fontsize=7)
    save_png(fig, out / "rnn-text.png")
    return "\n\n".join(parts)


# ---------------------------------------------------------- rnn-clipping
def _order(trace: ClippingTrace) -> tuple[float, float]:
    return (trace.alpha, trace.clip or 0.0)


def report_clipping(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    """experiment=rnn-clipping: ‖g‖ before clipping, the loss and ‖W‖_F per step."""
    pairs = sorted(
        ((clipping_trace(run), run) for run in [*runs, *(reference or [])]),
        key=lambda p: _order(p[0]),
    )
    rows = []
    for trace, run in pairs:
        s = trace.summary()
        rows.append(
            [
                f"{trace.alpha:g}",
                f"{trace.clip:g}" if trace.clip else "none",
                f"{s['median_grad']:.2f}",
                f"**{s['max_grad']:.3g}**",
                pct(s["over_1"]),
                f"{s['w_start']:.1f} → {s['w_end']:.1f}",
                fmt(s["max_loss"], 2),
                fmt(s["final_loss"], 2),
                fmt(run.metrics.get("val_loss"), 2),
                "diverged" if run.metrics.get("diverged") else "ok",
            ]
        )
    headers = ["α", "clip", "median ‖g‖", "max ‖g‖", "steps with ‖g‖ > 1",
               "‖W‖_F start → end", "peak batch cost", "final batch cost",
               "val cost", "status"]  # fmt: skip
    fig = plots.new_figure((12.0, 3.3), dpi=90)
    ax_loss, ax_g, ax_w = fig.subplots(1, 3)
    alphas = sorted({trace.alpha for trace, _ in pairs})
    for trace, _ in pairs:
        color = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"][alphas.index(trace.alpha) % 4]
        style = "-" if trace.clip else "--"
        kw = {"color": color, "ls": style, "lw": 0.9, "label": trace.label}
        ax_loss.plot(trace.loss_steps, trace.loss, **kw)
        ax_g.plot(trace.steps, trace.grad_norm, **kw)
        ax_w.plot(trace.w_steps, trace.w_norm, **kw)
    for ax in (ax_loss, ax_g, ax_w):
        ax.set_yscale("log")
    ax_loss.set_title("cost J of each batch", fontsize=9)
    ax_g.set_title("‖g‖ before clipping (all parameters)", fontsize=9)
    ax_w.set_title("‖W‖_F (hidden-to-hidden)", fontsize=9)
    for ax in (ax_loss, ax_g, ax_w):
        ax.set_xlabel("step")
    ax_loss.legend(fontsize=7)
    save_png(fig, out / "rnn-clipping.png")
    return markdown_table(headers, rows)
