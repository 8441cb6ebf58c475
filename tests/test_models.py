"""Sequential and MLP: whole models vs PyTorch (loss, every gradient, input gradient), save/load,
dtype conversion, and that ``import dlcore`` never imports torch."""

import subprocess
import sys

import numpy as np
import pytest

from dlcore import (
    MLP,
    BinaryCrossEntropy,
    Conv2D,
    Dense,
    Flatten,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
)
from dlcore.gradcheck import gradcheck, rel_error

TOL = 1e-7


def to_torch(torch, model: Sequential):
    """The same network in PyTorch (float64), with dlcore's weights copied in."""
    nn, modules = torch.nn, []
    for layer in model.layers:
        if isinstance(layer, Dense):
            m = nn.Linear(layer.n_in, layer.n_out)
            weight = layer.params["W"].T
        elif isinstance(layer, Conv2D):
            m = nn.Conv2d(layer.c_in, layer.c_out, layer.k, stride=layer.stride, padding=layer.padding)
            weight = layer.params["W"]
        elif isinstance(layer, LeakyReLU):
            m, weight = nn.LeakyReLU(layer.negative_slope), None
        elif isinstance(layer, MaxPool2D):
            m, weight = nn.MaxPool2d(layer.k, layer.stride), None
        else:
            m, weight = {Sigmoid: nn.Sigmoid, Tanh: nn.Tanh, ReLU: nn.ReLU, Flatten: nn.Flatten}[type(layer)](), None
        m = m.double()  # before copying, so the weights keep all their digits
        if weight is not None:
            with torch.no_grad():
                m.weight.copy_(torch.tensor(weight))
                m.bias.copy_(torch.tensor(layer.params["b"]))
        modules.append(m)
    return nn.Sequential(*modules)


def compare_model_with_torch(torch, model, tloss, loss, X, y):
    Xt = torch.tensor(X, requires_grad=True)
    tmodel = to_torch(torch, model)
    ref = tloss(tmodel(Xt), torch.tensor(y))
    ref.backward()

    value = loss(model.forward(X), y)
    dX = model.backward(loss.backward())
    assert abs(value - ref.item()) <= TOL * abs(ref.item())
    assert rel_error(dX, Xt.grad.numpy()) < TOL
    tparams = [p for m in tmodel for p in m.parameters()]
    assert len(tparams) == len(model.grads)
    for (name, g), tp in zip(model.grads.items(), tparams, strict=True):
        ref_g = tp.grad.numpy().T if name.endswith("W") and g.ndim == 2 else tp.grad.numpy()
        assert rel_error(g, ref_g) < TOL, name


def small_cnn(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                      Conv2D(4, 6, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                      Flatten(), Dense(6 * 3 * 3, 5, rng=rng))


def randomise_biases(model, seed=3):
    rng = np.random.default_rng(seed)
    for name, p in model.params.items():
        if name.endswith("b"):
            p[:] = rng.standard_normal(p.shape) * 0.1
    return model


@pytest.mark.parametrize(("sizes", "activation"), [([5, 8, 6, 3], "tanh"), ([784, 32, 16, 10], "relu"),
                                                   ([3, 4, 2], "sigmoid"), ([2, 9, 9, 4], "leaky_relu")])
def test_mlp_softmax_matches_torch(torch, rng, sizes, activation):
    model = randomise_biases(MLP(sizes, activation=activation, output=None, seed=1))
    X, y = rng.standard_normal((7, sizes[0])), rng.integers(0, sizes[-1], 7)
    compare_model_with_torch(torch, model, torch.nn.functional.cross_entropy, SoftmaxCrossEntropy(), X, y)


def test_mlp_sigmoid_bce_matches_torch(torch, rng):
    model = randomise_biases(MLP([4, 7, 1], activation="relu", output="sigmoid", seed=2))
    X, y = rng.standard_normal((9, 4)), rng.integers(0, 2, (9, 1)).astype(np.float64)
    compare_model_with_torch(torch, model, torch.nn.functional.binary_cross_entropy, BinaryCrossEntropy(), X, y)


def test_cnn_matches_torch(torch, rng):
    model = randomise_biases(small_cnn())
    X, y = rng.standard_normal((5, 1, 12, 12)), rng.integers(0, 5, 5)
    compare_model_with_torch(torch, model, torch.nn.functional.cross_entropy, SoftmaxCrossEntropy(), X, y)


def test_cnn_with_strides_matches_torch(torch, rng):
    r = np.random.default_rng(4)
    model = randomise_biases(Sequential(Conv2D(3, 5, 3, stride=2, padding=1, rng=r), Tanh(), MaxPool2D(3, 2),
                                        Conv2D(5, 4, 2, stride=1, rng=r), LeakyReLU(), Flatten(),
                                        Dense(4 * 2 * 1, 3, rng=r), Sigmoid()))
    X = rng.standard_normal((2, 3, 13, 10))
    y = rng.integers(0, 2, (2, 3)).astype(np.float64)
    compare_model_with_torch(torch, model, torch.nn.functional.binary_cross_entropy, BinaryCrossEntropy(), X, y)


def test_model_gradcheck_with_loss(rng):
    model = randomise_biases(small_cnn())
    errors = gradcheck(model, rng.standard_normal((2, 1, 12, 12)),
                       SoftmaxCrossEntropy(), np.array([1, 4]))
    assert set(errors) == set(model.params) | {"x"}
    assert max(errors.values()) < TOL, errors


def test_mlp_gradcheck_bce(rng):
    model = MLP([3, 5, 1], seed=0)
    errors = gradcheck(model, rng.standard_normal((6, 3)), BinaryCrossEntropy(), rng.integers(0, 2, (6, 1)))
    assert max(errors.values()) < TOL, errors


# ----------------------------------------------------------------------------- Sequential / MLP API


def test_mlp_structure_and_defaults():
    model = MLP([2, 16, 8, 1])
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Sigmoid", "Dense", "Sigmoid", "Dense", "Sigmoid"]
    assert list(model.params) == ["0.W", "0.b", "2.W", "2.b", "4.W", "4.b"]
    logits = MLP([2, 3, 4], activation="relu", output=None)
    assert [type(layer).__name__ for layer in logits.layers] == ["Dense", "ReLU", "Dense"]
    assert [type(x).__name__ for x in MLP([2, 3], output="linear")] == ["Dense"]
    assert isinstance(model, Sequential) and len(model) == 6 and isinstance(model[0], Dense)


def test_mlp_init_depends_on_activation():
    wide = 1000
    relu_w = MLP([wide, wide], activation="relu").params["0.W"]
    tanh_w = MLP([wide, wide], activation="tanh").params["0.W"]
    assert relu_w.std() == pytest.approx(np.sqrt(2 / wide), rel=0.02)   # He
    assert tanh_w.std() == pytest.approx(np.sqrt(1 / wide), rel=0.02)   # Xavier (uniform: var 2/(in+out))
    assert MLP([wide, wide], activation="relu", init="xavier").params["0.W"].std() == pytest.approx(tanh_w.std())


def test_mlp_is_seeded():
    np.testing.assert_array_equal(MLP([3, 4, 2], seed=7).params["2.W"], MLP([3, 4, 2], seed=7).params["2.W"])
    assert not np.array_equal(MLP([3, 4, 2], seed=7).params["0.W"], MLP([3, 4, 2], seed=8).params["0.W"])
    assert not np.array_equal(MLP([4, 4, 4]).params["0.W"], MLP([4, 4, 4]).params["2.W"])


def test_params_are_views_of_the_layers(rng):
    model = MLP([3, 4, 2])
    model.params["0.W"][0, 0] = 123.0
    assert model.layers[0].params["W"][0, 0] == 123.0
    model.forward(rng.standard_normal((2, 3)))
    model.backward(np.ones((2, 2)))
    assert model.grads["2.b"] is model.layers[2].grads["b"]


def test_backward_returns_input_gradient_and_input_grad_false_skips_it(rng):
    model = MLP([3, 4, 2], activation="relu", output=None)
    X = rng.standard_normal((5, 3))
    model.forward(X)
    dX = model.backward(np.ones((5, 2)))
    grads = {k: g.copy() for k, g in model.grads.items()}
    assert dX.shape == X.shape
    assert model.backward(np.ones((5, 2)), input_grad=False) is None
    for k, g in model.grads.items():
        np.testing.assert_array_equal(g, grads[k])
    cnn = Sequential(Flatten(), Dense(12, 2))  # a parameter-free first layer: stops at the Dense
    cnn.forward(rng.standard_normal((2, 3, 2, 2)))
    assert cnn.backward(np.ones((2, 2)), input_grad=False) is None and set(cnn.grads) == {"1.W", "1.b"}


def test_astype_and_dtype_argument(rng):
    model = MLP([3, 4, 2], dtype=np.float32)
    assert all(p.dtype == np.float32 for p in model.params.values())
    y = model.forward(rng.standard_normal((2, 3)).astype(np.float32))
    assert y.dtype == np.float32
    model.backward(np.ones_like(y))
    assert all(g.dtype == np.float32 for g in model.grads.values())
    assert model.astype(np.float64) is model and all(p.dtype == np.float64 for p in model.params.values())
    assert model.forward(rng.standard_normal((2, 3))).dtype == np.float64


def test_save_load_round_trip(tmp_path, rng):
    model = small_cnn(seed=0)
    model.save(tmp_path / "cnn.npz")
    other = small_cnn(seed=1)
    before = other.params["0.W"]
    assert other.load(tmp_path / "cnn.npz") is other
    assert other.params["0.W"] is before  # loaded in place
    for name, p in model.params.items():
        np.testing.assert_array_equal(other.params[name], p)
    X = rng.standard_normal((2, 1, 12, 12))
    np.testing.assert_array_equal(model.forward(X), other.forward(X))
    model.save(tmp_path / "no_suffix")  # np.savez adds .npz; load accepts the same name
    other.load(tmp_path / "no_suffix")


def test_load_keeps_the_model_dtype(tmp_path):
    MLP([3, 4, 2]).save(tmp_path / "w.npz")
    model = MLP([3, 4, 2], seed=5, dtype=np.float32).load(tmp_path / "w.npz")
    np.testing.assert_allclose(model.params["0.W"], MLP([3, 4, 2]).params["0.W"], rtol=1e-6)
    assert model.params["0.W"].dtype == np.float32


def test_saved_file_is_plain_npz(tmp_path):
    MLP([3, 4, 2]).save(tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["0.W", "0.b", "2.W", "2.b"]


def test_repr_lists_layers_and_parameter_count():
    text = repr(MLP([2, 16, 1]))
    assert "Dense(2, 16)" in text and "Sigmoid()" in text and "65 parameters" in text


def test_nested_sequential(rng):
    inner = Sequential(Dense(3, 4, seed=0), Tanh())
    model = Sequential(inner, Dense(4, 2, seed=1))
    assert list(model.params) == ["0.0.W", "0.0.b", "1.W", "1.b"]
    errors = gradcheck(model, rng.standard_normal((3, 3)))
    assert max(errors.values()) < TOL


def test_import_dlcore_does_not_import_torch():
    code = ("import sys, dlcore, dlcore.functional, dlcore.init, dlcore.layers, dlcore.losses, dlcore.model, "
            "dlcore.optim, dlcore.train, dlcore.gradcheck, dlcore.normalisation, dlcore.regularisation, "
            "dlcore.schedules, dlcore.augment; "
            "assert 'torch' not in sys.modules, 'torch was imported'; "
            "assert 'dlcore.viz' not in sys.modules and 'dlcore.widgets' not in sys.modules; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
