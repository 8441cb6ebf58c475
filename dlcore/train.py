"""The training loop: ``fit`` runs mini-batch gradient descent and records a ``History``."""

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class History:
    """Per-epoch metrics recorded by ``fit`` (validation lists stay empty without validation data)."""

    loss: list[float] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)

    def last(self) -> dict[str, float]:
        """The latest value of every recorded metric, e.g. ``{"loss": 0.31, "acc": 0.89}``."""
        return {name: values[-1] for name, values in vars(self).items() if values}

    def __len__(self) -> int:
        return len(self.loss)

    def __repr__(self) -> str:
        metrics = ", ".join(f"{name}={value:.4f}" for name, value in self.last().items())
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


def predict(model, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predicted class labels (N,): argmax for K-class outputs, ``> 0.5`` for one sigmoid output."""
    batches = range(0, len(X), batch_size)
    return np.concatenate([_labels(model.forward(X[i : i + batch_size])) for i in batches])


def accuracy(model, X: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Fraction of samples whose predicted label equals ``y`` (labels (N,) or (N, 1))."""
    return float(np.mean(predict(model, X, batch_size) == np.asarray(y).reshape(len(X))))


def evaluate(model, loss_fn, X: np.ndarray, y: np.ndarray, batch_size: int = 256) -> tuple[float, float]:
    """(mean loss, accuracy) over a data set, in batches (no gradients, no updates)."""
    total_loss, correct = 0.0, 0
    for i in range(0, len(X), batch_size):
        out = model.forward(X[i : i + batch_size])
        total_loss += loss_fn(out, y[i : i + batch_size]) * len(out)
        correct += _n_correct(out, y[i : i + batch_size])
    return total_loss / len(X), correct / len(X)


def fit(model, loss_fn, optimizer, X: np.ndarray, y: np.ndarray, epochs: int, batch_size: int | None = None,
        X_val: np.ndarray | None = None, y_val: np.ndarray | None = None, shuffle: bool = True, seed: int = 0,
        callbacks: Iterable[Callable] = (), progress: bool = False) -> History:
    """Train ``model`` with mini-batch gradient descent; returns the per-epoch ``History``.

    batch_size=None uses the whole data set per step (full-batch gradient descent).
    Each epoch visits the samples in a fresh random order (``shuffle``, seeded by ``seed``).
    After every epoch each callback is called as ``cb(epoch, model, history)`` (epoch counts from 0);
    a callback returning True stops training. ``progress=True`` shows a tqdm bar (unless the
    environment variable DLCORE_QUIET=1). A NaN/inf loss stops training with a FloatingPointError.
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

    for epoch in epoch_range:
        order = rng.permutation(N) if shuffle and batch_size < N else np.arange(N)
        total_loss, correct = 0.0, 0
        for b, start in enumerate(range(0, N, batch_size)):
            idx = order[start : start + batch_size]
            xb, yb = (X, y) if len(idx) == N else (X[idx], y[idx])

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
        if X_val is not None and y_val is not None:
            val_loss, val_acc = evaluate(model, loss_fn, X_val, y_val)
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
        if hasattr(epoch_range, "set_postfix"):
            epoch_range.set_postfix(history.last())
        if any([cb(epoch, model, history) is True for cb in callbacks]):
            break
    if hasattr(epoch_range, "close"):  # the progress bar, also when a callback stopped early
        epoch_range.close()
    return history
