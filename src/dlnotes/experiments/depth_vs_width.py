"""The depth-vs-width demo — notes 002, "Circuit theory and deep learning": "we can compute
some functions with small L-layer network which will require exponentially more hidden
units", with n-bit parity as the example; notes 000, question 1 (many neurons in one
layer vs the same neurons spread over several layers).

Two functions, each with hand-set weights (what a network *can* represent) and trained
from random weights at an equal neuron budget (what gradient descent *finds*):

- **Telgarsky's sawtooth** f_k = tent ∘ … ∘ tent (k times), tent(x) = 1 − |2x − 1| on
  [0, 1]: 2^(k−1) teeth, 2^k linear pieces. k hidden layers of 2 ReLU units compute it
  exactly (:func:`telgarsky_network`, 2k neurons); one hidden layer needs 2^k units
  (:func:`shallow_sawtooth_network`), since in 1-D each unit adds one kink and f_k has
  2^k − 1 of them. With fewer units its error is bounded below
  (:func:`shallow_sawtooth_bound`).
- **n-bit parity** (data=parity, the bits flattened): a tree of XORs
  (:func:`parity_tree_network`, ⌈log₂ n⌉ layers). The notes' 2^(n−1) units hold for
  AND/OR circuits (one AND per odd input pattern); a hidden layer of *weighted sums*
  needs only n ReLU units, because parity depends on the count s = Σ x_i alone
  (:func:`shallow_parity_network`).

``dlnotes-report <sweep(s)>`` adds the README's tables and figure to the report.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import median

import torch

from dlnotes.data.base import BatchSize, InMemoryDataModule, Split
from dlnotes.data.spec import DataSpec
from dlnotes.experiments.common import (
    Run,
    fmt,
    markdown_table,
    save_png,
)
from dlnotes.models import DeepMLP
from dlnotes.training import plots


# ---------------------------------------------------------------------- the sawtooth
def tent(x: torch.Tensor) -> torch.Tensor:
    """The tent map on [0, 1]: 2x up to ½, 2 − 2x after."""
    # tent(x) = 1 − |2x − 1|
    return 1 - (2 * x - 1).abs()


def sawtooth(x: torch.Tensor, k: int) -> torch.Tensor:
    """f_k(x) = tent^k(x): 2^(k−1) teeth of height 1 on [0, 1]."""
    for _ in range(k):
        x = tent(x)
    return x


class SawtoothDataModule(InMemoryDataModule):
    """Regression on Telgarsky's sawtooth y = f_k(x), x uniform on [0, 1].

    X: (m, 1) float32, y: (m,) float32 in [0, 1]; the three splits are independent
    uniform draws (seeded). Predicting the mean ½ costs the variance 1/12 ≈ 0.083.

    k:       tent compositions: 2^(k−1) teeth, 2^k linear pieces.
    n_train, n_val, n_test: points per split.
    """

    name = "sawtooth"

    def __init__(
        self,
        *,
        k: int = 6,
        n_train: int = 512,
        n_val: int = 512,
        n_test: int = 512,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            batch_size=batch_size, seed=seed, train_size=train_size, num_workers=num_workers
        )
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"data.k must be an integer >= 1, got {k!r}")
        for key, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            if n < 1:
                raise ValueError(f"data.{key} must be >= 1, got {n}")
        self.k, self.sizes = k, (int(n_train), int(n_val), int(n_test))
        self._spec = DataSpec(
            task="regression", kind="tabular", in_features=1, out_features=1, name=self.name
        )

    def _load(self) -> dict[str, Split]:
        g = torch.Generator().manual_seed(self.seed)
        splits = {}
        for name, m in zip(("train", "val", "test"), self.sizes):
            X = torch.rand(m, 1, generator=g)
            splits[name] = Split(X, sawtooth(X, self.k).squeeze(1))
        return splits


def shallow_sawtooth_bound(k: int, units: int) -> float:
    """A lower bound of ∫₀¹ (f_k − g)² dx over every one-hidden-layer ReLU network g with
    ``units`` hidden units (the MSE on uniform x).

    Such a g is continuous and piecewise linear with at most ``units`` kinks. Around each
    of the 2^k − 1 kinks of f_k, the window of width h = 2^−k holds a V of depth ½; a g
    without a kink inside it is linear there and misses it by at least the variance of
    the V, (½)²/12, times h. Each of the 2^(k−1) teeth (width 2h, height 1) likewise costs
    2h/12 when no kink of g falls inside it. A kink can serve one window or one tooth.
    """
    windows = max(2**k - 1 - units, 0) / (48 * 2**k)
    teeth = max(2 ** (k - 1) - units, 0) / (12 * 2 ** (k - 1))
    return max(windows, teeth)


def shallow_least_squares(
    k: int, kinks: torch.Tensor, points: int = 4096
) -> tuple[float, Callable[[torch.Tensor], torch.Tensor]]:
    """The best one-hidden-layer ReLU net whose units have their kinks at ``kinks`` (u,):
    units relu(x − kink) and a bias, output weights by least squares against f_k on a
    grid of [0, 1]. Returns its MSE and the fitted function (float64)."""

    def features(x: torch.Tensor) -> torch.Tensor:
        relus = torch.relu(x[:, None] - kinks[None, :].to(x.dtype))
        return torch.cat([relus, torch.ones_like(x)[:, None]], 1)

    x = torch.linspace(0, 1, points, dtype=torch.float64)
    y = sawtooth(x, k)
    coef = torch.linalg.lstsq(features(x), y[:, None]).solution
    mse = float(((features(x) @ coef).squeeze(1) - y).pow(2).mean())
    return mse, lambda x: (features(x.double()) @ coef).squeeze(1)


def best_shallow_fit(
    k: int, units: int, tries: int = 50, seed: int = 0
) -> tuple[float, Callable[[torch.Tensor], torch.Tensor]]:
    """The best :func:`shallow_least_squares` fit of f_k with ``units`` kinks among kinks
    on the first kinks of f_k, evenly spread, and ``tries`` uniform draws."""
    g = torch.Generator().manual_seed(seed)
    candidates = [torch.arange(1, units + 1) / 2**k, torch.linspace(0, 1, units + 2)[1:-1]]
    candidates += [torch.rand(units, generator=g) for _ in range(tries)]
    fits = [shallow_least_squares(k, kinks.double()) for kinks in candidates]
    return min(fits, key=lambda fit: fit[0])


def _set(layer: torch.nn.Module, W: Sequence[Sequence[float]], b: Sequence[float]) -> None:
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(W, dtype=layer.weight.dtype))
        layer.bias.copy_(torch.tensor(b, dtype=layer.bias.dtype))


def _linears(model: DeepMLP) -> list[torch.nn.Module]:
    return [*(m for m in model.body if hasattr(m, "weight")), model.head]


def telgarsky_network(k: int, backward: str = "manual") -> DeepMLP:
    """k hidden layers of 2 ReLU units computing f_k exactly on [0, 1] (2k neurons).

    Layer 1: A = [relu(x), relu(x − ½)], and tent(x) = 2 A₁ − 4 A₂. Every next layer
    reads t = tent(…) = 2 A₁ − 4 A₂ of the previous one through its W.
    """
    model = DeepMLP(1, [2] * k, 1, "relu", loss="mse", backward=backward)
    layers = _linears(model)
    _set(layers[0], [[1.0], [1.0]], [0.0, -0.5])
    for layer in layers[1:-1]:
        # Z = [t, t − ½] with t = 2 A₁ − 4 A₂ the tent of the layer below
        _set(layer, [[2.0, -4.0], [2.0, -4.0]], [0.0, -0.5])
    _set(layers[-1], [[2.0, -4.0]], [0.0])
    return model


def shallow_sawtooth_network(k: int, backward: str = "manual") -> DeepMLP:
    """One hidden layer of 2^k ReLU units computing f_k exactly on [0, 1]:
    f_k(x) = 2^k relu(x) + Σ_j ∓2^(k+1) relu(x − j/2^k), one unit per kink."""
    n = 2**k
    model = DeepMLP(1, [n], 1, "relu", loss="mse", backward=backward)
    hidden, head = _linears(model)
    _set(hidden, [[1.0]] * n, [-j / n for j in range(n)])
    # slope +2^k on the first piece, then it flips sign at every kink: ∓2·2^k
    v = [float(n)] + [2.0 * n * (-1) ** j for j in range(1, n)]
    _set(head, [v], [0.0])
    return model


# --------------------------------------------------------------------------- parity
def shallow_parity_network(n: int, scale: float = 20.0, backward: str = "manual") -> DeepMLP:
    """One hidden layer of n ReLU units computing n-bit parity of {0, 1} bits.

    Parity depends on s = Σ x_i only: g(s) = relu(s) + Σ_{j=1}^{n−1} 2(−1)^j relu(s − j)
    interpolates s mod 2 at s = 0 … n. The output logit is scale · (g − ½).
    """
    model = DeepMLP(n, [n], 1, "relu", loss="bce", backward=backward)
    hidden, head = _linears(model)
    _set(hidden, [[1.0] * n] * n, [-float(j) for j in range(n)])
    v = [1.0] + [2.0 * (-1) ** j for j in range(1, n)]
    _set(head, [[scale * c for c in v]], [-scale / 2])
    return model


def parity_tree_network(n: int, scale: float = 20.0, backward: str = "manual") -> DeepMLP:
    """A tree of XORs computing n-bit parity in ⌈log₂ n⌉ hidden layers.

    XOR of two bits a, b: relu(a + b) − 2 relu(a + b − 1), two units; every layer pairs
    up the values of the layer below (an odd one out is carried by one unit, relu(v) = v
    for v ≥ 0) and its W reads each value as that linear combination of two units.
    """
    if n < 2:
        raise ValueError(f"parity_tree_network needs n >= 2 bits, got {n}")
    # a value of the layer below: {unit index: coefficient}
    values: list[dict[int, float]] = [{i: 1.0} for i in range(n)]
    width_below, layers = n, []
    while len(values) > 1:
        rows, biases, next_values = [], [], []
        for pair in range(0, len(values) - 1, 2):
            a_plus_b = {}
            for v in values[pair : pair + 2]:
                for i, c in v.items():
                    a_plus_b[i] = a_plus_b.get(i, 0.0) + c
            row = [a_plus_b.get(i, 0.0) for i in range(width_below)]
            rows += [row, row]
            biases += [0.0, -1.0]
            next_values.append({len(rows) - 2: 1.0, len(rows) - 1: -2.0})
        if len(values) % 2:
            rows.append([values[-1].get(i, 0.0) for i in range(width_below)])
            biases.append(0.0)
            next_values.append({len(rows) - 1: 1.0})
        layers.append((rows, biases))
        values, width_below = next_values, len(rows)
    model = DeepMLP(n, [len(r) for r, _ in layers], 1, "relu", loss="bce", backward=backward)
    linears = _linears(model)
    for layer, (rows, biases) in zip(linears, layers):
        _set(layer, rows, biases)
    out = [scale * values[0].get(i, 0.0) for i in range(width_below)]
    _set(linears[-1], [out], [-scale / 2])
    return model


def all_bit_strings(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every n-bit string (2^n, n) as float {0, 1} and its parity (2^n,)."""
    codes = torch.arange(2**n)
    X = ((codes[:, None] >> torch.arange(n - 1, -1, -1)) & 1).float()
    return X, X.sum(1) % 2


def neurons(model: torch.nn.Module) -> int:
    """Hidden units of a DeepMLP."""
    return sum(getattr(model, "hidden", []))


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------- constructions
@torch.no_grad()
def sawtooth_mse(model: torch.nn.Module, k: int, points: int = 2**16) -> float:
    """∫₀¹ (f_k − model)² dx on a fine grid, in float64 (on a copy of ``model``)."""
    x = torch.linspace(0, 1, points, dtype=torch.float64).unsqueeze(1)
    twin = copy.deepcopy(model).double()
    return float(((twin(x).squeeze(1) - sawtooth(x.squeeze(1), k)) ** 2).mean())


@torch.no_grad()
def parity_accuracy(model: torch.nn.Module, n: int) -> float:
    """Accuracy on all 2^n strings."""
    X, y = all_bit_strings(n)
    return float(((model(X).squeeze(1) > 0).float() == y).float().mean())


def construction_tables(
    ks: Sequence[int] = (2, 4, 6, 8), ns: Sequence[int] = (4, 8, 10, 16)
) -> str:
    """The hand-set networks, checked: neurons, layers, parameters and error."""
    rows = []
    for k in ks:
        deep, shallow = telgarsky_network(k), shallow_sawtooth_network(k)
        rows.append(
            [
                f"f_{k} ({2 ** (k - 1)} teeth)",
                f"{neurons(deep)} in {k} layers",
                params(deep),
                f"{sawtooth_mse(deep, k):.0e}",
                f"{neurons(shallow)} in 1 layer",
                params(shallow),
                f"{sawtooth_mse(shallow, k):.0e}",
                f"{shallow_sawtooth_bound(k, neurons(deep)):.4f}",
            ]
        )
    saw = markdown_table(
        [
            "sawtooth",
            "deep: neurons",
            "params",
            "MSE",
            "one layer: neurons",
            "params",
            "MSE",
            "one layer with the deep net's neurons: MSE ≥",
        ],
        rows,
    )
    rows = []
    for n in ns:
        tree, shallow = parity_tree_network(n), shallow_parity_network(n)
        rows.append(
            [
                n,
                f"{neurons(tree)} in {len(tree.hidden)} layers",
                params(tree),
                fmt(parity_accuracy(tree, n), 3),
                f"{neurons(shallow)} in 1 layer",
                params(shallow),
                fmt(parity_accuracy(shallow, n), 3),
                f"{2 ** (n - 1):,}",
            ]
        )
    par = markdown_table(
        [
            "parity bits n",
            "XOR tree: neurons",
            "params",
            "acc (all 2ⁿ)",
            "one layer on Σx: neurons",
            "params",
            "acc (all 2ⁿ)",
            "AND/OR circuit: 2ⁿ⁻¹ ANDs",
        ],
        rows,
    )
    return f"{saw}\n\n{par}"


# ------------------------------------------------------------------ trained sweeps
def task_of(run: Run) -> str:
    """The run's data set: parity or sawtooth."""
    return str(run.metrics.get("data"))


def _task_label(run: Run) -> str:
    if task_of(run) == "sawtooth":
        return f"sawtooth f_{run.get('data.k')}"
    return f"{run.get('data.n_bits')}-bit parity"


def hidden_of(run: Run) -> list[int]:
    return list(run.get("model.hidden") or [])


def _label(hidden: Sequence[int]) -> str:
    return f"{len(hidden)} × {hidden[0]}" if hidden else "none"


def _groups(runs: Sequence[Run]) -> dict[tuple[str, tuple[int, ...]], list[Run]]:
    """Runs by (task label, hidden sizes), parity first, then by k and depth."""
    groups: dict[tuple[str, tuple[int, ...]], list[Run]] = {}
    for run in sorted(runs, key=lambda r: (task_of(r), r.get("data.k") or 0)):
        groups.setdefault((_task_label(run), tuple(hidden_of(run))), []).append(run)
    order = {label: i for i, label in enumerate(dict.fromkeys(k for k, _ in groups))}
    return dict(sorted(groups.items(), key=lambda kv: (order[kv[0][0]], len(kv[0][1]))))


def _spread(values: Sequence[float | None], digits: int) -> str:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return "–"
    return f"**{median(vals):.{digits}f}** ({vals[0]:.{digits}f}–{vals[-1]:.{digits}f})"


def _train(run: Run, key: str) -> float | None:
    return (run.train_eval or {}).get(key, run.metrics.get(key))


def results_table(runs: Sequence[Run]) -> str:
    """One row per task × architecture: medians (min–max) over the seeds."""
    rows = []
    for (task, hidden), group in _groups(runs).items():
        parity = task_of(group[0]) == "parity"
        key, digits = ("acc", 2) if parity else ("loss", 4)
        rows.append(
            [
                task,
                _label(hidden),
                sum(hidden),
                group[0].metrics.get("params"),
                len(group),
                _spread([_train(r, f"train_{key}") for r in group], digits),
                _spread([r.metrics.get(f"val_{key}") for r in group], digits),
                _spread([r.metrics.get(f"test_{key}") for r in group], digits),
            ]
        )
    headers = ["task", "layers × width", "neurons", "params", "seeds"]
    headers += ["train (acc / MSE)", "val (acc / MSE)", "test (acc / MSE)"]
    return markdown_table(headers, rows)


def figure(runs: Sequence[Run], path: str | Path, k_fit: int = 4) -> Path:
    """Parity accuracy against depth (trained), the sawtooth f_k_fit with the hand-set deep
    net and a one-layer fit of as many neurons, and the sawtooth error against k."""
    fig = plots.new_figure((12.5, 3.5), dpi=85)
    ax_par, ax_fit, ax_k = fig.subplots(1, 3)
    # trained parity: every seed, train (hollow) and val (filled), median line
    depths, meds = [], []
    for (_, hidden), group in _groups(runs).items():
        if task_of(group[0]) != "parity":
            continue
        depth = len(hidden)
        val = [r.metrics["val_acc"] for r in group if r.metrics.get("val_acc") is not None]
        train = [_train(r, "train_acc") for r in group]
        ax_par.scatter([depth] * len(train), train, s=18, facecolors="none", edgecolors="0.4")
        ax_par.scatter([depth] * len(val), val, s=14, color="#1f77b4", alpha=0.8)
        if val:
            depths.append(depth)
            meds.append(median(val))
    ax_par.plot(depths, meds, color="#1f77b4", lw=1.2, label="val, median (dots: seeds)")
    ax_par.scatter([], [], s=18, facecolors="none", edgecolors="0.4", label="train")
    ax_par.axhline(0.5, color="0.5", ls="--", lw=1.0, label="chance")
    ax_par.set_xscale("log", base=2)
    ax_par.set_xticks([1, 2, 4, 8], ["1 × 32", "2 × 16", "4 × 8", "8 × 4"])
    ax_par.set_xlabel("hidden layers × width (32 neurons)")
    ax_par.set_ylabel("accuracy")
    ax_par.set_title("10-bit parity, trained (val: unseen strings)", fontsize=9)
    ax_par.legend(fontsize=6.5)
    # hand-set: depth k with 2k units vs one layer with 2k units (least squares)
    x = torch.linspace(0, 1, 2000, dtype=torch.float64)
    units = 2 * k_fit
    mse, fit = best_shallow_fit(k_fit, units)
    with torch.no_grad():
        deep = telgarsky_network(k_fit).double()(x[:, None]).squeeze(1)
    ax_fit.plot(x, sawtooth(x, k_fit), color="0.65", lw=3.0, label=f"f_{k_fit}")
    ax_fit.plot(x, deep, "k:", lw=1.2, label=f"{k_fit} layers × 2 (hand-set): exact")
    ax_fit.plot(x, fit(x), color="#d62728", lw=1.1, label=f"1 layer × {units}: MSE {mse:.3f}")
    ax_fit.set_xlabel("x")
    ax_fit.set_ylim(-0.2, 1.45)
    ax_fit.set_title(f"sawtooth f_{k_fit}: {units} ReLU neurons either way", fontsize=9)
    ax_fit.legend(fontsize=6.5, loc="upper right", ncol=1)
    # error against k: the floor of one layer with 2k units vs exact depth
    ks = list(range(1, 9))
    ax_k.plot(ks, [shallow_sawtooth_bound(k, 2 * k) for k in ks], "o-", color="#d62728",
              ms=3, label="1 layer × 2k: proven floor")  # fmt: skip
    ax_k.plot(ks, [0.0] * len(ks), "o:", color="k", ms=3, label="k layers × 2: exact (hand-set)")
    ax_k.axhline(1 / 12, color="0.5", ls="--", lw=1.0, label="predict the mean (1/12)")
    trained: dict[tuple[int, ...], list[Run]] = {}
    for run in runs:
        if task_of(run) == "sawtooth":
            trained.setdefault(tuple(hidden_of(run)), []).append(run)
    for hidden, group in sorted(trained.items(), key=lambda kv: len(kv[0])):
        ks_run = [int(r.get("data.k")) + 0.08 * (len(hidden) > 1) for r in group]
        ax_k.scatter(ks_run, [r.metrics.get("val_loss") for r in group], s=16,
                     marker="x", label=f"trained {_label(hidden)}, val")  # fmt: skip
    ax_k.set_xlabel("k (2^(k−1) teeth)")
    ax_k.set_ylabel("MSE")
    ax_k.set_ylim(-0.005, 0.135)
    ax_k.set_title("sawtooth f_k: error against k", fontsize=9)
    ax_k.legend(fontsize=6, loc="upper left", ncol=2)
    return save_png(fig, path)


def report(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    """The README's tables (hand-set networks, trained sweeps) and figure."""
    runs = [*runs, *(reference or [])]
    figure(runs, out / "depth-vs-width.png")
    return f"{construction_tables()}\n\n{results_table(runs)}"
