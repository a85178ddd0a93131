"""The planar demo — notes 002, "One hidden-layer neural network": logistic regression
(~47 %) against one hidden layer of tanh units (~90 %) on the course's "flower".

The deeplearning.ai "Planar data classification with one hidden layer" assignment,
reproduced: its 400 points, ``np.random.seed(2)`` weights ·0.01 (the ``numpy_init``
callback), float64, full-batch gradient descent with α = 1.2.

``dlnotes-report <sweep>`` adds this demo's table and figure to the sweep's report.
"""

from __future__ import annotations

from pathlib import Path

from dlnotes.experiments.common import (
    Run,
    boundary_panel,
    hidden_sizes,
    image_grid,
    load_model,
    markdown_table,
    pct,
    save_png,
)

# deeplearning.ai, "Planar data classification with one hidden layer": training accuracy
# (%) on its 400 points; sklearn's LogisticRegressionCV for the linear model, 5 000
# iterations of gradient descent for the n_h sweep (section 6), 10 000 for n_h = 4
# (section 4.4, printed "Accuracy: 90%" with %d).
PLANAR_PUBLISHED = {0: 47.0, 1: 67.5, 2: 67.25, 3: 90.75, 4: 90.5, 5: 91.25, 20: 90.5, 50: 90.75}
# the same notebook, section 4.4: "Cost after iteration i" of n_h = 4 (expected output)
PLANAR_PUBLISHED_COSTS = {
    0: 0.693048,
    1000: 0.288083,
    2000: 0.254385,
    3000: 0.233864,
    4000: 0.226792,
    5000: 0.222644,
    6000: 0.219731,
    7000: 0.217504,
    8000: 0.219454,
    9000: 0.218607,
}


def report(runs: list[Run], out: Path, reference: list[Run] | None = None) -> str:
    """Accuracy after the last update on the 400 training points (the assignment's
    ``predict`` after ``nn_model``), from history.json; the decision-boundary grid."""
    rows, panels, titles = [], [], []
    runs = [*runs, *(reference or [])]
    for run in runs:
        hidden = hidden_sizes(run)
        n_h = hidden[0] if hidden else 0
        name = f"n_h = {n_h}" if hidden else "logistic regression"
        m, last = run.metrics, run.history[-1]
        rows.append(
            [
                name,
                f"{PLANAR_PUBLISHED.get(n_h, float('nan')):.2f}%",
                pct(last["train_acc"]),
                pct(last["val_acc"]),
                pct(m["test_acc"]),
                f"{last['train_loss']:.6f}",
                last["step"],
                f"{m['seconds']:.1f}",
            ]
        )
        model, dm = load_model(run)
        panels.append(boundary_panel(model, dm.X_train, dm.y_train))
        titles.append(f"{name}: {100 * last['train_acc']:.2f}% train")
    header = [
        "model",
        "published train acc",
        "ours: train acc",
        "val acc",
        "test acc",
        "train cost J",
        "iterations",
        "fit seconds",
    ]
    save_png(image_grid(panels, titles, ncols=4), out / "decision_boundaries.png")
    tables = [markdown_table(header, rows)]
    for run in runs:
        costs = {r["step"]: r["train_loss"] for r in run.history}
        if hidden_sizes(run) == [4] and all(i in costs for i in PLANAR_PUBLISHED_COSTS):
            cost_rows = [
                [i, f"{c:.6f}", f"{costs[i]:.6f}"] for i, c in PLANAR_PUBLISHED_COSTS.items()
            ]
            tables.append(markdown_table(["iteration", "published cost", "ours"], cost_rows))
    return "\n\n".join(tables)
