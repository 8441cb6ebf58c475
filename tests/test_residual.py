"""Residual blocks, train/eval modes and buffers of containers, save/load with buffers."""

import numpy as np
import pytest

from dlcore import (
    SGD,
    Adam,
    BatchNorm1D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    ReLU,
    Residual,
    Sequential,
    SoftmaxCrossEntropy,
    Tanh,
    fit,
)
from dlcore.gradcheck import gradcheck

TOL = 1e-7


def mlp_block(n=4, hidden=6, seed=0):
    return Residual(Sequential(Dense(n, hidden, seed=seed), ReLU(), Dense(hidden, n, seed=seed + 1)))


def with_random_biases(model, seed=2):
    rng = np.random.default_rng(seed)
    for name, p in model.params.items():
        if name.endswith("b") or name.endswith("beta"):
            p[:] = rng.standard_normal(p.shape) * 0.5
    return model


def test_forward_adds_the_skip(rng):
    block = mlp_block()
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(block.forward(x), block.f.forward(x) + x)
    proj = Residual(Tanh(), projection=Dense(4, 4, seed=3))
    np.testing.assert_allclose(proj.forward(x), np.tanh(x) + proj.projection.forward(x))


def test_gradcheck_identity_skip(rng):
    block = with_random_biases(mlp_block())
    errors = gradcheck(block, rng.standard_normal((5, 4)))
    assert set(errors) == {"f.0.W", "f.0.b", "f.2.W", "f.2.b", "x"}
    assert max(errors.values()) < TOL, errors


def test_gradcheck_with_projection(rng):
    block = with_random_biases(Residual(Sequential(Dense(3, 5, seed=0), Tanh(), Dense(5, 2, seed=1)),
                                        projection=Dense(3, 2, seed=2)))
    errors = gradcheck(block, rng.standard_normal((4, 3)))
    assert set(errors) == {"f.0.W", "f.0.b", "f.2.W", "f.2.b", "projection.W", "projection.b", "x"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_conv_batchnorm_block(rng, training):
    f = Sequential(Conv2D(2, 3, 3, padding=1, seed=0), BatchNorm2D(3), ReLU(), Conv2D(3, 3, 3, padding=1, seed=1))
    block = with_random_biases(Residual(f, projection=Conv2D(2, 3, 1, seed=2))).train(training)
    model = Sequential(block, Flatten())
    errors = gradcheck(model, rng.standard_normal((2, 2, 4, 4)), seed=1)
    errors.pop("0.f.0.b")  # a bias before batch norm has gradient 0 in training: its rel. error is noise
    assert max(errors.values()) < TOL, errors
    assert list(model.buffers) == ["0.f.1.running_mean", "0.f.1.running_var"]


def test_names_in_a_sequential_and_live_arrays(rng):
    model = Sequential(Dense(3, 4, seed=0), ReLU(), mlp_block(), Dense(4, 2, seed=5))
    assert list(model.params) == ["0.W", "0.b", "2.f.0.W", "2.f.0.b", "2.f.2.W", "2.f.2.b", "3.W", "3.b"]
    assert model.params["2.f.0.W"] is model[2].f[0].params["W"]
    model.forward(rng.standard_normal((5, 3)))
    model.backward(rng.standard_normal((5, 2)))
    assert set(model.grads) == set(model.params)
    assert model.grads["2.f.2.b"] is model[2].f[2].grads["b"]


def test_shape_mismatch_is_a_clear_error(rng):
    block = Residual(Dense(4, 3, seed=0))
    with pytest.raises(ValueError, match=r"f\(x\) has shape \(2, 3\) but x has shape \(2, 4\).*projection"):
        block.forward(rng.standard_normal((2, 4)))
    block = Residual(Dense(4, 3, seed=0), projection=Dense(4, 2, seed=1))
    with pytest.raises(ValueError, match=r"projection\(x\)"):
        block.forward(rng.standard_normal((2, 4)))


def test_input_grad_false_fills_the_same_grads(rng):
    for block in (mlp_block(), Residual(ReLU(), projection=Dense(4, 4, seed=1))):
        x, dy = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
        block.forward(x)
        assert block.backward(dy, input_grad=False) is None
        grads = {k: g.copy() for k, g in block.grads.items()}
        block.backward(dy)
        assert set(grads) == set(block.params)
        for k in grads:
            np.testing.assert_array_equal(grads[k], block.grads[k])


def test_train_eval_propagate_into_nested_containers():
    bn, drop = BatchNorm1D(4), Dropout(0.5)
    model = Sequential(Dense(4, 4), Residual(Sequential(bn, Sequential(drop))), ReLU())
    assert model.eval() is model
    assert not any(m.training for m in (model, model[0], model[1], bn, drop, model[2]))
    assert model.train() is model and all(m.training for m in (model[1], bn, drop))
    assert model.train(False) is model and not bn.training


def test_astype_converts_params_and_buffers(rng):
    model = Sequential(Residual(Sequential(Dense(3, 3, seed=0), BatchNorm1D(3))), Dense(3, 2))
    model.astype(np.float32)
    assert all(a.dtype == np.float32 for a in (*model.params.values(), *model.buffers.values()))
    y = model.forward(rng.standard_normal((4, 3)).astype(np.float32))
    assert y.dtype == np.float32


def test_optimisers_train_a_residual_model(rng):
    X = rng.standard_normal((120, 4))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    for make in (lambda m: SGD(m, lr=0.1, momentum=0.9), lambda m: Adam(m, lr=0.01)):
        model = Sequential(Dense(4, 16, seed=0), BatchNorm1D(16), ReLU(), mlp_block(16, 16, seed=3),
                           ReLU(), Dense(16, 2, seed=4))
        history = fit(model, SoftmaxCrossEntropy(), make(model), X, y, epochs=15, batch_size=20)
        assert history.loss[-1] < 0.6 * history.loss[0]


def test_save_load_round_trip_with_buffers(tmp_path, rng):
    def build(seed):
        return Sequential(Conv2D(1, 2, 3, padding=1, seed=seed), BatchNorm2D(2), ReLU(),
                          Residual(Sequential(Conv2D(2, 2, 3, padding=1, seed=seed + 1), BatchNorm2D(2))),
                          Flatten(), Dense(32, 3, seed=seed + 2))

    model = build(0)
    for _ in range(3):  # move the running statistics away from their initial values
        model.forward(rng.standard_normal((4, 1, 4, 4)))
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        assert "1.running_var" in f.files and "3.f.1.running_mean" in f.files and "3.f.0.W" in f.files
    other = build(5)
    before = other.buffers["3.f.1.running_mean"]
    assert other.load(tmp_path / "m.npz") is other
    assert other.buffers["3.f.1.running_mean"] is before  # in place
    for name, a in {**model.params, **model.buffers}.items():
        np.testing.assert_array_equal({**other.params, **other.buffers}[name], a)
    x = rng.standard_normal((2, 1, 4, 4))
    np.testing.assert_array_equal(model.eval().forward(x), other.eval().forward(x))


def test_load_without_buffers(tmp_path):
    Sequential(Dense(3, 2, seed=0)).save(tmp_path / "plain.npz")
    np.savez(tmp_path / "old.npz", **Sequential(Dense(3, 2, seed=0), BatchNorm1D(2)).params)
    Sequential(Dense(3, 2, seed=1)).load(tmp_path / "plain.npz")  # no buffers on either side: fine
    with pytest.raises(ValueError, match=r"missing \['1.running_mean', '1.running_var'\]"):
        Sequential(Dense(3, 2, seed=1), BatchNorm1D(2)).load(tmp_path / "old.npz")


def test_repr():
    text = repr(Residual(Sequential(Dense(2, 2)), projection=Dense(2, 2)))
    assert text.startswith("Residual(\n  f=Sequential(") and "projection=Dense(2, 2)" in text
