"""dlcore: the small numpy deep-learning library of *Deep Learning from First Principles*.

One module per idea: ``functional`` (activations, softmax, im2col), ``init`` (initialisers),
``layers`` (which names every layer), ``convolution`` (Conv2D, ConvTranspose2D, MaxPool2D),
``regularisation`` (Dropout), ``normalisation`` (BatchNorm1D, BatchNorm2D), ``attention``
(Embedding, PositionalEmbedding, LayerNorm, SelfAttention), ``losses``, ``metrics``
(segmentation: confusion matrix, IoU, Dice), ``text`` (character and BPE tokenizers, language-model data
sets, sampling), ``model`` (Sequential, Residual, MLP), ``optim`` (SGD,
Adam, AdamW), ``schedules`` (learning-rate schedules, the lr range test), ``augment`` (random shifts
and flips), ``train`` (fit, EarlyStopping), ``gradcheck`` and ``parallel`` (the convolution's chunks
on all cores).
Samples are rows: dense inputs are (N, features), images (N, C, H, W), sequences (N, T, d).

``dlcore.data``, ``viz``, ``widgets``, ``cnnviz`` and ``torch_models`` are loaded on first use
(they need extra packages), and nothing in dlcore imports torch at import time.

Errors (the full rules are in ``dlcore.checks``): the wrong kind of thing is a TypeError, a wrong
value (shape, size < 1, hyper-parameter out of range, NaN/inf in the data, a bad environment
variable) a ValueError naming it. An empty batch gives an empty result where the result is per
sample (layers, ``forward``, ``predict``) and a ValueError where it is a mean (losses, ``accuracy``,
``evaluate``, ``fit``). A diverging run is a FloatingPointError. ``load`` is all or nothing.
"""

import importlib

from . import layers  # first: the layers of convolution, normalisation, regularisation, attention build on it

# isort: split
from . import (
    attention,
    augment,
    checks,
    convolution,
    functional,
    gradcheck,
    init,
    losses,
    metrics,
    model,
    normalisation,
    optim,
    parallel,
    regularisation,
    schedules,
    text,
    train,
)
from .augment import random_shift_flip
from .layers import (
    BatchNorm1D,
    BatchNorm2D,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Layer,
    LayerNorm,
    LeakyReLU,
    MaxPool2D,
    PositionalEmbedding,
    ReLU,
    SelfAttention,
    Sigmoid,
    Tanh,
)
from .losses import (
    BCEWithLogits,
    BinaryCrossEntropy,
    MeanSquaredError,
    NTXent,
    PixelCrossEntropy,
    SequenceCrossEntropy,
    SoftmaxCrossEntropy,
)
from .model import MLP, Residual, Sequential
from .optim import SGD, Adam, AdamW
from .train import EarlyStopping, History, accuracy, evaluate, fit, predict

__version__ = "0.1.0"

_LAZY_MODULES = ("data", "viz", "widgets", "cnnviz", "torch_models")

__all__ = [
    "checks", "functional", "gradcheck", "init", "layers", "losses", "model", "optim", "parallel", "train",
    "regularisation", "normalisation", "schedules", "augment", "convolution", "metrics",
    "attention", "text",
    "Layer", "Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Conv2D", "ConvTranspose2D", "MaxPool2D",
    "Flatten", "Dropout", "BatchNorm1D", "BatchNorm2D", "Embedding", "PositionalEmbedding", "LayerNorm",
    "SelfAttention", "BinaryCrossEntropy", "BCEWithLogits", "SoftmaxCrossEntropy", "PixelCrossEntropy",
    "SequenceCrossEntropy", "MeanSquaredError", "NTXent",
    "Sequential", "Residual", "MLP", "SGD", "Adam", "AdamW", "History", "EarlyStopping",
    "fit", "predict", "accuracy", "evaluate", "random_shift_flip",
]


def __getattr__(name: str):
    """Import ``dlcore.data`` / ``viz`` / ``widgets`` only when first used."""
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
