"""The five model families of the notes, each with ``backward="manual" | "autograd"``."""

from dlnotes.models.base import LOSSES, Model
from dlnotes.models.lenet import LeNet
from dlnotes.models.logistic import LogisticRegression
from dlnotes.models.mlp import DeepMLP, ShallowMLP
from dlnotes.models.rnn import ElmanRNN

MODELS: dict[str, type[Model]] = {
    "logistic_regression": LogisticRegression,
    "shallow_mlp": ShallowMLP,
    "deep_mlp": DeepMLP,
    "lenet": LeNet,
    "elman_rnn": ElmanRNN,
}

__all__ = [
    "LOSSES",
    "MODELS",
    "DeepMLP",
    "ElmanRNN",
    "LeNet",
    "LogisticRegression",
    "Model",
    "ShallowMLP",
]
