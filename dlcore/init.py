"""Weight initialisers. Each takes a shape and an ``np.random.Generator`` so results are reproducible.

Fan-in / fan-out follow PyTorch: a Dense weight ``(n_in, n_out)`` has fans (n_in, n_out); a conv
weight ``(c_out, c_in, kh, kw)`` has fans (c_in*kh*kw, c_out*kh*kw).
"""

import numpy as np


def fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a Dense ``(n_in, n_out)`` or conv ``(c_out, c_in, kh, kw)`` weight."""
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 4:
        receptive = shape[2] * shape[3]
        return shape[1] * receptive, shape[0] * receptive
    raise ValueError(f"expected a 2-D (dense) or 4-D (conv) weight shape, got {shape}")


def xavier_uniform(shape: tuple, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """Glorot: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)); keeps variance for sigmoid/tanh."""
    fan_in, fan_out = fans(shape)
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape).astype(dtype)


def xavier_normal(shape: tuple, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """Glorot: N(0, 2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def he_normal(shape: tuple, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """He/Kaiming: N(0, 2 / fan_in); keeps variance through ReLU layers."""
    fan_in, _ = fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def he_uniform(shape: tuple, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """He/Kaiming: U(-a, a) with a = sqrt(6 / fan_in)."""
    fan_in, _ = fans(shape)
    a = np.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, size=shape).astype(dtype)


def zeros(shape: tuple, rng: np.random.Generator | None = None, dtype=np.float64) -> np.ndarray:
    """All zeros (fine for biases; for weights it leaves every unit identical — try it!)."""
    return np.zeros(shape, dtype=dtype)


def small_random(shape: tuple, rng: np.random.Generator, scale: float = 0.01, dtype=np.float64) -> np.ndarray:
    """N(0, scale^2): the classic 'small random numbers' (too small for deep nets)."""
    return (rng.standard_normal(shape) * scale).astype(dtype)


# the names layers accept as ``init=``
INITIALISERS = {"he": he_normal, "xavier": xavier_uniform, "small": small_random, "zeros": zeros}


def initialise(shape: tuple, init: str, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """Look up ``init`` ("he" | "xavier" | "small" | "zeros") and draw a weight of ``shape``."""
    if init not in INITIALISERS:
        raise ValueError(f"unknown init {init!r}; choose one of {sorted(INITIALISERS)}")
    return INITIALISERS[init](shape, rng, dtype=dtype)
