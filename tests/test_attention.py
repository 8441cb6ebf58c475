"""Embedding, LayerNorm, SelfAttention: gradients vs finite differences and vs PyTorch in float64,
causality, attention weights, clear errors, float32."""

import numpy as np
import pytest

from dlcore import Embedding, LayerNorm
from dlcore.gradcheck import gradcheck, rel_error

TOL = 1e-7


# ----------------------------------------------------------------------------- embedding


def embedding_grads(layer, ids, dy):
    layer.forward(ids)
    assert layer.backward(dy) is None  # no gradient for integer ids
    return layer.grads["W"]


@pytest.mark.parametrize("shape", [(7,), (3, 5)])
def test_embedding_gradcheck(rng, shape):
    layer = Embedding(6, 4, seed=0)
    ids = rng.integers(0, 6, shape)
    dy = rng.standard_normal(shape + (4,))
    dW = embedding_grads(layer, ids, dy)
    W = layer.params["W"]
    from dlcore.gradcheck import numerical_grad

    numeric = numerical_grad(lambda: float(np.sum(layer.forward(ids) * dy)), W)
    assert rel_error(dW, numeric) < TOL


@pytest.mark.parametrize("shape", [(9,), (4, 6)])
def test_embedding_matches_torch(torch, rng, shape):
    layer = Embedding(5, 3, seed=1)
    ids = rng.integers(0, 5, shape)
    ids.flat[:3] = 2  # repeated ids: the scatter-add must sum their gradients
    dy = rng.standard_normal(shape + (3,))
    Wt = torch.tensor(layer.params["W"], requires_grad=True)
    yt = torch.nn.functional.embedding(torch.tensor(ids), Wt)
    yt.backward(torch.tensor(dy))
    y = layer.forward(ids)
    assert y.shape == shape + (3,)
    assert rel_error(y, yt.detach().numpy()) < TOL
    assert rel_error(embedding_grads(layer, ids, dy), Wt.grad.numpy()) < TOL


def test_embedding_repeated_ids_add_up():
    layer = Embedding(3, 2, seed=0)
    layer.forward(np.array([1, 1, 1, 0]))
    layer.backward(np.ones((4, 2)))
    np.testing.assert_array_equal(layer.grads["W"], [[1, 1], [3, 3], [0, 0]])


def test_embedding_errors():
    layer = Embedding(4, 2)
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 4\).*got values in \[0, 4\]"):
        layer.forward(np.array([0, 4]))
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 4\)"):
        layer.forward(np.array([[-1, 2]]))
    with pytest.raises(TypeError, match="integer token ids"):
        layer.forward(np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="integer token ids"):
        layer.forward(np.array([True, False]))
    with pytest.raises(ValueError, match="positive integer"):
        Embedding(0, 2)
    layer.forward(np.array([1, 2]))
    with pytest.raises(ValueError, match="dy has shape"):
        layer.backward(np.zeros((2, 3)))


def test_embedding_empty_batch():
    layer = Embedding(4, 3)
    y = layer.forward(np.zeros((0, 5), dtype=int))
    assert y.shape == (0, 5, 3)
    assert layer.backward(y) is None
    assert layer.grads["W"].shape == (4, 3) and not layer.grads["W"].any()


def test_embedding_dtype_and_repr():
    layer = Embedding(4, 3, dtype=np.float32)
    y = layer.forward(np.array([[0, 3]], dtype=np.uint8))
    layer.backward(np.ones_like(y))
    assert y.dtype == layer.grads["W"].dtype == np.float32
    assert repr(layer) == "Embedding(4, 3)"
    np.testing.assert_array_equal(Embedding(4, 3, seed=2).params["W"],
                                  Embedding(4, 3, rng=np.random.default_rng(2)).params["W"])


# ----------------------------------------------------------------------------- layer norm


def randomised_ln(d, seed=3):
    layer = LayerNorm(d)
    r = np.random.default_rng(seed)
    layer.params["gamma"][:] = r.uniform(0.5, 2, d)
    layer.params["beta"][:] = r.standard_normal(d)
    return layer


LN_SHAPES = [(6, 5), (2, 3, 4), (1, 1, 7)]


@pytest.mark.parametrize("shape", LN_SHAPES)
def test_layernorm_gradcheck(rng, shape):
    errors = gradcheck(randomised_ln(shape[-1]), rng.standard_normal(shape) * 2 + 1, seed=1)
    assert set(errors) == {"gamma", "beta", "x"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("shape", [(4, 5, 6), (2, 3, 2), (8, 3)])
def test_layernorm_matches_torch(torch, rng, shape):
    layer = randomised_ln(shape[-1])
    x = rng.standard_normal(shape) * 3 - 1
    dy = rng.standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(layer.params["gamma"], requires_grad=True)
    bt = torch.tensor(layer.params["beta"], requires_grad=True)
    yt = torch.nn.functional.layer_norm(xt, (shape[-1],), gt, bt, eps=1e-5)
    yt.backward(torch.tensor(dy))
    y = layer.forward(x)
    dx = layer.backward(dy)
    assert rel_error(y, yt.detach().numpy()) < TOL
    assert rel_error(dx, xt.grad.numpy()) < TOL
    assert rel_error(layer.grads["gamma"], gt.grad.numpy()) < TOL
    assert rel_error(layer.grads["beta"], bt.grad.numpy()) < TOL


def test_layernorm_normalises_each_row_and_ignores_mode(rng):
    x = rng.standard_normal((3, 4, 16)) * 5 + 7
    layer = LayerNorm(16)
    y = layer.forward(x)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(-1), 1, rtol=1e-3)
    np.testing.assert_array_equal(layer.eval().forward(x), y)
    assert layer.buffers == {}
    one = randomised_ln(1)  # one value per row: x_hat = 0, y = beta, and x cannot change y
    np.testing.assert_array_equal(one.forward(x[..., :1]), np.broadcast_to(one.params["beta"], (3, 4, 1)))
    assert not one.backward(np.ones((3, 4, 1))).any()


def test_layernorm_input_grad_false_and_repr(rng):
    layer = randomised_ln(3)
    x, dy = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    layer.forward(x)
    assert layer.backward(dy, input_grad=False) is None
    grads = {k: g.copy() for k, g in layer.grads.items()}
    layer.backward(dy)
    for k in grads:
        np.testing.assert_array_equal(grads[k], layer.grads[k])
    assert repr(LayerNorm(3)) == "LayerNorm(3, eps=1e-05)"


def test_layernorm_errors():
    with pytest.raises(ValueError, match=r"expects input of shape \(\.\.\., 3\), got \(4, 2\)"):
        LayerNorm(3).forward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"expects input of shape \(\.\.\., 3\), got \(\)"):
        LayerNorm(3).forward(np.float64(1.0))
    with pytest.raises(ValueError, match="eps"):
        LayerNorm(3, eps=0)
    with pytest.raises(ValueError, match="positive integer"):
        LayerNorm(0)


# ----------------------------------------------------------------------------- float32


@pytest.mark.parametrize("make", [lambda: LayerNorm(4)])
@pytest.mark.parametrize("layer_dtype", [np.float32, np.float64])
def test_float32_in_float32_out(rng, make, layer_dtype):
    layer = make().astype(layer_dtype)
    x, dy = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    y64, dx64 = layer.forward(x), layer.backward(dy)
    y = layer.forward(x.astype(np.float32))
    dx = layer.backward(dy.astype(np.float32))
    assert y.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())
    assert all(p.dtype == layer_dtype for p in layer.params.values())
    assert rel_error(y, y64) < 1e-5 and rel_error(dx, dx64) < 1e-5
