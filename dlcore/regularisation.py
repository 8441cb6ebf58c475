"""Regularisation layers: ``Dropout`` (inverted dropout). Weight decay lives in the optimisers
(``dlcore.optim``), data augmentation in ``dlcore.augment``."""

import numpy as np

from .layers import Layer, _float_input, _rng


class Dropout(Layer):
    """Inverted dropout, any shape: in training y = x * mask / (1 - p) with mask ~ Bernoulli(1 - p).

    Each entry is zeroed with probability ``p`` and the survivors are scaled by 1 / (1 - p), so the
    expected output equals x and eval mode needs no rescaling: there (and for p = 0) y = x.
    The masks come from the layer's own Generator ``self.rng`` (from ``rng`` or ``seed``): the same
    seed gives the same masks. backward: dx = dy * mask / (1 - p) with the mask of the last forward.
    """

    def __init__(self, p: float = 0.5, rng=None, seed: int | None = None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p (the probability of dropping an entry) must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = _rng(rng, seed)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _float_input(x, np.float64)
        if not self.training or self.p == 0:
            self.cache = (x.shape, None)  # the identity
            return x
        mask = self.rng.random(x.shape) >= self.p  # kept with probability 1 - p
        self.cache = (x.shape, mask)
        return x * mask / (1 - self.p)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy -> dx = dy * mask / (1 - p) (dy itself in eval mode), same shape."""
        shape, mask = self._saved()
        dy = np.asarray(dy)
        dy = self._check_dy(dy, shape, dy.dtype if dy.dtype.kind == "f" else np.float64)
        return dy if mask is None else dy * mask / (1 - self.p)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
