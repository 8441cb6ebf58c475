"""Numerics under stress: the fused, stable sigmoid + BCE on logits (issue 11, "Numerics").

A Sigmoid output with BinaryCrossEntropy saturates: past a logit of ~37 (float64) p rounds to 1,
the loss is capped by the clip and sigmoid' = p (1 - p) = 0, so a confidently wrong unit never
learns. BCEWithLogits, and fit/evaluate on a model ending in a Sigmoid, work on the logits.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dlcore import (
    MLP,
    SGD,
    BinaryCrossEntropy,
    Dense,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    evaluate,
    fit,
)
from dlcore import functional as F
from dlcore.gradcheck import gradcheck
from dlcore.losses import BCEWithLogits

finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


def reference_bce(z, y):
    """-[y log p + (1-y) log(1-p)] in exact-ish arithmetic (float128 where available, via logaddexp)."""
    z = np.asarray(z, dtype=np.longdouble)
    return float(np.mean(y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)))


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(1, 20), elements=finite), st.data())
def test_bce_with_logits_is_finite_exact_and_its_gradient_is_p_minus_y(z, data):
    y = data.draw(arrays(np.int64, z.shape, elements=st.integers(0, 1)))
    loss = BCEWithLogits()
    value = loss(z, y)
    assert np.isfinite(value) and value >= 0
    assert value == pytest.approx(reference_bce(z, y), rel=1e-12, abs=1e-300)
    grad = loss.backward()
    np.testing.assert_array_equal(grad, (F.sigmoid(z) - y) / z.size)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("z", [50.0, 1e3, -50.0, -1e3])
def test_confidently_wrong_unit_keeps_its_gradient(z, dtype):
    y = np.array([0.0 if z > 0 else 1.0])
    loss = BCEWithLogits()
    assert loss(np.array([z], dtype=dtype), y) == pytest.approx(abs(z), rel=1e-6)  # not capped at ~36
    assert loss.backward()[0] == pytest.approx(np.sign(z), rel=1e-6)  # p - y = +-1


def test_bce_with_logits_matches_bce_where_bce_is_accurate(rng):
    z, y = rng.normal(0, 3, (50, 1)), rng.integers(0, 2, (50, 1))
    plain, fused = BinaryCrossEntropy(), BCEWithLogits()
    assert fused(z, y) == pytest.approx(plain(F.sigmoid(z), y), rel=1e-12)
    dz_plain = plain.backward() * F.sigmoid_grad(z)
    np.testing.assert_allclose(fused.backward(), dz_plain, rtol=1e-10)


def test_bce_with_logits_gradcheck_and_shapes(rng):
    model = Sequential(Dense(3, 1, seed=0))
    x, y = rng.normal(size=(6, 3)), rng.integers(0, 2, 6)  # (N,) targets against (N, 1) logits
    errors = gradcheck(model, x, BCEWithLogits(), y)
    assert max(errors.values()) < 1e-7
    with pytest.raises(ValueError, match="does not match"):
        BCEWithLogits()(np.zeros((2, 1)), np.zeros((3,)))
    with pytest.raises(ValueError, match="targets 0 or 1"):
        BCEWithLogits()(np.zeros(2), np.array([2, 0]))


def test_bce_with_logits_parity_with_torch(torch, rng):
    z, y = rng.normal(0, 30, (40, 1)), rng.integers(0, 2, (40, 1)).astype(float)
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(zt, torch.tensor(y))
    ref.backward()
    loss = BCEWithLogits()
    assert loss(z, y) == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), zt.grad.numpy(), rtol=1e-10, atol=1e-300)


def test_the_unfused_form_really_saturates():
    """The defect itself: with BCE on probabilities the gradient at logit 50 is exactly 0."""
    neuron = Sigmoid()
    p = neuron.forward(np.array([[50.0]]))
    bce = BinaryCrossEntropy()
    assert bce(p, np.array([[0]])) < 37  # capped by the clip: the true loss is 50
    assert neuron.backward(bce.backward())[0, 0] == 0.0


def wrong_neuron():
    """MLP([1, 1]) (Dense -> Sigmoid) whose logit for x = 1 is 50 while the target is 0."""
    model = MLP([1, 1], output="sigmoid", seed=0)
    model.params["0.W"][...] = 50.0
    model.params["0.b"][...] = 0.0
    return model


def test_fit_gives_a_confidently_wrong_unit_the_gradient_p_minus_y():
    model = wrong_neuron()
    X, y = np.array([[1.0]]), np.array([0])
    seen = []
    fit(model, BinaryCrossEntropy(), SGD(model, lr=1e-9), X, y, epochs=1,
        callbacks=[lambda e, m, h: seen.append(dict(m.grads))])
    assert seen[0]["0.b"][0] == pytest.approx(1.0)  # p - y = 1 - 0
    assert seen[0]["0.W"][0, 0] == pytest.approx(1.0)


def test_fit_recovers_a_confidently_wrong_unit_and_reports_its_true_loss():
    model = wrong_neuron()
    X, y = np.array([[1.0], [-1.0]]), np.array([0, 1])
    history = fit(model, BinaryCrossEntropy(), SGD(model, lr=10.0), X, y, epochs=20)
    assert history.loss[0] == pytest.approx(50.0, rel=1e-6)  # the truth, not the clip's 36
    assert history.loss[-1] < 0.01 and history.acc[-1] == 1.0
    assert model.forward(X)[0, 0] < 0.01  # forward still gives probabilities
    loss, acc = evaluate(model, BinaryCrossEntropy(), X, y)
    assert loss == pytest.approx(history.loss[-1], rel=0.5) and acc == 1.0


def test_evaluate_reports_the_true_loss_of_a_saturated_model():
    model = wrong_neuron()
    loss, _ = evaluate(model, BinaryCrossEntropy(), np.array([[1.0]]), np.array([0]))
    assert loss == pytest.approx(50.0)


def test_fit_on_logits_agrees_with_the_plain_form_where_nothing_saturates(rng):
    X, y = rng.normal(size=(40, 2)), rng.integers(0, 2, 40)
    fused_model, plain_model = MLP([2, 4, 1], seed=3), MLP([2, 4, 1], seed=3)
    h = fit(fused_model, BinaryCrossEntropy(), SGD(fused_model, lr=0.5), X, y, epochs=30, batch_size=8)
    loss_fn, opt = BinaryCrossEntropy(), SGD(plain_model, lr=0.5)
    order_rng, losses = np.random.default_rng(0), []
    for _ in range(30):  # the same loop as fit, by hand, with the unfused gradient
        order, total = order_rng.permutation(40), 0.0
        for s in range(0, 40, 8):
            idx = order[s : s + 8]
            total += loss_fn(plain_model.forward(X[idx]), y[idx]) * len(idx)
            plain_model.backward(loss_fn.backward())
            opt.step()
        losses.append(total / 40)
    np.testing.assert_allclose(h.loss, losses, rtol=1e-10)
    for k, p in fused_model.params.items():
        np.testing.assert_allclose(p, plain_model.params[k], rtol=1e-9, atol=1e-12)


def test_softmax_cross_entropy_does_not_saturate():
    """The other loss/activation pair is fused already: logits 1000 apart still give gradient p - y."""
    loss = SoftmaxCrossEntropy()
    assert loss(np.array([[1000.0, 0.0]]), np.array([1])) == pytest.approx(1000.0)
    np.testing.assert_allclose(loss.backward(), [[1.0, -1.0]])


def test_diverging_sigmoid_model_is_reported_even_when_its_probabilities_look_fine():
    model = wrong_neuron()
    model.params["0.W"][...] = np.inf  # p = 1.0 is finite, the logit is not
    with pytest.raises(FloatingPointError, match="epoch 1"):
        with np.errstate(all="ignore"):
            fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), np.array([[1.0]]), np.array([0]), epochs=2)


# ----------------------------------------------------------------------------- NaN is bad data


@pytest.mark.parametrize("where", ["X", "y", "X_val"])
def test_nan_in_the_data_is_reported_as_bad_data(where, rng):
    X, y = rng.normal(size=(20, 2)), rng.integers(0, 2, 20).astype(float)
    X_val, y_val = X.copy(), y.copy()
    {"X": X, "y": y, "X_val": X_val}[where][3] = np.nan
    model = MLP([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match=f"{where} contains NaN.*bad data") as err:
        fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=1, X_val=X_val, y_val=y_val)
    assert "learning rate" not in str(err.value)


@pytest.mark.parametrize("loss", [BinaryCrossEntropy(), BCEWithLogits(), SoftmaxCrossEntropy()])
def test_losses_refuse_nan_targets_or_predictions(loss):
    if isinstance(loss, SoftmaxCrossEntropy):
        with pytest.raises(ValueError, match="NaN"):
            loss(np.array([[np.nan, 0.0]]), np.array([0]))
        return
    with pytest.raises(ValueError, match="targets contains NaN"):
        loss(np.array([0.5, 0.5]), np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="NaN"):
        loss(np.array([np.nan, 0.5]), np.array([0.0, 1.0]))


def test_mse_refuses_nan():
    from dlcore import MeanSquaredError

    with pytest.raises(ValueError, match="targets contains NaN"):
        MeanSquaredError()(np.zeros(2), np.array([np.nan, 0.0]))
