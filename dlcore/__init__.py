"""dlcore: the small numpy deep-learning library of *Deep Learning from First Principles*.

One module per idea: ``functional`` (activations, softmax, im2col), ``init`` (initialisers),
``layers``, ``losses``, ``model`` (Sequential, MLP), ``optim`` (SGD, Adam), ``train`` (fit),
``gradcheck`` and ``parallel`` (the convolution's chunks on all cores). Samples are rows: dense
inputs are (N, features), images (N, C, H, W).

``dlcore.data``, ``viz``, ``widgets``, ``cnnviz`` and ``torch_models`` are loaded on first use
(they need extra packages), and nothing in dlcore imports torch at import time.

Errors (the full rules are in ``dlcore.checks``): the wrong kind of thing is a TypeError, a wrong
value (shape, size < 1, hyper-parameter out of range, NaN/inf in the data, a bad environment
variable) a ValueError naming it. An empty batch gives an empty result where the result is per
sample (layers, ``forward``, ``predict``) and a ValueError where it is a mean (losses, ``accuracy``,
``evaluate``, ``fit``). A diverging run is a FloatingPointError. ``load`` is all or nothing.
"""

import importlib

from . import checks, functional, gradcheck, init, layers, losses, model, optim, parallel, train
from .layers import Conv2D, Dense, Flatten, Layer, LeakyReLU, MaxPool2D, ReLU, Sigmoid, Tanh
from .losses import BCEWithLogits, BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy
from .model import MLP, Sequential
from .optim import SGD, Adam
from .train import History, accuracy, evaluate, fit, predict

__version__ = "0.1.0"

_LAZY_MODULES = ("data", "viz", "widgets", "cnnviz", "torch_models")

__all__ = [
    "checks", "functional", "gradcheck", "init", "layers", "losses", "model", "optim", "parallel", "train",
    "Layer", "Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Conv2D", "MaxPool2D", "Flatten",
    "BinaryCrossEntropy", "BCEWithLogits", "SoftmaxCrossEntropy", "MeanSquaredError",
    "Sequential", "MLP", "SGD", "Adam", "History", "fit", "predict", "accuracy", "evaluate",
]


def __getattr__(name: str):
    """Import ``dlcore.data`` / ``viz`` / ``widgets`` only when first used."""
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
