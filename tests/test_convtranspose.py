"""ConvTranspose2D: output sizes; forward, dx, dW, db vs torch's conv_transpose2d and vs finite differences
(float64, rel. error <= 1e-7); the adjoint identity <conv(x), y> = <x, conv_transpose(y)> with the same
weights (to 1e-12); dtypes; bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcore import Conv2D, ConvTranspose2D, ReLU, Sequential
from dlcore import functional as F
from dlcore.gradcheck import gradcheck, rel_error

TOL = 1e-7

# (N, c_in, H, W, c_out, k, stride, padding, output_padding): stride 1-3, padding 0-2, output padding,
# non-square inputs, c_in != c_out, batch 1, 1x1 kernels, kernels smaller than the stride
CASES = [
    (1, 1, 3, 3, 1, 3, 1, 0, 0),
    (2, 3, 4, 5, 2, 2, 2, 0, 0),  # the U-Net's up-sampling: H -> 2H
    (2, 2, 5, 3, 4, 3, 2, 1, 1),  # also 2H: the other common choice
    (1, 4, 3, 6, 3, 4, 2, 1, 0),  # and a third
    (2, 2, 4, 4, 3, 3, 3, 2, 2),
    (3, 1, 2, 5, 2, 5, 1, 2, 0),
    (2, 3, 3, 4, 2, 1, 1, 0, 0),
    (1, 2, 3, 3, 2, 2, 3, 0, 1),  # gaps between the patches
]
PARAMS = ("N", "c_in", "H", "W", "c_out", "k", "s", "p", "op")


def make(c_in, c_out, k, s, p, op, seed=0):
    """A ConvTranspose2D with random weights and a random bias."""
    layer = ConvTranspose2D(c_in, c_out, k, stride=s, padding=p, output_padding=op, seed=seed)
    layer.params["b"][:] = np.random.default_rng(seed + 1).standard_normal(c_out)
    return layer


def compare_with_torch(torch, layer, x):
    """Forward, dx, dW and db of ``layer`` against torch.nn.functional.conv_transpose2d (random dy)."""
    xt = torch.tensor(x, requires_grad=True)
    Wt = torch.tensor(layer.params["W"], requires_grad=True)
    bt = torch.tensor(layer.params["b"], requires_grad=True)
    yt = torch.nn.functional.conv_transpose2d(xt, Wt, bt, stride=layer.stride, padding=layer.padding,
                                              output_padding=layer.output_padding)
    dy = np.random.default_rng(7).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(dy))

    y = layer.forward(x)
    dx = layer.backward(dy)
    assert y.shape == tuple(yt.shape) and dx.shape == x.shape
    assert rel_error(y, yt.detach().numpy()) < TOL
    assert rel_error(dx, xt.grad.numpy()) < TOL
    assert rel_error(layer.grads["W"], Wt.grad.numpy()) < TOL
    assert rel_error(layer.grads["b"], bt.grad.numpy()) < TOL


# ----------------------------------------------------------------------------- output sizes


@pytest.mark.parametrize(("H", "k", "s", "p", "op", "OH"), [
    (5, 3, 1, 0, 0, 7),   # stride 1, no padding: the "full" convolution grows by k - 1
    (5, 3, 1, 1, 0, 5),   # ... and padding (k - 1) / 2 keeps the size
    (4, 2, 2, 0, 0, 8),   # k = s = 2 doubles the size
    (4, 3, 2, 1, 1, 8),   # so does k = 3, s = 2, p = 1 with output_padding 1
    (4, 3, 2, 1, 0, 7),   # ... and without it, one less
    (4, 4, 2, 1, 0, 8),   # and k = 4, s = 2, p = 1
    (3, 2, 3, 0, 2, 10),  # (3 - 1) * 3 + 2 + 2
    (1, 1, 1, 0, 0, 1),
])
def test_output_size(H, k, s, p, op, OH):
    assert F.conv_transpose_output_size(H, k, s, p, op) == OH
    layer = ConvTranspose2D(2, 3, k, stride=s, padding=p, output_padding=op)
    assert layer.forward(np.zeros((2, 2, H, H + 1))).shape == (2, 3, OH, F.conv_transpose_output_size(H + 1, k, s, p, op))


@pytest.mark.parametrize(("k", "s", "p"), [(3, 1, 0), (3, 2, 1), (2, 2, 0), (4, 3, 2), (5, 2, 2)])
def test_a_conv_maps_every_output_size_back_to_the_input_size(k, s, p):
    for H in range(1, 7):
        for op in range(s):
            OH = F.conv_transpose_output_size(H, k, s, p, op)
            if OH >= 1:
                assert F.conv_output_size(OH, k, s, p) == H


# ----------------------------------------------------------------------------- against torch and finite differences


@pytest.mark.parametrize(PARAMS, CASES)
def test_matches_torch(torch, rng, N, c_in, H, W, c_out, k, s, p, op):
    compare_with_torch(torch, make(c_in, c_out, k, s, p, op), rng.standard_normal((N, c_in, H, W)))


@pytest.mark.parametrize(PARAMS, CASES)
def test_gradcheck(rng, N, c_in, H, W, c_out, k, s, p, op):
    layer = make(c_in, c_out, k, s, p, op)
    errors = gradcheck(layer, rng.standard_normal((N, c_in, H, W)))
    assert set(errors) == {"W", "b", "x"}
    assert max(errors.values()) < TOL, errors


@st.composite
def cases(draw):
    k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    p, op = draw(st.integers(0, 2)), draw(st.integers(0, s - 1))
    H, W = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    if min(F.conv_transpose_output_size(n, k, s, p, op) for n in (H, W)) < 1:
        p = 0  # padding that would crop everything away
    return draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W, draw(st.integers(1, 3)), k, s, p, op, draw(
        st.integers(0, 2**16))


@settings(max_examples=20, deadline=None)
@given(cases())
def test_matches_torch_property(torch, case):
    N, c_in, H, W, c_out, k, s, p, op, seed = case
    layer = make(c_in, c_out, k, s, p, op, seed=seed)
    compare_with_torch(torch, layer, np.random.default_rng(seed).standard_normal((N, c_in, H, W)))


# ----------------------------------------------------------------------------- it is exactly the adjoint


def conv_and_transpose(c_in, c_out, k, s, p, op, seed=0):
    """ConvTranspose2D(c_in -> c_out) and the Conv2D(c_out -> c_in) with the same weight array, no biases."""
    up = ConvTranspose2D(c_in, c_out, k, stride=s, padding=p, output_padding=op, seed=seed)
    conv = Conv2D(c_out, c_in, k, stride=s, padding=p)
    conv.params["W"] = up.params["W"]  # (c_in, c_out, k, k) is the Conv2D's (c_out', c_in', k, k)
    return conv, up


@pytest.mark.parametrize(PARAMS, CASES)
def test_adjoint_identity(rng, N, c_in, H, W, c_out, k, s, p, op):
    """<Conv2D(x), y> = <x, ConvTranspose2D(y)> for every x and y of matching shapes."""
    conv, up = conv_and_transpose(c_in, c_out, k, s, p, op)
    OH, OW = (F.conv_transpose_output_size(n, k, s, p, op) for n in (H, W))
    x = rng.standard_normal((N, c_out, OH, OW))  # the Conv2D's input: the shape ConvTranspose2D produces
    y = rng.standard_normal((N, c_in, H, W))     # the Conv2D's output: the shape ConvTranspose2D takes
    conv_x, up_y = conv.forward(x), up.forward(y)
    assert conv_x.shape == y.shape and up_y.shape == x.shape
    lhs, rhs = np.sum(conv_x * y), np.sum(x * up_y)
    assert abs(lhs - rhs) <= 1e-12 * np.linalg.norm(conv_x) * np.linalg.norm(y), (lhs, rhs)


@pytest.mark.parametrize(PARAMS, CASES)
def test_forward_is_the_conv_backward_and_backward_the_conv_forward(rng, N, c_in, H, W, c_out, k, s, p, op):
    conv, up = conv_and_transpose(c_in, c_out, k, s, p, op)
    OH, OW = (F.conv_transpose_output_size(n, k, s, p, op) for n in (H, W))
    y = rng.standard_normal((N, c_in, H, W))
    conv.forward(np.zeros((N, c_out, OH, OW)))
    np.testing.assert_allclose(up.forward(y), conv.backward(y), rtol=1e-12, atol=1e-12)
    dz = rng.standard_normal((N, c_out, OH, OW))
    np.testing.assert_allclose(up.backward(dz), conv.forward(dz), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- dtypes and the layer contract


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer_dtype", [np.float32, np.float64])
def test_computes_in_the_input_dtype(rng, dtype, layer_dtype):
    layer = ConvTranspose2D(3, 2, 3, stride=2, padding=1, output_padding=1, seed=0, dtype=layer_dtype)
    assert all(p.dtype == layer_dtype for p in layer.params.values())
    y = layer.forward(rng.standard_normal((2, 3, 4, 5)).astype(dtype))
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dtype and dx.dtype == dtype
    assert all(g.dtype == dtype for g in layer.grads.values())
    assert all(p.dtype == layer_dtype for p in layer.params.values())


def test_float32_agrees_with_float64(rng):
    layer, x = make(3, 2, 3, 2, 1, 1), rng.standard_normal((2, 3, 4, 5))
    y64, dx64 = layer.forward(x), layer.backward(np.ones((2, 2, 8, 10)))
    g64 = dict(layer.grads)
    y32, dx32 = layer.forward(x.astype(np.float32)), layer.backward(np.ones((2, 2, 8, 10), np.float32))
    assert rel_error(y32, y64) < 1e-5 and rel_error(dx32, dx64) < 1e-5
    assert all(rel_error(layer.grads[k], g64[k]) < 1e-5 for k in g64)


def test_integer_input_is_converted_to_the_layer_dtype():
    assert ConvTranspose2D(1, 1, 2, stride=2, dtype=np.float32).forward(np.ones((1, 1, 2, 2), int)).dtype == np.float32


def test_shapes_init_and_repr():
    layer = ConvTranspose2D(4, 3, 2, stride=2, seed=0)
    assert layer.params["W"].shape == (4, 3, 2, 2) and layer.params["b"].shape == (3,)
    assert not layer.params["b"].any()
    assert abs(ConvTranspose2D(64, 32, 3, seed=0).params["W"].std() - np.sqrt(2 / (32 * 9))) < 0.003  # He, fan_in c_out*k*k
    np.testing.assert_array_equal(ConvTranspose2D(2, 3, 3, seed=5).params["W"],
                                  ConvTranspose2D(2, 3, 3, rng=np.random.default_rng(5)).params["W"])
    assert repr(layer) == "ConvTranspose2D(4, 3, kernel_size=2, stride=2, padding=0, output_padding=0)"


def test_backward_twice_and_inputs_untouched(rng):
    layer, x = make(2, 3, 3, 2, 1, 1), rng.standard_normal((2, 2, 3, 4))
    dy = rng.standard_normal(layer.forward(x).shape)
    x0, dy0 = x.copy(), dy.copy()
    dx1, g1 = layer.backward(dy), {k: g.copy() for k, g in layer.grads.items()}
    dx2 = layer.backward(dy)
    np.testing.assert_array_equal(dx1, dx2)
    for k in g1:
        np.testing.assert_array_equal(g1[k], layer.grads[k])
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dy, dy0)


def test_input_grad_false_skips_dx_but_fills_grads(rng):
    layer, x = make(2, 3, 2, 2, 0, 0), rng.standard_normal((2, 2, 3, 4))
    dy = rng.standard_normal(layer.forward(x).shape)
    assert layer.backward(dy, input_grad=False) is None
    grads = {k: g.copy() for k, g in layer.grads.items()}
    layer.backward(dy)
    for k in grads:
        np.testing.assert_array_equal(grads[k], layer.grads[k])


def test_empty_batch_gives_empty_results():
    layer = ConvTranspose2D(2, 3, 2, stride=2)
    assert layer.forward(np.zeros((0, 2, 4, 4))).shape == (0, 3, 8, 8)
    assert layer.backward(np.zeros((0, 3, 8, 8))).shape == (0, 2, 4, 4)
    assert not layer.grads["W"].any() and layer.grads["W"].shape == (2, 3, 2, 2)


def test_in_a_sequential_down_and_up(rng):
    """Conv stride 2 halves, ConvTranspose2D stride 2 doubles: a tiny encoder-decoder, gradients and all."""
    model = Sequential(Conv2D(1, 4, 3, stride=2, padding=1, seed=0), ReLU(),
                       ConvTranspose2D(4, 2, 3, stride=2, padding=1, output_padding=1, seed=1))
    x = rng.standard_normal((2, 1, 6, 6))
    assert model.forward(x).shape == (2, 2, 6, 6)
    errors = gradcheck(model, x)
    assert max(errors.values()) < TOL, errors


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("shape", "match"), [
    ((2, 3, 4), r"expects input of shape \(N, 3, H, W\), got \(2, 3, 4\)"),
    ((2, 3, 4, 4, 1), r"expects input of shape \(N, 3, H, W\)"),
    ((2, 1, 4, 4), r"expects input of shape \(N, 3, H, W\), got \(2, 1, 4, 4\)"),
])
def test_wrong_input_shape(shape, match):
    with pytest.raises(ValueError, match=match):
        ConvTranspose2D(3, 2, 2, stride=2).forward(np.zeros(shape))


@pytest.mark.parametrize(("value", "kind"), [(np.nan, "NaN"), (np.inf, "inf")])
def test_nan_or_inf_input(value, kind):
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 2] = value
    with pytest.raises(ValueError, match=rf"ConvTranspose2D.*the input contains {kind} \(first at index \(0, 0, 1, 2\)\)"):
        ConvTranspose2D(1, 1, 3).forward(x)


def test_non_numeric_input():
    with pytest.raises(TypeError, match="numeric"):
        ConvTranspose2D(1, 1, 2).forward(np.array([[[["a"]]]]))


def test_padding_that_crops_everything():
    with pytest.raises(ValueError, match=r"a 1x1 input gives no output \(-1x-1\)"):
        ConvTranspose2D(1, 1, 3, padding=2).forward(np.zeros((1, 1, 1, 1)))


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"output_padding": 2, "stride": 2}, ValueError, r"0 <= output_padding < stride.*output_padding=2"),
    ({"output_padding": 1}, ValueError, r"0 <= output_padding < stride"),  # stride 1 allows none
    ({"output_padding": -1, "stride": 2}, ValueError, "output_padding"),
    ({"padding": -1}, ValueError, "padding >= 0"),
    ({"stride": 0}, ValueError, "stride must be a positive integer"),
    ({"kernel_size": 0}, ValueError, "kernel_size must be a positive integer"),
    ({"kernel_size": 2.5}, TypeError, "kernel_size must be a positive integer"),
    ({"c_in": 0}, ValueError, "c_in must be a positive integer"),
    ({"dtype": np.int64}, TypeError, "floating dtype"),
])
def test_bad_hyperparameters(kwargs, error, match):
    args = {"c_in": 1, "c_out": 1, "kernel_size": 3} | kwargs
    with pytest.raises(error, match=match):
        ConvTranspose2D(**args)


def test_backward_errors(rng):
    layer = ConvTranspose2D(1, 2, 2, stride=2)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((1, 2, 4, 4)))
    layer.forward(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match=r"dy has shape \(1, 2, 3, 4\), but forward returned \(1, 2, 4, 4\)"):
        layer.backward(np.zeros((1, 2, 3, 4)))
