"""The training loop: ``fit`` runs mini-batch gradient descent and records a ``History``; ``EarlyStopping``.

Modes: ``fit`` trains in training mode and leaves the model in eval mode; ``evaluate``, ``predict`` and
``accuracy`` run in eval mode and then restore the model's mode (models without ``train``/``eval`` work too).
"""

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .checks import env_flag, finite_data, nonempty, positive_int
from .layers import Sigmoid
from .losses import BCEWithLogits, BinaryCrossEntropy
from .model import Sequential, _set_mode


@dataclass
class History:
    """Per-epoch metrics recorded by ``fit`` (validation lists stay empty without validation data; ``lr``,
    the learning rate of each epoch's last step, stays empty without an lr schedule)."""

    loss: list[float] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)

    def last(self) -> dict[str, float]:
        """The latest value of every recorded metric, e.g. ``{"loss": 0.31, "acc": 0.89}``."""
        return {name: values[-1] for name, values in vars(self).items() if values}

    def __len__(self) -> int:
        return len(self.loss)

    def __repr__(self) -> str:
        metrics = ", ".join(f"{name}={value:.4g}" if name == "lr" else f"{name}={value:.4f}"
                            for name, value in self.last().items())
        return f"History(epochs={len(self)}{', ' if metrics else ''}{metrics})"


def _labels(out: np.ndarray) -> np.ndarray:
    """Class labels from model outputs: argmax over K > 1 columns, else threshold 0.5 (one sigmoid)."""
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(axis=1)
    return (out.reshape(len(out)) > 0.5).astype(np.int64)


def _n_correct(out: np.ndarray, y: np.ndarray) -> float:
    """How many predicted labels equal ``y``; NaN when ``y`` is not one label per sample (regression)."""
    y = np.asarray(y)
    if y.size != len(out):
        return np.nan
    return float((_labels(out) == y.reshape(len(out))).sum())


@contextmanager
def eval_mode(model) -> Iterator:
    """``with eval_mode(model):`` runs the block in eval mode, then restores the model's mode."""
    before = getattr(model, "training", True)
    _set_mode(model, False)
    try:
        yield model
    finally:
        _set_mode(model, before)


def _logits_loss(model, loss_fn) -> BCEWithLogits | None:
    """A ``BCEWithLogits`` to use instead of ``loss_fn`` when the model ends in a Sigmoid and the loss is
    BinaryCrossEntropy (the same loss, without the saturation at |logit| > ~37); else None."""
    layers = getattr(model, "layers", None)
    if type(loss_fn) is BinaryCrossEntropy and layers and isinstance(layers[-1], Sigmoid):
        return BCEWithLogits()
    return None


def _loss(model, loss_fn, fused: BCEWithLogits | None, out: np.ndarray, y: np.ndarray) -> float:
    """The loss of a batch whose output ``out`` the model just computed; NaN if the output is NaN/inf."""
    if fused is None:
        return loss_fn(out, y) if np.isfinite(out).all() else np.nan
    z = model.layers[-1].logits  # the final Sigmoid's input
    return fused(z, y) if np.isfinite(z).all() else np.nan


def _backward(model, loss_fn, fused: BCEWithLogits | None) -> None:
    """Backpropagate the last loss into the model's ``.grads`` (never d loss / d X)."""
    if fused is None:
        model.backward(loss_fn.backward(), input_grad=False)
    else:  # d loss / d z = (p - y) / N exactly, handed to the layer below the Sigmoid
        Sequential(*model.layers[:-1]).backward(fused.backward(), input_grad=False)


def _check_data(X, y, name: str = "X", yname: str = "y") -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"{name} has {len(X)} samples but {yname} has {len(y)}")
    finite_data(X, name)
    finite_data(y, yname)
    return X, y


def predict(model, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predicted class labels (N,): argmax for K-class outputs, ``> 0.5`` for one sigmoid output.
    An empty X (0 samples) gives an empty array of labels."""
    batch_size = positive_int(batch_size, "batch_size")
    batches = range(0, len(X), batch_size)
    with eval_mode(model):
        labels = [_labels(model.forward(X[i : i + batch_size])) for i in batches]
    return np.concatenate(labels) if labels else np.empty(0, dtype=np.int64)


def accuracy(model, X: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Fraction of samples whose predicted label equals ``y`` (labels (N,) or (N, 1)).
    Raises ValueError for 0 samples or when y does not hold one label per sample."""
    nonempty(len(X), "accuracy")
    y = np.asarray(y)
    if y.size != len(X) or (y.ndim > 1 and y.shape != (len(X), 1)):
        raise ValueError(f"accuracy: X has {len(X)} samples but y has shape {y.shape} (need {len(X)} labels)")
    return float(np.mean(predict(model, X, batch_size) == y.reshape(len(X))))


def evaluate(model, loss_fn, X: np.ndarray, y: np.ndarray, batch_size: int = 256) -> tuple[float, float]:
    """(mean loss, accuracy) over a data set, in batches (no gradients, no updates).

    A model ending in a Sigmoid with BinaryCrossEntropy is scored on its logits (see ``fit``).
    Raises ValueError for 0 samples, mismatched lengths or NaN/inf in X or y, and FloatingPointError
    when the model's output is NaN/inf (diverged weights)."""
    X, y = _check_data(X, y)
    nonempty(len(X), "evaluate")
    batch_size = positive_int(batch_size, "batch_size")
    fused = _logits_loss(model, loss_fn)
    total_loss, correct = 0.0, 0
    with eval_mode(model):
        for i in range(0, len(X), batch_size):
            out = model.forward(X[i : i + batch_size])
            loss = _loss(model, loss_fn, fused, out, y[i : i + batch_size])
            if not np.isfinite(loss):
                raise FloatingPointError("evaluate: the model's output is NaN/inf (its weights diverged?)")
            total_loss += loss * len(out)
            correct += _n_correct(out, y[i : i + batch_size])
    return total_loss / len(X), correct / len(X)


def fit(model, loss_fn, optimizer, X: np.ndarray, y: np.ndarray, epochs: int, batch_size: int | None = None,
        X_val: np.ndarray | None = None, y_val: np.ndarray | None = None, shuffle: bool = True, seed: int = 0,
        callbacks: Iterable[Callable] = (), progress: bool = False,
        lr_schedule: Callable[[int], float] | None = None,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None) -> History:
    """Train ``model`` with mini-batch gradient descent; returns the per-epoch ``History``.

    batch_size=None uses the whole data set per step (full-batch gradient descent).
    Each epoch visits the samples in a fresh random order (``shuffle``, seeded by ``seed``).
    The model trains in training mode (``model.train()`` at the start of every epoch); validation runs
    in eval mode, and the model is left in eval mode.
    ``lr_schedule(step)`` (step = 0, 1, ... counts batches across epochs) sets ``optimizer.lr`` before
    every step; ``history.lr`` records the lr of each epoch's last step (see ``dlcore.schedules``).
    ``augment(xb, rng)`` transforms every training batch (never the validation data), with fit's seeded rng.
    After every epoch each callback is called as ``cb(epoch, model, history)`` (epoch counts from 0);
    a callback returning True stops training. A callback with an ``on_train_end(model, history)`` method
    (e.g. ``EarlyStopping``) has it called once when training ends. ``progress=True`` shows a tqdm bar
    (unless the environment variable DLCORE_QUIET=1). A NaN/inf loss stops training with a
    FloatingPointError.

    NaN/inf in X or y (or in the validation data) is a ValueError before the first step: bad data,
    not a learning rate to lower. So are 0 samples and an optimiser built for another model.

    Sigmoid + BinaryCrossEntropy: when ``model`` is a Sequential (an MLP with ``output="sigmoid"``)
    ending in a ``Sigmoid`` and ``loss_fn`` is a ``BinaryCrossEntropy``, fit computes the loss and
    its gradient on the Sigmoid's input z with ``BCEWithLogits``: the same loss, but stable for any
    z, with gradient exactly (p - y) / N, so a confidently wrong unit (z = 50, y = 0) still learns
    and a diverging run shows its true loss. ``model.forward`` still returns probabilities.
    """
    X, y = _check_data(X, y)
    if X_val is not None and y_val is not None:
        X_val, y_val = _check_data(X_val, y_val, "X_val", "y_val")
    N = len(X)
    nonempty(N, "fit")
    if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if getattr(optimizer, "model", model) is not model:
        raise ValueError(f"the optimiser {optimizer!r} was built for another model, "
                         f"not the one being trained")
    if callable(callbacks) or isinstance(callbacks, str | bytes):
        raise TypeError("callbacks must be an iterable of callables, e.g. [cb] (got a single object)")
    callbacks = list(callbacks)  # any iterable, a generator included: called every epoch
    if not all(callable(cb) for cb in callbacks):
        raise TypeError(f"every callback must be callable, got {callbacks!r}")
    fused = _logits_loss(model, loss_fn)
    batch_size = N if batch_size is None else batch_size
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    rng = np.random.default_rng(seed)
    history = History()

    epoch_range = range(epochs)
    if progress and not env_flag("DLCORE_QUIET"):
        from tqdm.auto import tqdm

        epoch_range = tqdm(epoch_range, desc="epochs")

    step = 0  # batches so far, over all epochs: the lr schedule's clock
    try:
        for epoch in epoch_range:
            _set_mode(model, True)
            order = rng.permutation(N) if shuffle and batch_size < N else np.arange(N)
            total_loss, correct = 0.0, 0
            for b, start in enumerate(range(0, N, batch_size)):
                idx = order[start : start + batch_size]
                xb, yb = (X, y) if len(idx) == N else (X[idx], y[idx])
                if augment is not None:
                    xb = augment(xb, rng)
                if lr_schedule is not None:
                    optimizer.lr = lr_schedule(step)
                step += 1

                out = model.forward(xb)
                loss = _loss(model, loss_fn, fused, out, yb)
                if not np.isfinite(loss):
                    raise FloatingPointError(
                        f"loss became {loss} at epoch {epoch + 1}, batch {b + 1}: training diverged. "
                        f"Try a smaller learning rate (it is {getattr(optimizer, 'lr', '?')}).")
                _backward(model, loss_fn, fused)  # we never need d loss / d X
                optimizer.step()

                total_loss += loss * len(idx)
                correct += _n_correct(out, yb)

            history.loss.append(total_loss / N)
            history.acc.append(correct / N)
            if lr_schedule is not None:
                history.lr.append(float(optimizer.lr))
            _set_mode(model, False)  # validation and callbacks see the model in eval mode
            if X_val is not None and y_val is not None:
                val_loss, val_acc = evaluate(model, loss_fn, X_val, y_val)
                history.val_loss.append(val_loss)
                history.val_acc.append(val_acc)
            if hasattr(epoch_range, "set_postfix"):
                epoch_range.set_postfix(history.last())
            if any([cb(epoch, model, history) is True for cb in callbacks]):
                break
    finally:
        _set_mode(model, False)
        if hasattr(epoch_range, "close"):  # the progress bar, also when a callback stopped early
            epoch_range.close()
    for cb in callbacks:
        on_end = getattr(cb, "on_train_end", None)
        if callable(on_end):
            on_end(model, history)
    return history


class EarlyStopping:
    """A ``fit`` callback: stop after ``patience`` epochs in which ``monitor`` did not improve.

    ``monitor`` is a History field: losses ("val_loss", "loss") must fall, accuracies ("val_acc", "acc")
    rise, by more than ``min_delta``. With ``restore_best`` the parameters and buffers of the best epoch
    are copied back into the model when training ends (``fit`` calls ``on_train_end``). After fit,
    ``.best_epoch`` (from 0) and ``.best`` hold the best epoch and value, ``.stopped_epoch`` the epoch it
    stopped at (None if it never stopped training). Epoch 0 starts afresh, so one object can serve
    several fits.
    """

    def __init__(self, patience: int, monitor: str = "val_loss", restore_best: bool = True,
                 min_delta: float = 0.0):
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        if monitor not in History.__dataclass_fields__ or monitor == "lr":
            raise ValueError(f"monitor must be one of loss, acc, val_loss, val_acc; got {monitor!r}")
        self.patience, self.monitor, self.restore_best = patience, monitor, restore_best
        self.min_delta = min_delta
        self._reset()

    def _reset(self) -> None:
        self.best, self.best_epoch, self.stopped_epoch, self.wait = math.nan, None, None, 0
        self._saved: dict[str, np.ndarray] | None = None

    def _improved(self, value: float) -> bool:
        if math.isnan(self.best):
            return not math.isnan(value)
        if "loss" in self.monitor:
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    @staticmethod
    def _tensors(model) -> dict[str, np.ndarray]:
        return {**{f"params:{k}": p for k, p in model.params.items()},
                **{f"buffers:{k}": b for k, b in getattr(model, "buffers", {}).items()}}

    def __call__(self, epoch: int, model, history: History) -> bool:
        if epoch == 0:
            self._reset()
        values = getattr(history, self.monitor)
        if not values:
            raise ValueError(f"EarlyStopping: history.{self.monitor} is empty "
                             f"(monitor a validation metric only when fit has X_val and y_val)")
        if self._improved(values[-1]):
            self.best, self.best_epoch, self.wait = values[-1], epoch, 0
            if self.restore_best:
                self._saved = {k: a.copy() for k, a in self._tensors(model).items()}
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, model, history: History) -> None:
        """Copy the best epoch's parameters and buffers back into ``model`` (in place), with restore_best."""
        if self.restore_best and self._saved is not None:
            for k, a in self._tensors(model).items():
                a[...] = self._saved[k]

    def __repr__(self) -> str:
        return (f"EarlyStopping(patience={self.patience}, monitor={self.monitor!r}, "
                f"restore_best={self.restore_best})")
