"""Layers over :mod:`dlnotes.functional`, each with ``backward="manual" | "autograd"``."""

from dlnotes.nn._switch import BACKWARDS, Switchable, ops, set_backward
from dlnotes.nn.activation import ACTIVATIONS, Activation
from dlnotes.nn.conv import Conv2d
from dlnotes.nn.dropout import Dropout
from dlnotes.nn.linear import Linear
from dlnotes.nn.norm import BatchNorm1d, BatchNorm2d
from dlnotes.nn.pool import AvgPool2d, MaxPool2d
from dlnotes.nn.rnn import ElmanRNN

__all__ = [
    "ACTIVATIONS",
    "BACKWARDS",
    "Activation",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "ElmanRNN",
    "Linear",
    "MaxPool2d",
    "Switchable",
    "ops",
    "set_backward",
]
