"""experiment=activation (and activation-mnist): with a non-linear g the network draws
the circle; with g = identity it is W'x + b' (notes 002, "Need for non-linear activation")
— the same linear boundary as logistic regression, no better."""

import torch
from hydra.utils import instantiate

from dlnotes.models import LogisticRegression
from dlnotes.training.run import build_model

CIRCLES_STEPS = "trainer.max_epochs=100"  # full-batch Adam steps


def trained_model(result):
    """The run's model with the weights of checkpoints/last.ckpt, and its data."""
    dm = instantiate(result.cfg.data)
    dm.setup()
    model = build_model(result.cfg, dm)
    state = torch.load(result.path / "checkpoints" / "last.ckpt", map_location="cpu")
    model.load_state_dict({k.removeprefix("model."): v for k, v in state["state_dict"].items()})
    return model.eval(), dm


def collapse(model):
    """W' and b' of a network with identity activations: Z = X W'ᵀ + b'."""
    W, b = None, None
    for layer in [*model.body, model.head]:
        if not hasattr(layer, "weight"):
            continue
        # Z[l] = W[l] A[l-1] + b[l] with A[l-1] = W' x + b'
        W = layer.weight if W is None else layer.weight @ W
        b = layer.bias if b is None else layer.weight @ b + layer.bias
    return W, b


def test_identity_network_is_no_better_than_logistic_regression(run_experiment):
    tanh = run_experiment("activation", "model.activation=tanh", CIRCLES_STEPS)
    identity = run_experiment(
        "activation",
        "model.activation=identity",
        CIRCLES_STEPS,
        keep=("history", "model_checkpoint"),
    )
    logistic = run_experiment("activation", "model.hidden=[]", CIRCLES_STEPS)
    assert logistic.metrics["params"] == 3
    # a non-linear g draws the circle ...
    assert tanh.metrics["train_acc"] > 0.95
    assert tanh.metrics["val_acc"] > 0.9
    # ... the identity draws a line, like logistic regression
    for split in ("train_acc", "val_acc"):
        assert identity.metrics[split] <= logistic.metrics[split] + 0.02
        assert identity.metrics[split] < 0.65  # a line through two concentric circles
    # the notes' algebra on the trained weights: three layers collapse into one
    model, dm = trained_model(identity)
    W, b = collapse(model)
    assert W.shape == (1, 2) and b.shape == (1,)
    with torch.no_grad():
        torch.testing.assert_close(model(dm.X_train), dm.X_train @ W.t() + b)


def test_identity_network_on_digits_is_a_softmax_regression(run_experiment):
    identity = run_experiment(
        "activation-mnist",
        "model.activation=identity",
        "data.train_size=1000",
        "trainer.max_epochs=2",
        keep=("history", "model_checkpoint"),
    )
    model, dm = trained_model(identity)
    assert identity.metrics["params"] == 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    # 55 050 parameters, yet the function of a 10 × 784 matrix and 10 biases:
    W, b = collapse(model)
    assert W.shape == (10, 784) and b.shape == (10,)
    # softmax regression given W', b' computes the same logits, predicts the same digits
    softmax = LogisticRegression(784, 10)
    with torch.no_grad():
        softmax.linear.weight.copy_(W)
        softmax.linear.bias.copy_(b)
        Z, Z_softmax = model(dm.X_val), softmax(dm.X_val)
    torch.testing.assert_close(Z, Z_softmax, atol=1e-4, rtol=1e-4)
    assert (Z.argmax(1) == Z_softmax.argmax(1)).float().mean() > 0.998
