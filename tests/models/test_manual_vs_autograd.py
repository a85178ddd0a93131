"""Every model: backward="manual" and "autograd" agree on loss and every gradient (float64)."""

import copy

import pytest
import torch

from dlnotes.data.spec import DataSpec
from dlnotes.models import DeepMLP, ElmanRNN, LeNet, LogisticRegression, ShallowMLP

D = torch.float64
TOL = {"atol": 1e-9, "rtol": 1e-9}


def batch_for(spec: DataSpec, m: int = 6):
    g = torch.Generator().manual_seed(0)
    if spec.kind == "image":
        X = torch.randn(m, spec.in_channels, *spec.image_size, generator=g, dtype=D)
    elif spec.kind == "sequence" and spec.vocab_size:
        X = torch.randint(spec.vocab_size, (m, spec.seq_len), generator=g)
    elif spec.kind == "sequence":
        X = torch.randn(m, spec.seq_len, spec.in_features, generator=g, dtype=D)
    else:
        X = torch.randn(m, spec.in_features, generator=g, dtype=D)
    shape = (m, spec.seq_len) if spec.many_to_many else (m,)
    if spec.task == "binary":
        Y = torch.randint(2, shape, generator=g).to(D)
    elif spec.task == "multiclass":
        Y = torch.randint(spec.out_features, shape, generator=g)
    else:
        Y = torch.randn(shape, generator=g, dtype=D)
    return X, Y


TAB2 = DataSpec("binary", "tabular", 2, 1, 2, name="moons")
TAB3 = DataSpec("multiclass", "tabular", 5, 3, 3, name="blobs")
REG = DataSpec("regression", "tabular", 3, 1, name="housing")
IMG28 = DataSpec("multiclass", "image", 784, 10, 10, 1, (28, 28), name="mnist5k")
IMG32 = DataSpec("multiclass", "image", 3072, 10, 10, 3, (32, 32), name="cifar10")
IMG_RECT = DataSpec("binary", "image", 30 * 26, 1, 2, 1, (30, 26), name="rect")
SEQ = DataSpec("binary", "sequence", 1, 1, 2, seq_len=5, name="parity")
SEQ_REG = DataSpec("regression", "sequence", 2, 1, seq_len=4, name="adding")
TEXT = DataSpec("multiclass", "sequence", 7, 7, 7, seq_len=6, vocab_size=7, many_to_many=True)

CASES = {
    "logreg-binary": (LogisticRegression, TAB2, {}),
    "logreg-softmax": (LogisticRegression, TAB3, {}),
    "logreg-sigmoid-mse": (LogisticRegression, TAB2, {"activation": "sigmoid", "loss": "mse"}),
    "housing-relu-mse": (LogisticRegression, REG, {"activation": "relu"}),
    "linear-regression": (LogisticRegression, REG, {"activation": "identity"}),
    "shallow-tanh": (ShallowMLP, TAB2, {"hidden": 4}),
    "shallow-sigmoid-3": (ShallowMLP, TAB3, {"activation": "sigmoid"}),
    "deep-relu": (DeepMLP, TAB3, {"hidden": [7, 6, 5]}),
    "deep-leaky": (DeepMLP, TAB2, {"hidden": [4, 4], "activation": "leaky_relu"}),
    "deep-identity": (DeepMLP, REG, {"hidden": [4, 3], "activation": "identity"}),
    "deep-bn-dropout": (
        DeepMLP,
        TAB3,
        {"hidden": [8, 8], "batch_norm": True, "dropout": 0.3, "activation": "tanh"},
    ),
    "deep-on-images": (DeepMLP, IMG28, {"hidden": [16]}),
    "lenet-28-max": (LeNet, IMG28, {}),
    "lenet-32-avg-tanh": (LeNet, IMG32, {"pool": "avg", "activation": "tanh"}),
    "lenet-rect-binary": (LeNet, IMG_RECT, {"activation": "sigmoid"}),
    "rnn-many-to-one": (ElmanRNN, SEQ, {"hidden_size": 8}),
    "rnn-relu-regression": (ElmanRNN, SEQ_REG, {"hidden_size": 5, "activation": "relu"}),
    "rnn-text": (ElmanRNN, TEXT, {"hidden_size": 9}),
}


@pytest.mark.parametrize("case", CASES)
def test_same_loss_and_gradients(case):
    cls, spec, hparams = CASES[case]
    torch.manual_seed(0)
    manual = cls.from_data(spec, **hparams).to(D)
    auto = copy.deepcopy(manual).set_backward("autograd")
    assert manual.backward == "manual" and auto.backward == "autograd"
    X, Y = batch_for(spec)
    losses = []
    for model in (manual, auto):
        torch.manual_seed(1)  # the same dropout masks for both
        J = model.loss(model(X), Y)
        J.backward()
        losses.append(J)
    torch.testing.assert_close(losses[0], losses[1], **TOL)
    for (name, Pm), Pa in zip(manual.named_parameters(), auto.parameters()):
        assert Pm.grad is not None, name
        torch.testing.assert_close(Pm.grad, Pa.grad, **TOL, msg=name)
    for Bm, Ba in zip(manual.buffers(), auto.buffers()):  # batch-norm running statistics
        torch.testing.assert_close(Bm, Ba, **TOL)


def test_every_layer_switches():
    model = LeNet().set_backward("autograd")
    assert {m.backward for m in model.modules() if hasattr(m, "_backward")} == {"autograd"}
    with pytest.raises(ValueError, match="manual"):
        model.set_backward("numeric")


def test_rnn_many_to_one_uses_last_state_and_many_to_many_every_step():
    m1 = ElmanRNN.from_data(SEQ, hidden_size=4)
    m2 = ElmanRNN.from_data(TEXT, hidden_size=4)
    assert m1(torch.randn(3, 5, 1)).shape == (3, 1)
    assert m2(torch.randint(7, (3, 6))).shape == (3, 6, 7)


def test_generate_samples_tokens_in_vocabulary():
    model = ElmanRNN.from_data(TEXT, hidden_size=4)
    out = model.generate(torch.tensor([1, 2]), 10, generator=torch.Generator().manual_seed(0))
    assert out.shape == (10,) and int(out.max()) < 7


def test_lenet_param_count_matches_lenet5():
    # LeNet-5 on 32×32: 156 + 2416 + 48120 + 10164 + 850 = 61706 parameters
    model = LeNet(in_channels=1, image_size=32, num_classes=10)
    assert sum(p.numel() for p in model.parameters()) == 61706


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: DeepMLP(2, hidden=[0]), "hidden"),
        (lambda: DeepMLP(2, hidden=[4], dropout=1.5), "dropout"),
        (lambda: LeNet(image_size=8), "at least"),
        (lambda: ElmanRNN(2, activation="sigmoid"), "tanh"),
        (lambda: LeNet.from_data(TAB2), "image"),
        (lambda: ElmanRNN.from_data(TAB2), "sequence"),
        (lambda: DeepMLP.from_data(TEXT), "elman_rnn"),
    ],
)
def test_clear_errors(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()
