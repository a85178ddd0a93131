"""experiment=planar: on the course's flower, logistic regression stays near chance
(published 47%), one tanh unit splits the plane in two (published 67.5%), and a hidden
layer of four tanh units fits the petals (published 90.5%)."""

import pytest

ITERATIONS = "trainer.max_epochs=300"  # full-batch gradient descent, lr 1.2


def test_logistic_regression_47_one_unit_67_four_units_90(run_experiment):
    linear, one, four = (
        run_experiment("planar", f"model.hidden={hidden}", ITERATIONS)
        for hidden in ("[]", "[1]", "[4]")
    )
    # the assignment's 400 training points, one batch per gradient-descent step
    assert linear.metrics["data"] == "flower"
    assert linear.metrics["steps"] == 300
    # hidden=[] is logistic regression: w1, w2, b
    assert linear.metrics["params"] == 3
    # a line through the flower: the published 47% (sklearn's LogisticRegressionCV)
    assert linear.metrics["train_acc"] == pytest.approx(0.47, abs=0.03)
    # a single tanh unit: two half-planes (published 67.5%)
    assert 0.6 < one.metrics["train_acc"] < 0.75
    # four tanh units draw the petals (published 90.5% after 10 000 iterations)
    assert four.metrics["train_acc"] > 0.85
    assert four.metrics["train_acc"] > linear.metrics["train_acc"] + 0.35
    # ... and classify fresh flower points (val) as well
    assert four.metrics["val_acc"] > 0.8
