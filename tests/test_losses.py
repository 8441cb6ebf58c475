"""Losses: values and gradients vs PyTorch and finite differences (float64), shapes, dtypes."""

import numpy as np
import pytest

from dlcore import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy
from dlcore.gradcheck import numerical_grad, rel_error

TOL = 1e-7


def loss_gradcheck(loss, pred, target):
    loss(pred, target)
    analytic = loss.backward()
    numeric = numerical_grad(lambda: loss(pred, target), pred)
    return rel_error(analytic, numeric)


@pytest.mark.parametrize("shape", [(1, 1), (5, 1), (8,), (3, 4)])
def test_bce_matches_torch(torch, rng, shape):
    p, y = rng.uniform(0.02, 0.98, shape), rng.integers(0, 2, shape).astype(np.float64)
    loss = BinaryCrossEntropy()
    pt = torch.tensor(p, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy(pt, torch.tensor(y))
    ref.backward()
    assert abs(loss(p, y) - ref.item()) < TOL * abs(ref.item())
    assert rel_error(loss.backward(), pt.grad.numpy()) < TOL
    assert loss_gradcheck(loss, p, y) < TOL


def test_bce_accepts_n_vs_n1_targets_without_broadcasting(rng):
    p, y = rng.uniform(0.1, 0.9, (6, 1)), rng.integers(0, 2, 6)
    loss = BinaryCrossEntropy()
    a = loss(p, y)
    assert loss.backward().shape == (6, 1)
    assert a == pytest.approx(loss(p, y.reshape(6, 1))) == pytest.approx(loss(p.ravel(), y.reshape(6, 1)))
    assert loss.backward().shape == (6,)


def test_bce_is_finite_at_exactly_0_and_1():
    loss = BinaryCrossEntropy()
    value = loss(np.array([[0.0], [1.0], [1.0]]), np.array([[1], [0], [1]]))
    assert np.isfinite(value) and value > 10
    assert np.all(np.isfinite(loss.backward()))
    assert loss(np.array([1.0, 0.0]), np.array([1, 0])) < 1e-12


@pytest.mark.parametrize(("N", "K"), [(1, 2), (5, 3), (8, 10), (4, 1)])
def test_softmax_cross_entropy_matches_torch(torch, rng, N, K):
    z, labels = rng.standard_normal((N, K)) * 3, rng.integers(0, K, N)
    loss = SoftmaxCrossEntropy()
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt, torch.tensor(labels))
    ref.backward()
    assert abs(loss(z, labels) - ref.item()) <= TOL * max(abs(ref.item()), 1e-12)
    assert rel_error(loss.backward(), zt.grad.numpy()) < TOL
    assert loss_gradcheck(loss, z, labels) < TOL


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    loss = SoftmaxCrossEntropy()
    value = loss(np.array([[1000.0, -1000.0, 0.0], [0.0, 1000.0, 0.0]]), np.array([0, 0]))
    assert value == pytest.approx(500.0)
    np.testing.assert_allclose(loss.backward(), [[0, 0, 0], [-0.5, 0.5, 0]], atol=1e-12)


def test_mse_matches_torch(torch, rng):
    pred, y = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    pt = torch.tensor(pred, requires_grad=True)
    ref = torch.nn.functional.mse_loss(pt, torch.tensor(y))
    ref.backward()
    loss = MeanSquaredError()
    assert loss(pred, y) == pytest.approx(ref.item(), rel=1e-12)
    assert rel_error(loss.backward(), pt.grad.numpy()) < TOL
    assert loss_gradcheck(loss, pred, y) < TOL


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_gradient_keeps_dtype(rng, dtype):
    cases = [(BinaryCrossEntropy(), rng.uniform(0.1, 0.9, (4, 1)).astype(dtype), rng.integers(0, 2, (4, 1))),
             (SoftmaxCrossEntropy(), rng.standard_normal((4, 3)).astype(dtype), rng.integers(0, 3, 4)),
             (MeanSquaredError(), rng.standard_normal((4, 2)).astype(dtype), rng.standard_normal((4, 2)))]
    for loss, pred, target in cases:
        assert isinstance(loss(pred, target), float)
        assert loss.backward().dtype == dtype, loss


def test_backward_twice_same_result(rng):
    loss = SoftmaxCrossEntropy()
    loss(rng.standard_normal((4, 3)), np.array([0, 1, 2, 1]))
    np.testing.assert_array_equal(loss.backward(), loss.backward())


def test_call_equals_forward(rng):
    z, labels = rng.standard_normal((4, 3)), np.array([0, 1, 2, 1])
    assert SoftmaxCrossEntropy()(z, labels) == SoftmaxCrossEntropy().forward(z, labels)
