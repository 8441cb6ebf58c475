"""Dropout: inverted scaling, eval mode, its own seeded generator, backward with the cached mask."""

import numpy as np
import pytest

from dlcore import Dense, Dropout, ReLU, Sequential
from dlcore.gradcheck import gradcheck


class FixedMask:
    """Wraps a layer and reseeds its dropout generators before every forward, so every forward draws
    the same mask: then the function is deterministic and finite differences apply (test only)."""

    def __init__(self, model, dropouts, seed=0):
        self.model, self.dropouts, self.seed = model, dropouts, seed

    @property
    def params(self):
        return self.model.params

    @property
    def grads(self):
        return self.model.grads

    def forward(self, x):
        for i, d in enumerate(self.dropouts):
            d.rng = np.random.default_rng([self.seed, i])
        return self.model.forward(x)

    def backward(self, dy):
        return self.model.backward(dy)


def test_eval_mode_and_p_zero_are_the_identity(rng):
    x = rng.standard_normal((5, 4))
    layer = Dropout(0.5, seed=0).eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    dy = rng.standard_normal((5, 4))
    np.testing.assert_array_equal(layer.backward(dy), dy)
    np.testing.assert_array_equal(Dropout(0.0).forward(x), x)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_inverted_scaling_keeps_the_mean(p):
    layer = Dropout(p, seed=1)
    y = layer.forward(np.ones((400, 500)))
    kept = y != 0
    assert abs(kept.mean() - (1 - p)) < 0.005
    np.testing.assert_allclose(y[kept], 1 / (1 - p))
    assert abs(y.mean() - 1) < 0.02  # mean of mask / (1 - p)


def test_backward_uses_the_cached_mask(rng):
    p = 0.3
    layer = Dropout(p, seed=2)
    x = rng.standard_normal((6, 7)) + 10  # no zeros in x: y == 0 exactly where dropped
    y = layer.forward(x)
    mask = y != 0
    mask_again = np.random.default_rng(2).random(x.shape) >= p  # the documented draw
    np.testing.assert_array_equal(mask, mask_again)
    dy = rng.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dy), dy * mask / (1 - p))
    np.testing.assert_allclose(y, x * mask / (1 - p))


def test_same_seed_same_mask_and_fresh_masks_each_forward():
    x = np.ones((10, 10))
    a, b = Dropout(0.5, seed=7), Dropout(0.5, rng=np.random.default_rng(7))
    y1 = a.forward(x)
    np.testing.assert_array_equal(y1, b.forward(x))
    assert not np.array_equal(y1, a.forward(x))  # the next forward draws a new mask


def test_gradcheck_with_a_fixed_mask(rng):
    layer = Dropout(0.4, seed=0)
    errors = gradcheck(FixedMask(layer, [layer]), rng.standard_normal((4, 6)))
    assert errors["x"] < 1e-7
    d1, d2 = Dropout(0.5), Dropout(0.2)
    model = Sequential(Dense(5, 8, seed=0), ReLU(), d1, Dense(8, 3, seed=1), d2)
    errors = gradcheck(FixedMask(model, [d1, d2]), rng.standard_normal((6, 5)))
    assert max(errors.values()) < 1e-7, errors


def test_mode_propagates_from_sequential(rng):
    model = Sequential(Dense(3, 4, seed=0), Dropout(0.5, seed=0))
    x = rng.standard_normal((2, 3))
    assert model.eval() is model and not model[1].training
    np.testing.assert_array_equal(model.forward(x), model[0].forward(x))
    assert model.train() is model and model[1].training


@pytest.mark.parametrize("p", [-0.1, 1, 1.5])
def test_bad_p(p):
    with pytest.raises(ValueError, match=r"p .* must be in \[0, 1\)"):
        Dropout(p)


def test_float32_and_repr(rng):
    layer = Dropout(0.25, seed=0)
    y = layer.forward(rng.standard_normal((3, 4)).astype(np.float32))
    assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32
    assert repr(layer) == "Dropout(p=0.25)" and layer.params == {} and layer.buffers == {}
