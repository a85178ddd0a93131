"""The TensorBoard callbacks: tiny runs on in-test data, event files read back with
TensorBoard's own reader."""

from __future__ import annotations

import copy
import functools
import math

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as cs_metadata
from tensorboard.util import tensor_util
from torch.utils.data import DataLoader, TensorDataset

import dlnotes.functional
from dlnotes.data.spec import DataSpec
from dlnotes.models import DeepMLP, ElmanRNN, LeNet, ShallowMLP
from dlnotes.training import callbacks as cb
from dlnotes.training import plots
from dlnotes.training.callbacks import (
    CallbackWarning,
    ConfusionMatrix,
    ConvVisuals,
    DecisionBoundary,
    DivergenceMonitor,
    GradientCheck,
    Histograms,
    ParameterNorms,
    ScalarLayout,
    TextSamples,
    gradient_check,
)
from dlnotes.training.task import Task

# a callback that swallowed an error must fail the test that triggered it
pytestmark = [
    pytest.mark.filterwarnings("error::dlnotes.training.callbacks.CallbackWarning"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers.*"),
    pytest.mark.filterwarnings("ignore:.*smaller than the logging interval.*"),
]


def manual_or_autograd(*ops: str) -> str:
    """Return "manual" when dlnotes.functional has hand-written ``ops``, else "autograd"."""
    return "manual" if all(hasattr(dlnotes.functional, op) for op in ops) else "autograd"


def needs_manual(*ops: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        manual_or_autograd(*ops) != "manual",
        reason=f"dlnotes.functional has no hand-written {', '.join(ops)} yet",
    )


# ----------------------------------------------------------------------------- data
class TinyData(L.LightningDataModule):
    """In-memory train/val splits with a DataSpec, like the dlnotes datamodules."""

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        spec: DataSpec,
        batch_size: int = 16,
        class_names: list[str] | None = None,
        n_val: int = 24,
    ) -> None:
        super().__init__()
        self.X_train, self.y_train = X, y
        self.X_val, self.y_val = X[:n_val], y[:n_val]
        self.spec = spec
        self.batch_size = batch_size
        self.class_names = class_names

    def train_dataloader(self) -> DataLoader:
        data = TensorDataset(self.X_train, self.y_train)
        return DataLoader(data, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.X_val, self.y_val), batch_size=self.batch_size)


class TinyText(TinyData):
    """Next-character windows of a short text, with encode / decode / itos / stoi."""

    def __init__(self, text: str, seq_len: int = 8) -> None:
        self.itos = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        ids = self.encode(text)
        starts = range(0, len(ids) - seq_len - 1, seq_len)
        X = torch.stack([ids[s : s + seq_len] for s in starts])
        Y = torch.stack([ids[s + 1 : s + seq_len + 1] for s in starts])
        V = len(self.itos)
        spec = DataSpec(
            "multiclass", "sequence", V, V, V, seq_len=seq_len, vocab_size=V, many_to_many=True
        )
        super().__init__(X, Y, spec, batch_size=8, class_names=list(self.itos), n_val=8)

    def encode(self, text: str) -> torch.Tensor:
        return torch.tensor([self.stoi[c] for c in text], dtype=torch.long)

    def decode(self, ids: torch.Tensor) -> str:
        return "".join(self.itos[int(i)] for i in ids)


def xor_data(m: int = 64) -> TinyData:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(m, 2, generator=g)
    y = (X[:, 0] * X[:, 1] > 0).float()
    spec = DataSpec("binary", "tabular", 2, 1, 2, name="xor")
    return TinyData(X, y, spec, class_names=["orange", "blue"])


def blobs_data(m: int = 60) -> TinyData:
    g = torch.Generator().manual_seed(1)
    y = torch.arange(m) % 3
    centers = torch.tensor([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    X = centers[y] + 0.5 * torch.randn(m, 2, generator=g)
    spec = DataSpec("multiclass", "tabular", 2, 3, 3, name="blobs")
    return TinyData(X, y, spec, batch_size=15, class_names=["a", "b", "c"])


def image_data(m: int = 48) -> TinyData:
    g = torch.Generator().manual_seed(2)
    X = torch.randn(m, 1, 12, 12, generator=g)
    y = torch.arange(m) % 3
    spec = DataSpec("multiclass", "image", 144, 3, 3, 1, (12, 12), name="tiny_images")
    return TinyData(X, y, spec)


def regression_data(m: int = 64) -> TinyData:
    g = torch.Generator().manual_seed(3)
    X = torch.randn(m, 3, generator=g)
    y = X @ torch.tensor([1.0, -2.0, 0.5]) + 0.1
    return TinyData(X, y, DataSpec("regression", "tabular", 3, 1, name="linear"), batch_size=8)


# ------------------------------------------------------------------------ running
def fit(
    tmp_path,
    model: torch.nn.Module,
    data: L.LightningDataModule | None,
    callbacks: list,
    max_steps: int = 8,
    max_epochs: int = 2,
    lr: float = 0.1,
    logger: object = "tb",
    **fit_kwargs: object,
) -> L.Trainer:
    task = Task(model, optimizer=functools.partial(torch.optim.SGD, lr=lr))
    if logger == "tb":
        logger = TensorBoardLogger(tmp_path, name="tb", version=0)
    trainer = L.Trainer(
        max_steps=max_steps,
        max_epochs=max_epochs,
        logger=logger,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
        log_every_n_steps=1,
    )
    trainer.fit(task, datamodule=data, **fit_kwargs)
    return trainer


def events(tmp_path) -> ea.EventAccumulator:
    guidance = {key: 0 for key in ea.STORE_EVERYTHING_SIZE_GUIDANCE}
    acc = ea.EventAccumulator(str(tmp_path / "tb" / "version_0"), size_guidance=guidance)
    acc.Reload()
    return acc


def scalars(acc: ea.EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def layout(acc: ea.EventAccumulator) -> layout_pb2.Layout:
    """The custom-scalars layout as TensorBoard's plugin stores it: a string tensor under
    the tag ``custom_scalars__config__`` whose summary metadata names the plugin."""
    tag = cs_metadata.CONFIG_SUMMARY_TAG
    assert tag in acc.PluginTagToContent(cs_metadata.PLUGIN_NAME)
    assert acc.SummaryMetadata(tag).plugin_data.plugin_name == cs_metadata.PLUGIN_NAME
    (event,) = acc.Tensors(tag)
    return layout_pb2.Layout.FromString(event.tensor_proto.string_val[0])


def charts(acc: ea.EventAccumulator) -> dict[str, list[str]]:
    return {
        chart.title: list(chart.multiline.tag)
        for category in layout(acc).category
        for chart in category.chart
    }


def assert_png(acc: ea.EventAccumulator, tag: str) -> None:
    images = acc.Images(tag)
    assert images, tag
    for image in images:
        assert image.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"
        assert image.width > 10 and image.height > 10


def all_callbacks() -> list:
    return [
        GradientCheck(every_n_steps=2),
        ParameterNorms(every_n_steps=1),
        Histograms(every_n_epochs=1),
        DecisionBoundary(every_n_epochs=2, resolution=24),
        ConvVisuals(every_n_epochs=1),
        ConfusionMatrix(),
        TextSamples(every_n_epochs=1, length=10),
        ScalarLayout(),
        DivergenceMonitor(),
    ]


# -------------------------------------------------------------------------- tests
def test_binary_2d_run_logs_every_panel(tmp_path):
    torch.manual_seed(0)
    model = DeepMLP(2, hidden=[8], activation="tanh")
    callbacks = all_callbacks()
    gc, monitor = callbacks[0], callbacks[-1]
    trainer = fit(tmp_path, model, xor_data(), callbacks)
    acc = events(tmp_path)
    tags = acc.Tags()

    # 1. gradient check at steps 0, 2, 4, 6, hand-written == autograd in float32
    checks = scalars(acc, "gradcheck/max_rel_diff")
    assert [s for s, _ in checks] == [0, 2, 4, 6]
    assert all(0.0 <= v < 1e-4 for _, v in checks), checks
    assert gc.last_max_rel_diff is not None and gc.last_max_rel_diff < 1e-4
    assert "gradcheck/max_abs_diff" in tags["scalars"]
    # 2. a norm per parameter at every step
    names = [n for n, _ in model.named_parameters()]
    for name in names:
        assert len(scalars(acc, f"weight_norm/{name}")) == trainer.global_step
        grad_norms = scalars(acc, f"grad_norm/{name}")
        assert [s for s, _ in grad_norms] == list(range(8))
        assert all(v > 0 for _, v in grad_norms)
    # 3. histograms of weights, gradients, activations, once per epoch
    for name in names:
        assert len(acc.Histograms(f"weights/{name}")) == 2
        assert len(acc.Histograms(f"grads/{name}")) == 2
    assert "activations/body.1" in tags["histograms"]
    # 4. and 6. figures; 5. and 7. do not apply to an MLP on points
    assert_png(acc, "decision_boundary")
    assert [e.step for e in acc.Images("decision_boundary")] == [8]  # epoch 2 = fit end
    assert_png(acc, "confusion_matrix")
    assert not [t for t in tags["images"] if t.startswith("conv/")]
    assert "samples/text_summary" not in tags["tensors"]
    # 8. one chart for the two losses, one for the two accuracies
    assert charts(acc) == {
        "loss": ["^train/loss$", "^val/loss$"],
        "accuracy": ["^train/acc$", "^val/acc$"],
    }
    assert {"train/loss", "val/loss", "train/acc", "val/acc"} <= set(tags["scalars"])
    # 9. nothing diverged
    assert not monitor.diverged and monitor.diverged_step is None


def test_multiclass_2d_decision_boundary_and_confusion_matrix(tmp_path):
    torch.manual_seed(0)
    model = ShallowMLP(2, hidden=6, out_features=3)
    boundary, matrix = DecisionBoundary(every_n_epochs=1, resolution=20), ConfusionMatrix()
    data = blobs_data()
    fit(tmp_path, model, data, [boundary, matrix], max_steps=8, max_epochs=2)
    acc = events(tmp_path)
    # epochs 1 and 2 (steps 4, 8); the fit-end figure is the one of step 8
    assert [e.step for e in acc.Images("decision_boundary")] == [4, 8]
    assert [e.step for e in acc.Images("confusion_matrix")] == [4, 8]
    assert matrix.last is not None and matrix.last.shape == (3, 3)
    assert int(matrix.last.sum()) == len(data.X_val)


def test_confusion_matrix_every_n_epochs_and_for_the_final_weights(tmp_path):
    torch.manual_seed(0)
    matrix = ConfusionMatrix(every_n_epochs=2)
    data = blobs_data()
    trainer = fit(tmp_path, ShallowMLP(2, hidden=6, out_features=3), data, [matrix], 12, 3)
    trainer.validate(trainer.lightning_module, datamodule=data, verbose=False)
    # epoch 2 of 3 (step 8) during fit, then the stand-alone validation (step 12)
    assert [e.step for e in events(tmp_path).Images("confusion_matrix")] == [8, 12]


def test_lenet_conv_visuals(tmp_path):
    torch.manual_seed(0)
    backward = manual_or_autograd("conv2d", "max_pool2d")
    model = LeNet(1, 12, 3, channels=(3, 4), fc=(8,), backward=backward)
    callbacks = [
        ConvVisuals(every_n_epochs=2),
        Histograms(every_n_epochs=2),
        DecisionBoundary(every_n_epochs=1),
        TextSamples(),
    ]
    if backward == "manual":
        callbacks.append(GradientCheck(every_n_steps=3))
    fit(tmp_path, model, image_data(), callbacks, max_steps=6, max_epochs=2)
    acc = events(tmp_path)
    tags = acc.Tags()
    for tag in ("conv/filters", "conv/feature_maps", "conv/input"):
        assert_png(acc, tag)
        assert [e.step for e in acc.Images(tag)] == [6]  # every_n_epochs=2: epoch 2 only
    assert acc.Images("conv/input")[0].width >= 112  # 12 pixels enlarged
    assert set(tags["images"]) == {"conv/filters", "conv/feature_maps", "conv/input"}
    assert {"activations/act1", "activations/act2", "activations/dense.1"} <= set(
        tags["histograms"]
    )
    assert [e.step for e in acc.Histograms("weights/conv1.weight")] == [6]
    if backward == "manual":
        assert all(v < 1e-4 for _, v in scalars(acc, "gradcheck/max_rel_diff"))


def test_text_samples(tmp_path):
    torch.manual_seed(0)
    data = TinyText("hello world, hello notes; " * 6)
    V = len(data.itos)
    backward = manual_or_autograd("elman_rnn")
    model = ElmanRNN(V, 12, V, many_to_many=True, vocab_size=V, backward=backward)
    samples = TextSamples(every_n_epochs=1, length=30, temperature=0.8, prompt="hel")
    callbacks = [samples, ConfusionMatrix(), DecisionBoundary(1), ConvVisuals(1), Histograms(1)]
    fit(tmp_path, model, data, callbacks, max_steps=4, max_epochs=2, lr=0.5)
    acc = events(tmp_path)
    texts = acc.Tensors("samples/text_summary")
    assert [e.step for e in texts] == [3, 4]  # 3 batches an epoch; max_steps in epoch 2
    assert acc.SummaryMetadata("samples/text_summary").plugin_data.plugin_name == "text"
    logged = tensor_util.make_ndarray(texts[-1].tensor_proto).item().decode()
    assert samples.last_sample is not None and len(samples.last_sample) == 3 + 30
    assert samples.last_sample.startswith("hel") and set(samples.last_sample) <= set(data.itos)
    assert samples.last_sample.split("\n")[0] in logged
    # the character classes of every time step: a V × V matrix
    assert_png(acc, "confusion_matrix")
    tags = acc.Tags()
    assert "decision_boundary" not in tags["images"] and "conv/filters" not in tags["images"]
    assert "weights/rnn.weight_hh" in tags["histograms"]


def test_divergence_monitor_stops_cleanly(tmp_path):
    torch.manual_seed(0)
    model = DeepMLP(3, hidden=[16, 16], activation="identity", loss="mse")
    monitor = DivergenceMonitor()
    callbacks = [
        monitor,
        GradientCheck(every_n_steps=1),
        ParameterNorms(every_n_steps=1),
        Histograms(every_n_epochs=1),
        ScalarLayout(),
        ConfusionMatrix(),
        DecisionBoundary(every_n_epochs=1),
    ]
    trainer = fit(
        tmp_path, model, regression_data(), callbacks, max_steps=200, max_epochs=50, lr=1e6
    )
    assert monitor.diverged is True
    assert not math.isfinite(monitor.diverged_loss)
    assert 1 <= monitor.diverged_step == trainer.global_step < 20
    assert trainer.state.finished and trainer.current_epoch <= 3
    acc = events(tmp_path)
    ours = [
        t
        for t in acc.Tags()["scalars"]
        if t.split("/")[0] in ("gradcheck", "grad_norm", "weight_norm")
    ]
    assert ours
    for tag in ours:
        assert all(math.isfinite(v) for _, v in scalars(acc, tag)), tag
    # regression: no accuracy chart, no classification figures
    assert charts(acc) == {"loss": ["^train/loss$", "^val/loss$"]}
    assert acc.Tags()["images"] == []


def test_divergence_monitor_resets_and_can_be_disabled(tmp_path):
    torch.manual_seed(0)
    off = DivergenceMonitor(check_every_n_steps=0)
    model = DeepMLP(3, hidden=[4], activation="identity", loss="mse")
    trainer = fit(tmp_path, model, regression_data(), [off], max_steps=12, lr=1e6, logger=False)
    assert not off.diverged and trainer.global_step == 12


def test_divergence_monitor_max_loss_stops_a_finite_blow_up(tmp_path):
    torch.manual_seed(0)
    # any loss is above this bound: the first checked step stops the run, loss finite
    monitor = DivergenceMonitor(max_loss=1e-9)
    model = DeepMLP(3, hidden=[4], activation="identity", loss="mse")
    trainer = fit(tmp_path, model, regression_data(), [monitor], max_steps=12, logger=False)
    assert monitor.diverged and trainer.global_step == monitor.diverged_step == 1
    assert math.isfinite(monitor.diverged_loss) and monitor.diverged_loss > 1e-9
    # a bound the loss stays under changes nothing
    loose = DivergenceMonitor(max_loss=1e9)
    trainer = fit(tmp_path, model, regression_data(), [loose], max_steps=12, logger=False)
    assert not loose.diverged and trainer.global_step == 12


@pytest.mark.parametrize("logger", [False, "csv"])
def test_nothing_happens_without_tensorboard(tmp_path, logger):
    torch.manual_seed(0)
    callbacks = all_callbacks()
    if logger == "csv":
        logger = CSVLogger(tmp_path, name="csv")
    fit(tmp_path, DeepMLP(2, hidden=[4]), xor_data(), callbacks, max_steps=4, logger=logger)
    assert not (tmp_path / "tb").exists()
    # the check itself still runs: its result is an attribute for metrics.json
    assert callbacks[0].last_max_rel_diff is not None and callbacks[0].last_max_rel_diff < 1e-4
    assert callbacks[5].last is None  # confusion matrix: nothing to log to, nothing done


def test_plain_dataloaders_without_datamodule(tmp_path):
    torch.manual_seed(0)
    data = xor_data()
    loaders = {
        "train_dataloaders": data.train_dataloader(),
        "val_dataloaders": data.val_dataloader(),
    }
    callbacks = [*all_callbacks(), GradientCheck(every_n_steps=0)]
    fit(tmp_path, DeepMLP(2, hidden=[4]), None, callbacks, max_steps=4, **loaders)
    tags = events(tmp_path).Tags()
    assert "decision_boundary" not in tags["images"]  # needs the datamodule's X_train
    assert "confusion_matrix" in tags["images"]  # the model knows its task
    assert callbacks[-1].last is None  # every_n_steps=0 disables


def test_a_failing_callback_warns_and_training_goes_on(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cb, "gradient_check", broken)
    with pytest.warns(CallbackWarning, match="boom") as record:
        trainer = fit(tmp_path, DeepMLP(2, hidden=[4]), xor_data(), [GradientCheck(1)])
    assert trainer.global_step == 8
    assert sum(issubclass(w.category, CallbackWarning) for w in record) == 1  # once


# ------------------------------------------------------- the gradient check itself
DROPOUT_BN = {"hidden": [8, 8], "batch_norm": True, "dropout": 0.3, "activation": "tanh"}


@pytest.mark.parametrize(
    "hparams",
    [
        pytest.param({"hidden": [8, 8], "activation": "relu"}, id="plain"),
        pytest.param(DROPOUT_BN, id="bn-dropout", marks=needs_manual("batch_norm", "dropout")),
    ],
)
def test_gradient_check_leaves_model_grads_and_rng_alone(hparams):
    torch.manual_seed(0)
    model = DeepMLP(4, out_features=3, **hparams)
    X, Y = torch.randn(16, 4), torch.randint(3, (16,))
    model.loss(model(X), Y).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    state = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()

    result = gradient_check(model, X, Y)

    assert result.max_rel_diff < 1e-4 and result.max_abs_diff < 1e-5
    assert set(result.per_param) == set(grads) and result.worst_param in grads
    assert result.loss_manual == pytest.approx(result.loss_autograd, rel=1e-5)
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.backward == "manual" and model.training
    for name, p in model.named_parameters():
        assert torch.equal(p.grad, grads[name]), name
    for key, value in model.state_dict().items():  # weights and batch-norm statistics
        assert torch.equal(value, state[key]), key


def test_gradient_check_is_not_fooled_by_a_wrong_backward(monkeypatch):
    """A deliberately wrong hand-written derivative shows up as a large difference."""
    from dlnotes.functional import activations

    torch.manual_seed(0)
    model = DeepMLP(3, hidden=[5], activation="tanh")
    X, Y = torch.randn(10, 3), torch.randint(2, (10,)).float()
    assert gradient_check(model, X, Y).max_rel_diff < 1e-4

    real = activations.tanh

    def wrong_tanh(x: torch.Tensor) -> torch.Tensor:
        return real(x) * 1.0 + (x - x.detach()) * 0.5  # same value, derivative off by 0.5

    monkeypatch.setattr(dlnotes.functional, "tanh", wrong_tanh)
    result = gradient_check(model, X, Y)
    assert result.max_rel_diff > 1e-2 and result.worst_param.startswith("body.0")


# ----------------------------------------------------------------- plots and args
def test_plots_render_and_restore_the_model():
    torch.manual_seed(0)
    data = blobs_data()
    model = ShallowMLP(2, hidden=4, out_features=3)
    fig = plots.decision_boundary_figure(model, data.X_train, data.y_train, 16, "blobs")
    image = plots.figure_to_image(fig)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert model.training  # eval only during the plot
    binary = DeepMLP(2, hidden=[3])
    fig = plots.decision_boundary_figure(binary, torch.zeros(5, 2), torch.zeros(5), 8)
    assert plots.figure_to_image(fig).shape[2] == 3  # all points equal: a unit margin
    with pytest.raises(ValueError, match="2-D"):
        plots.decision_boundary_figure(binary, torch.zeros(5, 3), torch.zeros(5), 8)
    for weight in (torch.randn(6, 1, 5, 5), torch.randn(4, 3, 3, 3), torch.randn(2, 2, 3, 3)):
        plots.figure_to_image(plots.conv_filters_figure(weight, "filters"))
    plots.figure_to_image(plots.feature_maps_figure(torch.randn(5, 7, 7)))
    big = torch.randint(10, (41, 41))  # no numbers in the cells, no tick labels
    plots.figure_to_image(plots.confusion_matrix_figure(big, [chr(65 + k) for k in range(41)]))
    small = plots.confusion_matrix_figure(np.eye(3), ["\n", " ", "a"], normalize=True)
    plots.figure_to_image(small)
    assert plots.image_for_display(torch.randn(1, 12, 12)).shape == (1, 120, 120)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: GradientCheck(-1),
        lambda: ParameterNorms(every_n_steps=1.5),
        lambda: Histograms(every_n_epochs=-2),
        lambda: DecisionBoundary(resolution=1),
        lambda: TextSamples(length=0),
        lambda: TextSamples(temperature=0.0),
        lambda: DivergenceMonitor(check_every_n_steps=-1),
        lambda: DivergenceMonitor(max_loss=0),
        lambda: DivergenceMonitor(max_loss="big"),
    ],
)
def test_bad_arguments_are_refused(factory):
    with pytest.raises(ValueError):
        factory()


def test_registry_names_every_callback():
    assert set(cb.CALLBACKS.values()) == {
        GradientCheck,
        ParameterNorms,
        Histograms,
        DecisionBoundary,
        ConvVisuals,
        ConfusionMatrix,
        TextSamples,
        ScalarLayout,
        DivergenceMonitor,
    }
