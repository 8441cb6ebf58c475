"""Learning-rate schedules, and Smith's learning-rate range test.

Every schedule is a pure function ``f(t, T, ...) -> float`` of the step t = 0, 1, ..., T - 1 and the
number of steps T, returning a *multiplier* of a base learning rate (1 at the peak). ``lr_schedule``
turns one into the ``t -> lr`` function that ``fit(..., lr_schedule=...)`` calls before every step::

    T = epochs * math.ceil(len(X) / batch_size)
    fit(model, loss, SGD(model, lr=0.1), X, y, epochs, batch_size,
        lr_schedule=lr_schedule(cosine, 0.1, T, warmup=100))
"""

import math
from collections.abc import Callable, Sequence

import numpy as np


def constant(t: int, T: int) -> float:
    """1 at every step."""
    return 1.0


def step_decay(t: int, T: int, drop: float = 0.1, milestones: Sequence[float] = (0.5, 0.75)) -> float:
    """drop ** (how many milestones t has reached); milestones are fractions of T
    (the defaults: x1 for the first half, x0.1 to 3/4, then x0.01; PyTorch's MultiStepLR)."""
    return drop ** sum(t >= m * T for m in milestones)


def with_warmup(f: Callable[..., float], warmup: int) -> Callable[..., float]:
    """``f`` after a linear warmup: (t + 1) / warmup for t < warmup, then f(t - warmup, T - warmup, ...)."""

    def g(t: int, T: int, **kwargs) -> float:
        if t < warmup:
            return (t + 1) / warmup
        return f(t - warmup, T - warmup, **kwargs)

    return g


def cosine(t: int, T: int, warmup: int = 0) -> float:
    """Cosine annealing from 1 towards 0: (1 + cos(pi t / T)) / 2, after ``warmup`` linear warmup steps."""
    if warmup:
        return with_warmup(cosine, warmup)(t, T)
    return 0.5 * (1 + math.cos(math.pi * t / T))


def _anneal_cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)


def one_cycle(t: int, T: int, pct_start: float = 0.25, div_factor: float = 25,
              final_div_factor: float = 1e4) -> float:
    """Smith's one-cycle policy, as ``torch.optim.lr_scheduler.OneCycleLR`` (cosine annealing), as a
    multiplier of the maximum lr: from 1/div_factor up to 1 over the first pct_start of the steps, then
    down to 1/(div_factor * final_div_factor) at t = T - 1, both halves cosine-shaped."""
    start, low = 1 / div_factor, 1 / (div_factor * final_div_factor)
    peak = float(pct_start * T) - 1  # the step at which the lr is largest (PyTorch's phase boundary)
    if t <= peak:
        return _anneal_cos(start, 1.0, t / peak)
    return _anneal_cos(1.0, low, (t - peak) / (T - 1 - peak))


def lr_schedule(f: Callable[..., float], base_lr: float, T: int, **kwargs) -> Callable[[int], float]:
    """The function t -> base_lr * f(t, T, **kwargs), e.g. ``lr_schedule(one_cycle, 0.1, T)``."""
    return lambda t: base_lr * f(t, T, **kwargs)


def lr_range_test(model_factory: Callable[[], object], loss_fn, optimizer_factory: Callable[[object], object],
                  X: np.ndarray, y: np.ndarray, lr_min: float = 1e-6, lr_max: float = 1.0, steps: int = 100,
                  batch_size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smith's learning-rate range test: train a fresh model for ``steps`` mini-batch steps while the lr
    grows exponentially from ``lr_min`` to ``lr_max``; returns (lrs, losses) of the steps taken.

    ``model_factory()`` builds the model, ``optimizer_factory(model)`` its optimiser (whose ``lr`` is then
    set before every step). Batches come from shuffled passes over (X, y), seeded by ``seed``. The test
    stops early when the loss exceeds 4x the best loss so far (that step is still recorded) or is no
    longer finite (not recorded). A good lr is usually a few times smaller than where the loss is lowest.
    """
    if not 0 < lr_min < lr_max:
        raise ValueError(f"need 0 < lr_min < lr_max, got {lr_min}, {lr_max}")
    if steps < 2 or batch_size < 1:
        raise ValueError(f"need steps >= 2 and batch_size >= 1, got {steps}, {batch_size}")
    X, y = np.asarray(X), np.asarray(y)
    model = model_factory()
    optimizer = optimizer_factory(model)
    if callable(getattr(model, "train", None)):
        model.train()
    rng = np.random.default_rng(seed)
    order, start = rng.permutation(len(X)), 0
    lrs, losses, best = [], [], math.inf
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(steps):
            if start >= len(X):
                order, start = rng.permutation(len(X)), 0
            idx = order[start : start + batch_size]
            start += batch_size
            lr = lr_min * (lr_max / lr_min) ** (i / (steps - 1))
            out = model.forward(X[idx])
            loss = loss_fn(out, y[idx]) if np.isfinite(out).all() else math.nan
            if not math.isfinite(loss):
                break
            lrs.append(lr)
            losses.append(loss)
            if loss > 4 * best:
                break
            best = min(best, loss)
            model.backward(loss_fn.backward(), input_grad=False)
            optimizer.lr = lr
            optimizer.step()
    return np.array(lrs), np.array(losses)
