"""Embedding, LayerNorm, SelfAttention: gradients vs finite differences and vs PyTorch in float64,
causality, attention weights, clear errors, float32."""

import numpy as np
import pytest

from dlcore import Embedding
from dlcore.gradcheck import rel_error

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
