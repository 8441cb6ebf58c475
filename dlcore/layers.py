"""Layers in the CS231n pattern: ``forward`` keeps a cache, ``backward(dy)`` returns ``dx``.

A layer holds its parameters in ``.params`` (name -> ndarray) and, after ``backward``, their
gradients in ``.grads`` (same names and shapes). Each ``backward`` *overwrites* ``.grads``:
calling it twice gives the same numbers, nothing accumulates. State that is not trained (batch
norm's running statistics) lives in ``.buffers``. ``.training`` says whether the layer is in
training mode (the default) or eval mode (``layer.eval()``): only Dropout and BatchNorm care.

This module names every layer: Dense; Sigmoid, Tanh, ReLU, LeakyReLU; Flatten; Conv2D, ConvTranspose2D,
MaxPool2D (from ``dlcore.convolution``); Dropout (from ``dlcore.regularisation``); BatchNorm1D,
BatchNorm2D (from ``dlcore.normalisation``); Embedding, PositionalEmbedding, LayerNorm, SelfAttention (from
``dlcore.attention``). Containers (Sequential, Residual) live in ``dlcore.model``.

dtype: parameters are created in ``dtype`` (float64 unless you ask for float32). A layer computes
in its *input's* dtype: float32 in -> float32 out and float32 grads. If the input dtype differs
from the parameters', the parameters are cast on the fly (a copy per call), so for speed build the
model in the dtype you feed it (``MLP(..., dtype=np.float32)`` or ``model.astype(np.float32)``).
"""

import numpy as np

from . import functional as F
from .checks import float_dtype, positive_int
from .init import initialise


def _rng(rng: np.random.Generator | int | None, seed: int | None) -> np.random.Generator:
    """A Generator from ``rng`` (a Generator or an int seed), else from ``seed``, else fresh."""
    return np.random.default_rng(rng if rng is not None else seed)


def _float_input(x, dtype) -> np.ndarray:
    """``x`` as a float array: float inputs keep their dtype, integer/bool inputs become ``dtype``."""
    x = np.asarray(x)
    if x.dtype.kind == "f":
        return x
    if x.dtype.kind in "iub":
        return x.astype(dtype)
    raise TypeError(f"expected a numeric array, got dtype {x.dtype}")


class Layer:
    """Base class. Subclasses set ``self.params`` (and ``self.buffers``) and implement ``forward`` /
    ``backward``."""

    training: bool = True  # train mode (the default) or eval mode

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}  # state that is not trained (e.g. running statistics)
        self.training = True
        self.cache = None  # whatever forward saves for backward

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy = dLoss/dy (shape of forward's output) -> dx = dLoss/dx; fills ``self.grads``.
        Layers with parameters also accept ``input_grad=False`` to skip dx (see Sequential.backward)."""
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def train(self, mode: bool = True) -> "Layer":
        """Training mode (``mode=True``) or eval mode (``False``). Returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> "Layer":
        """Eval mode: ``train(False)``. Returns self."""
        return self.train(False)

    def astype(self, dtype) -> "Layer":
        """Convert the parameters and buffers to ``dtype`` (new arrays unless already ``dtype``: do this
        before building an optimiser)."""
        float_dtype(dtype)
        self.params = {name: p.astype(dtype, copy=False) for name, p in self.params.items()}
        self.buffers = {name: b.astype(dtype, copy=False) for name, b in getattr(self, "buffers", {}).items()}
        self.grads = {}
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- helpers for subclasses
    def _saved(self):
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward()")
        return self.cache

    def _param(self, name: str, dtype) -> np.ndarray:
        """Parameter ``name`` in the compute dtype (the array itself when dtypes already agree)."""
        p = self.params[name]
        return p if p.dtype == dtype else p.astype(dtype)

    def _check_dy(self, dy, shape: tuple, dtype) -> np.ndarray:
        dy = np.asarray(dy, dtype=dtype)
        if dy.shape != tuple(shape):
            raise ValueError(f"{type(self).__name__}.backward: dy has shape {dy.shape}, "
                             f"but forward returned {tuple(shape)}")
        return dy


# ----------------------------------------------------------------------------- dense


class Dense(Layer):
    """Fully connected layer y = x @ W + b.

    x: (N, n_in) -> y: (N, n_out).   W: (n_in, n_out), b: (n_out,).
    Like ``torch.nn.Linear``, a (N, ..., n_in) input works too (say (N, T, d), a sequence): the same
    weights act on each position's last axis, and the gradients sum over every position.
    (PyTorch's ``Linear.weight`` is W transposed.)
    """

    def __init__(self, n_in: int, n_out: int, init: str = "he", rng=None, seed: int | None = None,
                 dtype=np.float64):
        super().__init__()
        n_in, n_out = positive_int(n_in, "Dense n_in"), positive_int(n_out, "Dense n_out")
        dtype = float_dtype(dtype)
        self.n_in, self.n_out = n_in, n_out
        W = initialise((n_in, n_out), init, _rng(rng, seed), dtype)
        self.params = {"W": W, "b": np.zeros(n_out, dtype=dtype)}

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _float_input(x, self.params["W"].dtype)
        if x.ndim < 2 or x.shape[-1] != self.n_in:
            raise ValueError(f"{self!r} expects input of shape (N, {self.n_in}) (or (N, ..., {self.n_in})), "
                             f"got {x.shape}")
        self.cache = x
        y = x @ self._param("W", x.dtype)
        y += self._param("b", x.dtype)
        return y

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dy: (N, n_out) -> dx: (N, n_in). ``input_grad=False`` skips dx (a first layer doesn't need it)."""
        x = self._saved()
        dy = self._check_dy(dy, x.shape[:-1] + (self.n_out,), x.dtype)
        x2, dy2 = x.reshape(-1, self.n_in), dy.reshape(-1, self.n_out)  # every position is a row
        self.grads = {"W": x2.T @ dy2, "b": dy2.sum(axis=0)}
        return dy @ self._param("W", x.dtype).T if input_grad else None

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out})"


# ----------------------------------------------------------------------------- activations


class Sigmoid(Layer):
    """y = 1 / (1 + e^-x), any shape. Backward uses the cached output: dx = dy * y * (1 - y).

    ``.logits`` keeps the last input x: ``fit`` and ``evaluate`` hand it to ``BCEWithLogits`` when this
    Sigmoid ends a model trained with BinaryCrossEntropy (y * (1 - y) is 0 once |x| > ~37).
    """

    logits = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _float_input(x, np.float64)
        y = F.sigmoid(x)
        self.cache, self.logits = y, x
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        y = self._saved()
        dy = self._check_dy(dy, y.shape, y.dtype)
        return dy * y * (1 - y)


class Tanh(Layer):
    """y = tanh(x), any shape. dx = dy * (1 - y^2)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = np.tanh(_float_input(x, np.float64))
        self.cache = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        y = self._saved()
        dy = self._check_dy(dy, y.shape, y.dtype)
        return dy * (1 - y * y)


class ReLU(Layer):
    """y = max(x, 0), any shape. dx = dy where x > 0, else 0."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _float_input(x, np.float64)
        self.cache = x > 0  # the mask is all backward needs
        return np.maximum(x, 0)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        mask = self._saved()
        dy = np.asarray(dy)
        dy = self._check_dy(dy, mask.shape, dy.dtype if dy.dtype.kind == "f" else np.float64)
        return dy * mask


class LeakyReLU(Layer):
    """y = x for x > 0, negative_slope * x otherwise (any shape)."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _float_input(x, np.float64)
        self.cache = x > 0
        return np.where(self.cache, x, self.negative_slope * x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        mask = self._saved()
        dy = np.asarray(dy)
        dy = self._check_dy(dy, mask.shape, dy.dtype if dy.dtype.kind == "f" else np.float64)
        return np.where(mask, dy, self.negative_slope * dy)

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"


# ----------------------------------------------------------------------------- shapes


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...), C-order like ``torch.flatten(x, 1)``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 1:
            raise ValueError("Flatten expects input of shape (N, ...), got a scalar")
        self.cache = x.shape
        return x.reshape(len(x), int(np.prod(x.shape[1:])))  # not -1: that fails for N = 0

    def backward(self, dy: np.ndarray) -> np.ndarray:
        shape = self._saved()
        dy = np.asarray(dy)
        if dy.size != np.prod(shape) or len(dy) != shape[0]:
            raise ValueError(f"Flatten.backward: dy has shape {dy.shape}, forward input was {shape}")
        return dy.reshape(shape)


# the layers of their own modules (imported last: they build on Layer above)
from .attention import Embedding, LayerNorm, PositionalEmbedding, SelfAttention  # noqa: E402
from .convolution import Conv2D, ConvTranspose2D, MaxPool2D  # noqa: E402
from .normalisation import BatchNorm1D, BatchNorm2D  # noqa: E402
from .regularisation import Dropout  # noqa: E402

__all__ = ["Layer", "Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Conv2D", "ConvTranspose2D", "MaxPool2D",
           "Flatten", "Dropout", "BatchNorm1D", "BatchNorm2D",
           "Embedding", "PositionalEmbedding", "LayerNorm", "SelfAttention"]
