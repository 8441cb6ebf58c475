"""Embedding, PositionalEmbedding, LayerNorm, SelfAttention: gradients vs finite differences and vs PyTorch in float64,
causality, attention weights, clear errors, float32."""

import numpy as np
import pytest

from dlcore import Embedding, LayerNorm, PositionalEmbedding, SelfAttention, Sequential
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


def test_embedding_first_in_a_sequential(rng):
    model = Sequential(Embedding(5, 4, seed=0), LayerNorm(4), SelfAttention(4, 2, seed=1))
    ids = rng.integers(0, 5, (2, 3))
    y = model.forward(ids)
    assert y.shape == (2, 3, 4)
    assert model.backward(np.ones_like(y), input_grad=False) is None
    assert model.backward(np.ones_like(y)) is None
    assert set(model.grads) == {"0.W", "1.gamma", "1.beta", "2.W_qkv", "2.b_qkv", "2.W_o", "2.b_o"}


# ----------------------------------------------------------------------------- positional embedding


@pytest.mark.parametrize("shape", [(2, 5, 3), (3, 8, 3), (1, 1, 3)])  # T < max_len, T = max_len, T = 1
def test_positional_gradcheck(rng, shape):
    layer = PositionalEmbedding(8, 3, seed=0)
    errors = gradcheck(layer, rng.standard_normal(shape), seed=1)
    assert set(errors) == {"P", "x"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("shape", [(4, 6, 5), (2, 10, 5)])
def test_positional_matches_torch(torch, rng, shape):
    layer = PositionalEmbedding(10, 5, seed=2)
    x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    Pt = torch.tensor(layer.params["P"], requires_grad=True)
    yt = xt + Pt[:shape[1]]
    yt.backward(torch.tensor(dy))
    y = layer.forward(x)
    dx = layer.backward(dy)
    assert rel_error(y, yt.detach().numpy()) < TOL
    assert rel_error(dx, xt.grad.numpy()) < TOL
    assert rel_error(layer.grads["P"], Pt.grad.numpy()) < TOL


def test_positional_grads_by_hand():
    layer = PositionalEmbedding(4, 2, seed=0)
    y = layer.forward(np.zeros((3, 2, 2)))
    np.testing.assert_array_equal(y, np.broadcast_to(layer.params["P"][:2], (3, 2, 2)))
    dy = np.arange(12.0).reshape(3, 2, 2)
    np.testing.assert_array_equal(layer.backward(dy), dy)  # dx = dy
    np.testing.assert_array_equal(layer.grads["P"], [[12, 15], [18, 21], [0, 0], [0, 0]])  # sums over N
    assert layer.backward(dy, input_grad=False) is None and layer.grads["P"].shape == (4, 2)


def test_positional_init_and_repr():
    P = PositionalEmbedding(512, 64, seed=0).params["P"]
    assert P.shape == (512, 64) and abs(P.std() - 0.02) < 0.001 and abs(P.mean()) < 0.001
    np.testing.assert_array_equal(P, PositionalEmbedding(512, 64, rng=np.random.default_rng(0)).params["P"])
    assert repr(PositionalEmbedding(16, 8)) == "PositionalEmbedding(16, 8)"


def test_positional_errors():
    layer = PositionalEmbedding(4, 3)
    with pytest.raises(ValueError, match=r"the sequences have T=5 positions, more than max_len=4"):
        layer.forward(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"PositionalEmbedding\(4, 3\) expects input of shape \(N, T, 3\), got \(2, 4, 2\)"):
        layer.forward(np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match=r"expects input of shape \(N, T, 3\), got \(4, 3\)"):
        layer.forward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="max_len must be a positive integer"):
        PositionalEmbedding(0, 3)
    with pytest.raises(TypeError, match="floating dtype"):
        PositionalEmbedding(4, 3, dtype=np.int64)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((1, 1, 3)))
    layer.forward(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="dy has shape"):
        layer.backward(np.zeros((2, 4, 3)))


def test_positional_empty_batch_and_float32(rng):
    layer = PositionalEmbedding(5, 2)
    y = layer.forward(np.zeros((0, 3, 2)))
    assert y.shape == (0, 3, 2) and layer.backward(y).shape == (0, 3, 2) and not layer.grads["P"].any()
    y = layer.forward(rng.standard_normal((2, 3, 2)).astype(np.float32))
    layer.backward(np.ones_like(y))
    assert y.dtype == layer.grads["P"].dtype == np.float32 and layer.params["P"].dtype == np.float64


def test_a_tiny_transformer_block(rng):
    """Token and position embeddings, layer norm, causal attention: every parameter gets a gradient, and
    the model is still causal."""
    model = Sequential(Embedding(7, 4, seed=0), PositionalEmbedding(6, 4, seed=1), LayerNorm(4),
                       SelfAttention(4, 2, seed=2))
    ids = rng.integers(0, 7, (2, 6))
    y = model.forward(ids)
    assert y.shape == (2, 6, 4)
    model.backward(rng.standard_normal(y.shape), input_grad=False)
    assert set(model.grads) == {"0.W", "1.P", "2.gamma", "2.beta", "3.W_qkv", "3.b_qkv", "3.W_o", "3.b_o"}
    assert all(g.any() for g in model.grads.values())
    ids2 = ids.copy()
    ids2[:, 4] = (ids2[:, 4] + 1) % 7
    np.testing.assert_array_equal(model.forward(ids2)[:, :4], y[:, :4])


def test_gradcheck_of_a_whole_transformer_from_token_ids(rng):
    """The chapter's numpy transformer, small: gradcheck takes integer ids (no "x" entry then), and every
    parameter's gradient through the residuals, layer norms, attention, the per-position Dense layers and
    the sequence loss matches finite differences."""
    from dlcore import Dense, ReLU, Residual, SequenceCrossEntropy
    from dlcore.gradcheck import gradcheck

    d, V, T = 4, 7, 5
    model = Sequential(Embedding(V, d, seed=0), PositionalEmbedding(T, d, seed=1),
                       Residual(Sequential(LayerNorm(d), SelfAttention(d, 2, seed=2))),
                       Residual(Sequential(LayerNorm(d), Dense(d, 8, seed=3), ReLU(), Dense(8, d, seed=4))),
                       LayerNorm(d), Dense(d, V, seed=5))
    ids = rng.integers(0, V, (2, T))
    errors = gradcheck(model, ids, SequenceCrossEntropy(), rng.integers(0, V, (2, T)))
    assert "x" not in errors and len(errors) == len(model.params)
    assert max(errors.values()) < TOL, errors


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


# ----------------------------------------------------------------------------- self-attention


def randomised_attention(d, n_heads, causal, seed=0):
    layer = SelfAttention(d, n_heads, causal=causal, seed=seed)
    r = np.random.default_rng(seed + 10)
    layer.params["b_qkv"][:] = r.standard_normal(3 * d) * 0.5
    layer.params["b_o"][:] = r.standard_normal(d) * 0.5
    return layer


ATTN_CASES = [(1, True), (1, False), (4, True), (4, False)]


@pytest.mark.parametrize(("n_heads", "causal"), ATTN_CASES)
def test_attention_gradcheck(rng, n_heads, causal):
    layer = randomised_attention(8, n_heads, causal)
    errors = gradcheck(layer, rng.standard_normal((2, 4, 8)), seed=1)
    assert set(errors) == {"W_qkv", "b_qkv", "W_o", "b_o", "x"}
    assert max(errors.values()) < TOL, errors


def torch_attention(torch, layer, x):
    """The same computation in PyTorch, with F.scaled_dot_product_attention per head layout."""
    N, T, d = x.shape
    h = layer.n_heads
    p = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    xt = torch.tensor(x, requires_grad=True)
    qkv = xt @ p["W_qkv"] + p["b_qkv"]
    q, k, v = (t.reshape(N, T, h, d // h).transpose(1, 2) for t in qkv.chunk(3, dim=-1))
    o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=layer.causal)
    y = o.transpose(1, 2).reshape(N, T, d) @ p["W_o"] + p["b_o"]
    return xt, p, y


@pytest.mark.parametrize(("n_heads", "causal"), ATTN_CASES)
@pytest.mark.parametrize("shape", [(3, 5, 8), (1, 1, 4)])
def test_attention_matches_torch(torch, rng, n_heads, causal, shape):
    layer = randomised_attention(shape[-1], n_heads, causal)
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(shape)
    xt, p, yt = torch_attention(torch, layer, x)
    yt.backward(torch.tensor(dy))
    y = layer.forward(x)
    dx = layer.backward(dy)
    assert rel_error(y, yt.detach().numpy()) < TOL
    assert rel_error(dx, xt.grad.numpy()) < TOL
    for name in layer.params:
        assert rel_error(layer.grads[name], p[name].grad.numpy()) < TOL, name


@pytest.mark.parametrize("n_heads", [1, 2])
def test_attention_is_causal(rng, n_heads):
    layer = randomised_attention(6, n_heads, causal=True)
    x = rng.standard_normal((2, 7, 6))
    y = layer.forward(x)
    for t in range(7):
        x2 = x.copy()
        x2[:, t] += rng.standard_normal(6) * 3
        y2 = layer.forward(x2)
        np.testing.assert_array_equal(y2[:, :t], y[:, :t])  # the past does not see the future
        assert not np.allclose(y2[:, t], y[:, t])


def test_non_causal_attention_sees_the_future(rng):
    layer = randomised_attention(6, 2, causal=False)
    x = rng.standard_normal((1, 4, 6))
    y = layer.forward(x)
    x[:, -1] += 1
    assert not np.allclose(layer.forward(x)[:, 0], y[:, 0])


@pytest.mark.parametrize("causal", [True, False])
def test_attention_weights(rng, causal):
    layer = randomised_attention(8, 4, causal)
    layer.forward(rng.standard_normal((3, 6, 8)) * 4)  # large scores: the mask must not give NaN
    A = layer.attention
    assert A.shape == (3, 4, 6, 6) and np.isfinite(A).all() and (A >= 0).all()
    np.testing.assert_allclose(A.sum(-1), 1, rtol=1e-12)
    upper = np.triu(np.ones((6, 6), dtype=bool), k=1)
    if causal:
        assert not A[..., upper].any()
        np.testing.assert_array_equal(A[..., 0, 0], 1)  # the first position sees only itself
    else:
        assert (A[..., upper] > 0).all()


def test_attention_errors():
    with pytest.raises(ValueError, match="d=6 must be divisible by n_heads=4"):
        SelfAttention(6, 4)
    with pytest.raises(ValueError, match="positive integer"):
        SelfAttention(4, 0)
    layer = SelfAttention(4, 2)
    with pytest.raises(ValueError, match=r"expects input of shape \(N, T, 4\), got \(2, 3, 5\)"):
        layer.forward(np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match=r"expects input of shape \(N, T, 4\), got \(3, 4\)"):
        layer.forward(np.zeros((3, 4)))
    with pytest.raises(RuntimeError, match="before forward"):
        SelfAttention(4, 2).backward(np.zeros((1, 1, 4)))
    layer.forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="dy has shape"):
        layer.backward(np.zeros((2, 3, 5)))


def test_attention_input_grad_false_repr_and_empty_batch(rng):
    layer = randomised_attention(4, 2, True)
    x, dy = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    layer.forward(x)
    assert layer.backward(dy, input_grad=False) is None
    grads = {k: g.copy() for k, g in layer.grads.items()}
    layer.backward(dy)
    for k in grads:
        np.testing.assert_array_equal(grads[k], layer.grads[k])
    assert repr(layer) == "SelfAttention(4, n_heads=2, causal=True)"
    y = layer.forward(np.zeros((0, 3, 4)))
    assert y.shape == (0, 3, 4) and layer.backward(y).shape == (0, 3, 4)


# ----------------------------------------------------------------------------- float32


@pytest.mark.parametrize("make", [lambda: LayerNorm(4), lambda: SelfAttention(4, 2, seed=0)])
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
