"""Models: a ``Sequential`` stack of layers, ``Residual`` (y = f(x) + x), and ``MLP`` which builds a
Sequential from a list of sizes."""

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .checks import positive_int
from .layers import Dense, Layer, LeakyReLU, ReLU, Sigmoid, Tanh, _float_input

ACTIVATIONS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "leaky_relu": LeakyReLU}


class _SavedWeights(dict):
    """The arrays of a weights file, read into memory (``.files`` like ``np.load``'s NpzFile)."""

    @property
    def files(self) -> list[str]:
        return list(self)

    def __enter__(self) -> "_SavedWeights":
        return self

    def __exit__(self, *exc) -> None:
        return None


def _read_weights(path: Path) -> _SavedWeights:
    """Every array of the ``.npz`` file ``path``, checked: real floating dtype, finite values.

    Anything else (an ``.npy`` or other file, a damaged zip, a pickled or complex or integer array,
    NaN/inf) is a ValueError that names the file and the tensor, raised before the model is touched.
    """
    if not path.is_file():
        raise FileNotFoundError(f"no weights file {path}")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            what = "a single .npy array" if f.read(6) == b"\x93NUMPY" else "not an .npz archive"
        raise ValueError(f"{path} is {what}; load() expects the .npz file written by save()")
    saved = _SavedWeights()
    try:
        with np.load(path, allow_pickle=False) as npz:
            for name in npz.files:
                saved[name] = npz[name]
    except Exception as err:  # zipfile and numpy raise many types on damaged files (BadZipFile, zlib.error,
        # struct.error, NotImplementedError for a garbled "zip version", ...): all mean "damaged"
        raise ValueError(f"{path} is damaged or not a weights file written by save(): "
                         f"{type(err).__name__}: {err}") from None
    for name, a in saved.items():
        if a.dtype.kind != "f":
            raise ValueError(f"{path}: tensor {name!r} has dtype {a.dtype}; weights must be real floats")
        if not np.isfinite(a).all():
            raise ValueError(f"{path}: tensor {name!r} contains NaN or inf; refusing to load it")
    return saved


class Sequential:
    """Layers applied in order. ``forward`` runs them first to last, ``backward`` last to first.

    ``.params`` / ``.grads`` / ``.buffers`` are flat dicts named ``"<layer index>.<name>"`` (e.g. ``"0.W"``,
    ``"3.running_mean"``) whose values are the layers' own arrays, so updating them in place updates the
    model. ``train()`` / ``eval()`` set the mode of every layer, nested ones included.
    """

    def __init__(self, *layers: Layer):
        self.layers = list(layers)
        self.training = True

    def train(self, mode: bool = True) -> "Sequential":
        """Training mode (``mode=True``) or eval mode for every layer. Returns self."""
        self.training = bool(mode)
        for layer in self.layers:
            _set_mode(layer, self.training)
        return self

    def eval(self) -> "Sequential":
        """Eval mode for every layer: ``train(False)``. Returns self."""
        return self.train(False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate ``dy = dLoss/dOutput``; fills every layer's ``.grads``; returns dLoss/dInput.

        Training never needs dLoss/dInput (the data is not learned), so ``fit`` passes
        ``input_grad=False``: we stop at the first layer with parameters and skip its dx, which is the
        biggest matmul of an MLP's first layer (784 inputs) and the col2im of a first conv.
        """
        if input_grad:
            for layer in reversed(self.layers):
                dy = layer.backward(dy)
            return dy
        learnable = [i for i, layer in enumerate(self.layers) if layer.params]
        if learnable:
            first = learnable[0]
            for layer in reversed(self.layers[first + 1 :]):
                dy = layer.backward(dy)
            self.layers[first].backward(dy, input_grad=False)
        return None

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {f"{i}.{name}": p for i, layer in enumerate(self.layers) for name, p in layer.params.items()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return {f"{i}.{name}": g for i, layer in enumerate(self.layers) for name, g in layer.grads.items()}

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """State that is not trained (e.g. ``"3.running_mean"``), named like ``params``."""
        return {f"{i}.{name}": b for i, layer in enumerate(self.layers)
                for name, b in getattr(layer, "buffers", {}).items()}

    def astype(self, dtype) -> "Sequential":
        """Convert every parameter and buffer to ``dtype`` (before building an optimiser). Returns self."""
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def save(self, path) -> None:
        """Write the parameters and buffers to an ``.npz`` file (plain arrays, no pickle)."""
        np.savez(path, **self.params, **self.buffers)

    def load(self, path) -> "Sequential":
        """Read parameters and buffers saved by ``save`` into this model, in place. Every name and shape
        must match (so a file without buffers loads only into a model without buffers)."""
        path = Path(path)
        if not path.exists() and path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")  # np.savez adds the suffix, so accept the same name
        with _read_weights(path) as saved:  # every array read and checked here: load is all or nothing
            tensors = {**self.params, **self.buffers}
            missing = sorted(set(tensors) - set(saved.files))
            unexpected = sorted(set(saved.files) - set(tensors))
            if missing or unexpected:
                raise ValueError(f"{path}: parameter names differ from the model: "
                                 f"missing {missing}, unexpected {unexpected}")
            for name, p in tensors.items():
                if saved[name].shape != p.shape:
                    raise ValueError(f"{path}: tensor {name!r} has shape {saved[name].shape}, "
                                     f"the model expects {p.shape}")
            for name, p in tensors.items():
                p[...] = saved[name]  # in place: keeps dtype and array identity
        return self

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self) -> str:
        n = sum(p.size for p in self.params.values())
        lines = "".join(f"\n  ({i}) {_indent(repr(layer))}" for i, layer in enumerate(self.layers))
        return f"{type(self).__name__}({lines}\n)  # {n:,} parameters"


def _set_mode(module, training: bool) -> None:
    """``module.train(training)`` for anything that has modes (layers without ``train`` are left alone)."""
    train = getattr(module, "train", None)
    if callable(train):
        train(training)


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


class Residual(Layer):
    """A residual block: y = f(x) + x, or y = f(x) + projection(x) when the shapes differ.

    ``f`` and ``projection`` are layers or Sequentials; the projection (e.g. a Dense, or a 1x1 Conv2D
    with a stride) maps x to f(x)'s shape. The gradient flows through both branches and adds up:
    dx = f.backward(dy) + dy  (or + projection.backward(dy)): the skip carries dy back unchanged.

    ``params`` / ``grads`` / ``buffers`` are dicts of the branches' own arrays named ``"f.<name>"`` and
    ``"projection.<name>"``, so in a Sequential they read e.g. ``"2.f.0.W"``.
    """

    def __init__(self, f, projection=None):
        # no Layer.__init__: params, grads and buffers are views of the branches (properties below)
        self.f, self.projection = f, projection
        self.training = True
        self.cache = None

    def _branches(self) -> dict:
        return {"f": self.f} if self.projection is None else {"f": self.f, "projection": self.projection}

    def _collect(self, what: str) -> dict[str, np.ndarray]:
        return {f"{part}.{name}": a for part, m in self._branches().items()
                for name, a in getattr(m, what, {}).items()}

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self._collect("params")

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return self._collect("grads")

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        return self._collect("buffers")

    def train(self, mode: bool = True) -> "Residual":
        """Training or eval mode for both branches. Returns self."""
        self.training = bool(mode)
        for m in self._branches().values():
            _set_mode(m, self.training)
        return self

    def astype(self, dtype) -> "Residual":
        """Convert both branches' parameters and buffers to ``dtype``. Returns self."""
        for m in self._branches().values():
            m.astype(dtype)
        return self

    def forward(self, x: np.ndarray) -> np.ndarray:
        fx = self.f.forward(x)
        skip = _float_input(x, fx.dtype) if self.projection is None else self.projection.forward(x)
        if fx.shape != skip.shape:
            what = "x" if self.projection is None else f"projection(x) ({self.projection!r})"
            hint = "" if self.projection is not None else "; give a projection (e.g. a Dense or a 1x1 Conv2D)"
            raise ValueError(f"Residual: f(x) has shape {fx.shape} but {what} has shape {skip.shape}: "
                             f"they must match to be added{hint}")
        self.cache = (fx.shape, np.result_type(fx, skip))
        return fx + skip

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dy -> dx = f.backward(dy) + dy (or + projection.backward(dy)); fills both branches' grads.
        ``input_grad=False`` only fills the grads (branches without parameters are skipped)."""
        shape, dtype = self._saved()
        dy = self._check_dy(dy, shape, dtype)
        if not input_grad:
            for m in self._branches().values():
                if m.params:
                    m.backward(dy, input_grad=False)
            return None
        dx = self.f.backward(dy)
        return dx + (dy if self.projection is None else self.projection.backward(dy))

    def __repr__(self) -> str:
        proj = "" if self.projection is None else f",\n  projection={_indent(repr(self.projection))}"
        return f"Residual(\n  f={_indent(repr(self.f))}{proj}\n)"


class MLP(Sequential):
    """Multi-layer perceptron: Dense layers of ``sizes`` with ``activation`` between them.

    ``MLP([2, 16, 1])`` = Dense(2, 16) -> Sigmoid -> Dense(16, 1) -> Sigmoid.
    ``output`` is the last activation: "sigmoid" (for BinaryCrossEntropy), or None / "linear" for
    raw logits (for SoftmaxCrossEntropy). ``init`` defaults to "he" for relu/leaky_relu and
    "xavier" for sigmoid/tanh. All weights come from one Generator seeded with ``seed``.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "sigmoid", output: str | None = "sigmoid",
                 init: str | None = None, seed: int | None = 0, dtype=np.float64):
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least [n_in, n_out], got {sizes}")
        for i, n in enumerate(sizes):
            try:
                positive_int(n, "size")
            except (TypeError, ValueError):
                raise ValueError(f"MLP sizes must be positive integers; "
                                 f"sizes[{i}] is {n!r} in {list(sizes)}") from None
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        if output not in (None, "linear") and output not in ACTIVATIONS:
            raise ValueError(f"unknown output {output!r}; "
                             f"choose None, 'linear' or one of {sorted(ACTIVATIONS)}")
        if init is None:
            init = "he" if activation in ("relu", "leaky_relu") else "xavier"
        rng = np.random.default_rng(seed)
        layers: list[Layer] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(Dense(n_in, n_out, init=init, rng=rng, dtype=dtype))
            last = i == len(sizes) - 2
            act = output if last else activation
            if act not in (None, "linear"):
                layers.append(ACTIVATIONS[act]())
        super().__init__(*layers)
        self.sizes, self.activation, self.output = list(sizes), activation, output
