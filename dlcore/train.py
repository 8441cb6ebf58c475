"""The training loop: ``fit`` runs mini-batch gradient descent and records a ``History``; ``EarlyStopping``.

Modes: ``fit`` trains in training mode and leaves the model in eval mode; ``evaluate``, ``predict`` and
``accuracy`` run in eval mode and then restore the model's mode (models without ``train``/``eval`` work too).
"""

import math
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np


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


def _set_mode(model, training: bool) -> None:
    train = getattr(model, "train", None)
    if callable(train):
        train(training)


@contextmanager
def eval_mode(model) -> Iterator:
    """``with eval_mode(model):`` runs the block in eval mode, then restores the model's mode."""
    before = getattr(model, "training", True)
    _set_mode(model, False)
    try:
        yield model
    finally:
        _set_mode(model, before)


def predict(model, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predicted class labels (N,): argmax for K-class outputs, ``> 0.5`` for one sigmoid output."""
    batches = range(0, len(X), batch_size)
    with eval_mode(model):
        return np.concatenate([_labels(model.forward(X[i : i + batch_size])) for i in batches])


def accuracy(model, X: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Fraction of samples whose predicted label equals ``y`` (labels (N,) or (N, 1))."""
    return float(np.mean(predict(model, X, batch_size) == np.asarray(y).reshape(len(X))))


def evaluate(model, loss_fn, X: np.ndarray, y: np.ndarray, batch_size: int = 256) -> tuple[float, float]:
    """(mean loss, accuracy) over a data set, in batches (no gradients, no updates)."""
    total_loss, correct = 0.0, 0
    with eval_mode(model):
        for i in range(0, len(X), batch_size):
            out = model.forward(X[i : i + batch_size])
            total_loss += loss_fn(out, y[i : i + batch_size]) * len(out)
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
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    N = len(X)
    batch_size = N if batch_size is None else batch_size
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    rng = np.random.default_rng(seed)
    history = History()

    epoch_range = range(epochs)
    if progress and os.environ.get("DLCORE_QUIET") != "1":
        from tqdm.auto import tqdm

        epoch_range = tqdm(epoch_range, desc="epochs")

    callbacks = list(callbacks)
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
                loss = loss_fn(out, yb) if np.isfinite(out).all() else np.nan
                if not np.isfinite(loss):
                    raise FloatingPointError(
                        f"loss became {loss} at epoch {epoch + 1}, batch {b + 1}: training diverged. "
                        f"Try a smaller learning rate (it is {getattr(optimizer, 'lr', '?')}).")
                model.backward(loss_fn.backward(), input_grad=False)  # we never need d loss / d X
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
