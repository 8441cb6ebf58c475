"""Argument checks shared by dlcore's modules: each raises one clear error that names the culprit.

The error rules of dlcore (also in the README):

* Wrong *type* of thing (a non-numeric array, an integer parameter dtype, non-integer class labels):
  ``TypeError``. Wrong *value* (a shape, a size < 1, a hyper-parameter out of range, NaN/inf in the
  data, labels out of range, an environment variable that is not a number): ``ValueError``.
* Empty batches (0 samples): what is computed *per sample* returns an empty result of the right shape
  (every layer's ``forward`` and ``backward``, ``Sequential.forward``, ``predict``); what is a *mean
  over samples* raises ``ValueError`` (every loss, ``accuracy``, ``evaluate``, ``fit``), since the mean
  of nothing is undefined and would otherwise be a silent NaN.
* Training that diverges (the weights or the model's output become NaN/inf): ``FloatingPointError``.
  NaN/inf already in the data is a ``ValueError`` before any step is taken.
* Files: ``Sequential.load`` is all or nothing (any error leaves the model as it was); the data cache
  is rebuilt when damaged; a missing or corrupt data set raises ``dlcore.data.DataError``.
"""

import math
import numbers
import os

import numpy as np


def positive_int(value, name: str) -> int:
    """``value`` as an int, which must be >= 1 (bools and floats like 2.5 are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def float_dtype(dtype, what: str = "parameters") -> np.dtype:
    """``np.dtype(dtype)``, which must be a real floating type (gradients of integers make no sense)."""
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{what} must have a floating dtype (float32 or float64), got {dt}")
    return dt


def finite_number(value, name: str, low: float | None = None, high: float | None = None,
                  low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float: a finite real number in the given interval (closed unless ``*_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    lo_bad = low is not None and (v <= low if low_open else v < low)
    hi_bad = high is not None and (v >= high if high_open else v > high)
    if not math.isfinite(v) or lo_bad or hi_bad:
        lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
        raise ValueError(f"{name} must be a finite number in {lo}, {hi}, got {value}")
    return v


DATA_HINT = ("this is bad data, not a training problem; clean it (e.g. drop those samples or "
             "np.nan_to_num) before using it")
OUTPUT_HINT = "the model's weights or its input hold NaN/inf (a diverged training run?)"


def finite_data(a: np.ndarray, name: str, hint: str = DATA_HINT) -> None:
    """Raise ValueError if the float array ``a`` holds NaN or inf (says where the first one is)."""
    a = np.asarray(a)
    if a.dtype.kind in "fc" and a.size and not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        where = f" (first at index {tuple(int(i) for i in bad)})" if a.ndim else ""
        kind = "NaN" if np.isnan(a).any() else "inf"
        raise ValueError(f"{name} contains {kind}{where}: {hint}")


def nonempty(n: int, what: str) -> None:
    """Raise ValueError when a mean over samples would be over 0 samples."""
    if n == 0:
        raise ValueError(f"{what} needs at least one sample, got an empty batch (0 samples)")


def env_int(name: str, minimum: int = 1) -> int | None:
    """The integer value of environment variable ``name`` (None when unset or empty); must be >= minimum."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ValueError(f"environment variable {name}={raw!r} must be at least {minimum}")
    return value


def env_flag(name: str, default: bool = False) -> bool:
    """Environment variable ``name`` as a switch: 1/true/yes/on -> True, 0/false/no/off -> False,
    unset or empty -> ``default``; anything else is a ValueError naming the variable."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"environment variable {name}={raw!r} is not a switch: "
                     f"use 1/0, true/false, yes/no or on/off")
