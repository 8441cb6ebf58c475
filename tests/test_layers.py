"""Every layer: gradients vs centred finite differences and vs PyTorch autograd (float64, rel. error
<= 1e-7), over many shapes, strides and paddings; dtypes; repeated backward."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcore import (
    Conv2D,
    ConvTranspose2D,
    Dense,
    Flatten,
    LayerNorm,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    SelfAttention,
    Sigmoid,
    Tanh,
)
from dlcore.gradcheck import gradcheck, rel_error

TOL = 1e-7
PROPERTY = settings(max_examples=20, deadline=None)


def assert_gradcheck(layer, x):
    errors = gradcheck(layer, x)
    assert set(errors) == set(layer.params) | {"x"}
    assert max(errors.values()) < TOL, errors


def compare_with_torch(torch, layer, module, x, to_torch_name=None, transpose=()):
    """Forward + backward (random dy) through ``layer`` and the equivalent torch ``module``."""
    rng = np.random.default_rng(1)
    xt = torch.tensor(x, requires_grad=True)
    yt = module(xt)
    dy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(dy))

    y = layer.forward(x)
    dx = layer.backward(dy)
    assert y.shape == tuple(yt.shape) and dx.shape == x.shape
    assert rel_error(y, yt.detach().numpy()) < TOL
    assert rel_error(dx, xt.grad.numpy()) < TOL
    for name, g in layer.grads.items():
        ref = getattr(module, name if to_torch_name is None else to_torch_name[name]).grad.numpy()
        assert rel_error(g, ref.T if name in transpose else ref) < TOL, name


def torch_linear(torch, layer):
    lin = torch.nn.Linear(layer.n_in, layer.n_out).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(layer.params["W"].T))  # torch stores (out, in)
        lin.bias.copy_(torch.tensor(layer.params["b"]))
    return lin


def torch_conv(torch, layer):
    conv = torch.nn.Conv2d(layer.c_in, layer.c_out, layer.k, stride=layer.stride, padding=layer.padding).double()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(layer.params["W"]))  # the same (c_out, c_in, k, k) layout
        conv.bias.copy_(torch.tensor(layer.params["b"]))
    return conv


def with_random_bias(layer, seed=2):
    layer.params["b"][:] = np.random.default_rng(seed).standard_normal(layer.params["b"].shape)
    return layer


# ----------------------------------------------------------------------------- Dense

DENSE_SHAPES = [(1, 3, 2), (4, 5, 3), (7, 1, 1), (3, 8, 6)]  # (N, n_in, n_out)


@pytest.mark.parametrize(("N", "n_in", "n_out"), DENSE_SHAPES)
def test_dense_gradcheck(rng, N, n_in, n_out):
    assert_gradcheck(with_random_bias(Dense(n_in, n_out, seed=0)), rng.standard_normal((N, n_in)))


@pytest.mark.parametrize(("N", "n_in", "n_out"), DENSE_SHAPES)
def test_dense_matches_torch(torch, rng, N, n_in, n_out):
    layer = with_random_bias(Dense(n_in, n_out, seed=0))
    compare_with_torch(torch, layer, torch_linear(torch, layer), rng.standard_normal((N, n_in)),
                       {"W": "weight", "b": "bias"}, transpose=("W",))


@pytest.mark.parametrize("shape", [(2, 5, 4), (3, 2, 2, 4)])
def test_dense_on_sequences(torch, rng, shape):
    """(N, ..., n_in): the same weights at every position, gradients summed over them (torch's Linear)."""
    layer = with_random_bias(Dense(4, 3, seed=0))
    x = rng.standard_normal(shape)
    assert_gradcheck(layer, x)
    compare_with_torch(torch, layer, torch_linear(torch, layer), x, {"W": "weight", "b": "bias"},
                       transpose=("W",))
    rows = layer.forward(x.reshape(-1, 4)).reshape(shape[:-1] + (3,))  # position by position
    np.testing.assert_array_equal(layer.forward(x), rows)


def test_dense_shapes_and_init(rng):
    layer = Dense(784, 256, seed=0)
    assert layer.params["W"].shape == (784, 256) and layer.params["b"].shape == (256,)
    assert not layer.params["b"].any()
    assert abs(layer.params["W"].std() - np.sqrt(2 / 784)) < 0.002  # He init by default
    np.testing.assert_array_equal(Dense(3, 2, seed=5).params["W"], Dense(3, 2, rng=np.random.default_rng(5)).params["W"])
    for init in ("he", "xavier", "small", "zeros"):
        assert Dense(4, 3, init=init, seed=0).params["W"].shape == (4, 3)
    assert not Dense(4, 3, init="zeros").params["W"].any()


# ----------------------------------------------------------------------------- activations

ACTIVATIONS = [(Sigmoid, "Sigmoid"), (Tanh, "Tanh"), (ReLU, "ReLU"), (LeakyReLU, "LeakyReLU")]
ACT_SHAPES = [(1, 1), (5, 3), (2, 3, 4, 5)]


@pytest.mark.parametrize(("cls", "name"), ACTIVATIONS)
@pytest.mark.parametrize("shape", ACT_SHAPES)
def test_activation_gradcheck(rng, cls, name, shape):
    assert_gradcheck(cls(), rng.standard_normal(shape) * 3)


@pytest.mark.parametrize(("cls", "name"), ACTIVATIONS)
@pytest.mark.parametrize("shape", ACT_SHAPES)
def test_activation_matches_torch(torch, rng, cls, name, shape):
    compare_with_torch(torch, cls(), getattr(torch.nn, name)(), rng.standard_normal(shape) * 3)


def test_leaky_relu_slope(torch, rng):
    layer, module = LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)
    compare_with_torch(torch, layer, module, rng.standard_normal((4, 6)))


def test_relu_gradient_at_zero_is_zero_like_torch():
    layer = ReLU()
    layer.forward(np.array([[-1.0, 0.0, 1.0]]))
    assert layer.backward(np.ones((1, 3))).tolist() == [[0.0, 0.0, 1.0]]


# ----------------------------------------------------------------------------- Conv2D

# (N, c_in, H, W, c_out, k, stride, padding): odd sizes, batch 1, non-square, strides 1-3, paddings 0-2
CONV_CASES = [
    (1, 1, 5, 5, 1, 3, 1, 0),
    (2, 3, 7, 6, 4, 3, 1, 1),
    (1, 2, 8, 5, 3, 3, 2, 1),
    (3, 2, 9, 9, 2, 3, 3, 2),
    (2, 1, 6, 7, 2, 2, 2, 0),
    (1, 3, 5, 8, 2, 5, 1, 2),
    (2, 2, 4, 4, 3, 1, 1, 0),
    (2, 2, 10, 7, 3, 4, 3, 1),
]


@pytest.mark.parametrize(("N", "c_in", "H", "W", "c_out", "k", "s", "p"), CONV_CASES)
def test_conv_gradcheck(rng, N, c_in, H, W, c_out, k, s, p):
    layer = with_random_bias(Conv2D(c_in, c_out, k, stride=s, padding=p, seed=0))
    assert_gradcheck(layer, rng.standard_normal((N, c_in, H, W)))


@pytest.mark.parametrize(("N", "c_in", "H", "W", "c_out", "k", "s", "p"), CONV_CASES)
def test_conv_matches_torch(torch, rng, N, c_in, H, W, c_out, k, s, p):
    layer = with_random_bias(Conv2D(c_in, c_out, k, stride=s, padding=p, seed=0))
    compare_with_torch(torch, layer, torch_conv(torch, layer), rng.standard_normal((N, c_in, H, W)),
                       {"W": "weight", "b": "bias"})


@pytest.mark.parametrize("chunk_bytes", [1, 6000, 2**30])  # 1 image per chunk, 2, all at once
def test_conv_chunking_does_not_change_results(torch, rng, chunk_bytes):
    layer = with_random_bias(Conv2D(3, 4, 3, stride=2, padding=1, seed=0))
    layer.chunk_bytes = chunk_bytes
    compare_with_torch(torch, layer, torch_conv(torch, layer), rng.standard_normal((5, 3, 7, 6)),
                       {"W": "weight", "b": "bias"})
    assert_gradcheck(layer, rng.standard_normal((3, 3, 5, 5)))


@st.composite
def conv_cases(draw):
    k, s, p = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(0, 2))
    H, W = draw(st.integers(max(1, k - 2 * p), 9)), draw(st.integers(max(1, k - 2 * p), 9))
    return draw(st.integers(1, 3)), draw(st.integers(1, 3)), H, W, draw(st.integers(1, 3)), k, s, p, draw(
        st.integers(0, 2**16))


@PROPERTY
@given(conv_cases())
def test_conv_matches_torch_property(torch, case):
    N, c_in, H, W, c_out, k, s, p, seed = case
    rng = np.random.default_rng(seed)
    layer = with_random_bias(Conv2D(c_in, c_out, k, stride=s, padding=p, rng=rng), seed)
    compare_with_torch(torch, layer, torch_conv(torch, layer), rng.standard_normal((N, c_in, H, W)),
                       {"W": "weight", "b": "bias"})


# ----------------------------------------------------------------------------- MaxPool2D and Flatten

# (shape, kernel_size, stride): non-overlapping, overlapping, gaps, odd sizes that crop, batch 1
POOL_CASES = [((2, 3, 4, 4), 2, None), ((1, 2, 5, 7), 2, None), ((2, 1, 7, 7), 3, 2), ((1, 2, 6, 5), 2, 1),
              ((2, 2, 9, 8), 3, 3), ((1, 1, 8, 8), 2, 3), ((3, 2, 5, 5), 5, None)]


@pytest.mark.parametrize(("shape", "k", "s"), POOL_CASES)
def test_maxpool_gradcheck(rng, shape, k, s):
    assert_gradcheck(MaxPool2D(k, s), rng.standard_normal(shape))


@pytest.mark.parametrize(("shape", "k", "s"), POOL_CASES)
def test_maxpool_matches_torch(torch, rng, shape, k, s):
    compare_with_torch(torch, MaxPool2D(k, s), torch.nn.MaxPool2d(k, s), rng.standard_normal(shape))


@PROPERTY
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 5), st.integers(0, 5), st.integers(1, 3),
       st.integers(1, 3), st.integers(0, 2**16))
def test_maxpool_matches_torch_property(torch, k, s, extra_h, extra_w, N, C, seed):
    x = np.random.default_rng(seed).standard_normal((N, C, k + extra_h, k + extra_w))
    compare_with_torch(torch, MaxPool2D(k, s), torch.nn.MaxPool2d(k, s), x)


def test_maxpool_sends_gradient_to_first_max_only():
    layer = MaxPool2D(2)
    layer.forward(np.ones((1, 1, 2, 2)))  # a tie: PyTorch picks the first entry
    np.testing.assert_array_equal(layer.backward(np.full((1, 1, 1, 1), 5.0)), [[[[5.0, 0.0], [0.0, 0.0]]]])


def test_maxpool_default_stride_is_kernel_size():
    assert MaxPool2D(3).stride == 3 and MaxPool2D(3, 1).stride == 1
    assert MaxPool2D(2).forward(np.zeros((1, 1, 7, 5))).shape == (1, 1, 3, 2)


def test_flatten_round_trip(torch, rng):
    x = rng.standard_normal((2, 3, 4, 5))
    layer = Flatten()
    y = layer.forward(x)
    np.testing.assert_array_equal(y, torch.flatten(torch.tensor(x), 1).numpy())
    np.testing.assert_array_equal(layer.backward(y), x)
    assert_gradcheck(layer, x)


# ----------------------------------------------------------------------------- dtypes, repeated backward, repr


def all_layers():
    """Every layer that takes float input (Embedding takes integer ids: tested in test_attention.py)."""
    norm = LayerNorm(4)
    norm.params["gamma"][:] = [0.5, 1, 1.5, 2]  # not all equal, else dx = 0 for dy = ones
    return [Dense(12, 5, seed=0), Sigmoid(), Tanh(), ReLU(), LeakyReLU(), Conv2D(3, 2, 3, padding=1, seed=0),
            ConvTranspose2D(3, 2, 3, stride=2, padding=1, output_padding=1, seed=0), MaxPool2D(2), Flatten(),
            norm, SelfAttention(4, 2, seed=0)]


def layer_input(layer, rng, dtype):
    if isinstance(layer, Dense):
        shape = (4, 12)
    elif isinstance(layer, SelfAttention):
        shape = (4, 3, 4)  # (N, T, d)
    else:
        shape = (4, 3, 4, 4)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer_dtype", [np.float32, np.float64])
def test_computes_in_the_input_dtype(rng, dtype, layer_dtype):
    for layer in all_layers():
        layer.astype(layer_dtype)
        x = layer_input(layer, rng, dtype)
        y = layer.forward(x)
        dx = layer.backward(np.ones_like(y))
        assert y.dtype == dtype and dx.dtype == dtype, layer
        assert all(g.dtype == dtype for g in layer.grads.values()), layer
        assert all(p.dtype == layer_dtype for p in layer.params.values()), layer


def test_float32_agrees_with_float64(rng):
    for layer in all_layers():
        x = layer_input(layer, rng, np.float64)
        y64 = layer.forward(x)
        dx64 = layer.backward(np.ones_like(y64))
        y32 = layer.forward(x.astype(np.float32))
        dx32 = layer.backward(np.ones_like(y32))
        assert rel_error(y32, y64) < 1e-5 and rel_error(dx32, dx64) < 1e-5, layer


def test_params_created_in_dtype():
    assert Dense(3, 2, dtype=np.float32).params["W"].dtype == np.float32
    assert Conv2D(1, 2, 3, dtype=np.float32).params["b"].dtype == np.float32
    assert Dense(3, 2).params["W"].dtype == np.float64


def test_integer_input_is_converted_to_the_layer_dtype():
    layer = Dense(2, 1, dtype=np.float32)
    assert layer.forward(np.array([[1, 2]])).dtype == np.float32


def test_backward_twice_gives_the_same_gradients(rng):
    for layer in all_layers():
        x = layer_input(layer, rng, np.float64)
        dy = rng.standard_normal(layer.forward(x).shape)
        dx1, grads1 = layer.backward(dy), {k: g.copy() for k, g in layer.grads.items()}
        dx2 = layer.backward(dy)
        np.testing.assert_array_equal(dx1, dx2)
        for k in grads1:
            np.testing.assert_array_equal(grads1[k], layer.grads[k])


def test_backward_does_not_modify_its_inputs(rng):
    for layer in all_layers():
        x = layer_input(layer, rng, np.float64)
        x0 = x.copy()
        dy = rng.standard_normal(layer.forward(x).shape)
        dy0 = dy.copy()
        layer.backward(dy)
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(dy, dy0)


def test_input_grad_false_skips_dx_but_fills_grads(rng):
    for layer in (Dense(12, 5, seed=0), Conv2D(3, 2, 3, seed=0), LayerNorm(4), SelfAttention(4, 2, seed=0)):
        x = layer_input(layer, rng, np.float64)
        dy = rng.standard_normal(layer.forward(x).shape)
        assert layer.backward(dy, input_grad=False) is None
        grads = {k: g.copy() for k, g in layer.grads.items()}
        layer.backward(dy)
        for k in grads:
            np.testing.assert_array_equal(grads[k], layer.grads[k])


def test_parameter_free_layers_have_empty_params():
    for layer in (Sigmoid(), Tanh(), ReLU(), LeakyReLU(), MaxPool2D(2), Flatten()):
        assert layer.params == {} and layer.grads == {}


def test_repr():
    assert repr(Dense(3, 2)) == "Dense(3, 2)"
    assert repr(Conv2D(1, 16, 3, padding=1)) == "Conv2D(1, 16, kernel_size=3, stride=1, padding=1)"
    assert repr(MaxPool2D(2)) == "MaxPool2D(kernel_size=2, stride=2)"
    assert repr(ReLU()) == "ReLU()" and repr(LeakyReLU(0.1)) == "LeakyReLU(negative_slope=0.1)"


def test_call_is_forward(rng):
    layer, x = Dense(3, 2, seed=0), rng.standard_normal((2, 3))
    np.testing.assert_array_equal(layer(x), layer.forward(x))
