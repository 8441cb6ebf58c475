"""BatchNorm1D / BatchNorm2D: gradients vs finite differences (train and eval mode) and vs PyTorch
(forward, dx, dgamma, dbeta, running statistics, eval outputs) in float64."""

import numpy as np
import pytest

from dlcore import BatchNorm1D, BatchNorm2D, Sequential
from dlcore.gradcheck import gradcheck, rel_error

TOL = 1e-7

CASES = [(BatchNorm1D, (8, 5)), (BatchNorm1D, (2, 3)), (BatchNorm2D, (4, 3, 5, 6)), (BatchNorm2D, (1, 2, 3, 3))]


def randomised(layer, seed=3):
    """Non-trivial gamma, beta and running statistics."""
    rng = np.random.default_rng(seed)
    n = layer.n
    layer.params["gamma"][:] = rng.uniform(0.5, 2, n)
    layer.params["beta"][:] = rng.standard_normal(n)
    layer.buffers["running_mean"][:] = rng.standard_normal(n)
    layer.buffers["running_var"][:] = rng.uniform(0.5, 2, n)
    return layer


def torch_bn(torch, layer, momentum=0.1):
    cls = torch.nn.BatchNorm1d if isinstance(layer, BatchNorm1D) else torch.nn.BatchNorm2d
    bn = cls(layer.n, momentum=momentum, eps=layer.eps).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(layer.params["gamma"]))
        bn.bias.copy_(torch.tensor(layer.params["beta"]))
        bn.running_mean.copy_(torch.tensor(layer.buffers["running_mean"]))
        bn.running_var.copy_(torch.tensor(layer.buffers["running_var"]))
    return bn


@pytest.mark.parametrize(("cls", "shape"), CASES)
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck(rng, cls, shape, training):
    layer = randomised(cls(shape[1])).train(training)
    errors = gradcheck(layer, rng.standard_normal(shape) * 2 + 1, seed=1)  # dy not a function of x
    assert set(errors) == {"gamma", "beta", "x"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize(("cls", "shape"), CASES)
@pytest.mark.parametrize("training", [True, False])
def test_matches_torch(torch, rng, cls, shape, training):
    layer = randomised(cls(shape[1])).train(training)
    bn = torch_bn(torch, layer).train(training)
    x = rng.standard_normal(shape) * 3 - 1
    dy = rng.standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = bn(xt)
    yt.backward(torch.tensor(dy))
    y = layer.forward(x)
    dx = layer.backward(dy)
    assert rel_error(y, yt.detach().numpy()) < TOL
    assert rel_error(dx, xt.grad.numpy()) < TOL
    assert rel_error(layer.grads["gamma"], bn.weight.grad.numpy()) < TOL
    assert rel_error(layer.grads["beta"], bn.bias.grad.numpy()) < TOL
    for name in ("running_mean", "running_var"):  # updated in training, untouched in eval
        np.testing.assert_allclose(layer.buffers[name], getattr(bn, name).numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("cls", "shape"), [(BatchNorm1D, (16, 4)), (BatchNorm2D, (3, 4, 5, 5))])
@pytest.mark.parametrize("momentum", [0.1, 0.3])
def test_running_statistics_and_eval_match_torch_after_training_steps(torch, rng, cls, shape, momentum):
    layer = cls(shape[1], momentum=momentum)
    bn = torch_bn(torch, layer, momentum).train()
    for k in range(5):
        x = rng.standard_normal(shape) * (k + 1) + k
        layer.forward(x)
        bn(torch.tensor(x))
        for name in ("running_mean", "running_var"):
            np.testing.assert_allclose(layer.buffers[name], getattr(bn, name).numpy(), rtol=1e-10, atol=1e-10)
    layer.eval()
    bn.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(layer.forward(x), bn(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-10)


def test_training_normalises_each_channel(rng):
    x = rng.standard_normal((6, 3, 4, 4)) * np.array([1, 5, 0.1])[None, :, None, None] + 7
    y = BatchNorm2D(3).forward(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)


def test_running_statistics_update_uses_the_unbiased_variance(rng):
    layer = BatchNorm1D(2, momentum=0.5)
    x = rng.standard_normal((4, 2))
    layer.forward(x)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.5 * x.mean(0))
    np.testing.assert_allclose(layer.buffers["running_var"], 0.5 + 0.5 * x.var(0, ddof=1))


def test_eval_mode_uses_running_statistics_and_leaves_them_alone(rng):
    layer = randomised(BatchNorm1D(3)).eval()
    before = {k: b.copy() for k, b in layer.buffers.items()}
    x = rng.standard_normal((5, 3))
    y = layer.forward(x)
    mean, var = before["running_mean"], before["running_var"]
    np.testing.assert_allclose(y, layer.params["gamma"] * (x - mean) / np.sqrt(var + 1e-5) + layer.params["beta"])
    for k in before:
        np.testing.assert_array_equal(layer.buffers[k], before[k])
    layer.eval().forward(x[:1])  # one sample is fine in eval mode


def test_params_buffers_and_repr():
    layer = BatchNorm2D(4)
    assert set(layer.params) == {"gamma", "beta"} and set(layer.buffers) == {"running_mean", "running_var"}
    assert layer.params["gamma"].tolist() == [1] * 4 and not layer.params["beta"].any()
    assert not layer.buffers["running_mean"].any() and layer.buffers["running_var"].tolist() == [1] * 4
    assert repr(layer) == "BatchNorm2D(4, momentum=0.1, eps=1e-05)"
    assert BatchNorm1D(3, dtype=np.float32).buffers["running_var"].dtype == np.float32


def test_float32(rng):
    layer = BatchNorm2D(2).astype(np.float32)
    assert all(a.dtype == np.float32 for a in (*layer.params.values(), *layer.buffers.values()))
    y = layer.forward(rng.standard_normal((3, 2, 4, 4)).astype(np.float32))
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.grads["gamma"].dtype == np.float32
    assert layer.buffers["running_mean"].dtype == np.float32


def test_input_grad_false_fills_grads_only(rng):
    layer = BatchNorm1D(3)
    x, dy = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    layer.forward(x)
    assert layer.backward(dy, input_grad=False) is None
    grads = {k: g.copy() for k, g in layer.grads.items()}
    layer.backward(dy)
    for k in grads:
        np.testing.assert_array_equal(grads[k], layer.grads[k])


@pytest.mark.parametrize(("layer", "shape", "match"), [
    (BatchNorm1D(3), (4, 2), r"expects input of shape \(N, 3\), got \(4, 2\)"),
    (BatchNorm1D(3), (4, 3, 2), r"expects input of shape \(N, 3\)"),
    (BatchNorm2D(3), (4, 3), r"expects input of shape \(N, 3, H, W\)"),
    (BatchNorm2D(3), (4, 2, 5, 5), r"expects input of shape \(N, 3, H, W\), got \(4, 2, 5, 5\)"),
    (BatchNorm1D(3), (1, 3), "Expected more than 1 value per channel when training"),
    (BatchNorm2D(3), (1, 3, 1, 1), "Expected more than 1 value per channel when training"),
])
def test_clear_errors(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer.forward(np.zeros(shape))


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm1D(3, momentum=2)
    with pytest.raises(ValueError, match="channel"):
        BatchNorm2D(0)


def test_one_image_is_enough_for_2d_training(rng):
    BatchNorm2D(2).forward(rng.standard_normal((1, 2, 2, 2)))  # 4 values per channel


def test_in_a_sequential_gradcheck(rng):
    from dlcore import Dense, ReLU

    model = Sequential(Dense(4, 6, seed=0), BatchNorm1D(6), ReLU(), Dense(6, 2, seed=1))
    errors = gradcheck(model, rng.standard_normal((7, 4)))
    errors.pop("0.b")  # a bias before a batch norm has gradient 0: its relative error compares noise
    np.testing.assert_allclose(model.grads["0.b"], 0, atol=1e-12)
    assert max(errors.values()) < TOL, errors
    assert list(model.buffers) == ["1.running_mean", "1.running_var"]
