"""fit / History / predict / accuracy."""

import numpy as np
import pytest

from dlcore import (
    MLP,
    SGD,
    Adam,
    BinaryCrossEntropy,
    Dense,
    History,
    SoftmaxCrossEntropy,
    accuracy,
    fit,
    predict,
)
from dlcore.train import evaluate


def blobs(n=200, k=2, seed=0):
    """k Gaussian blobs in 2-D, well separated: (X (n, 2), y (n,) in [0, k))."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centres = 3 * np.stack([np.cos(2 * np.pi * np.arange(k) / k), np.sin(2 * np.pi * np.arange(k) / k)], 1)
    return centres[y] + rng.standard_normal((n, 2)) * 0.5, y


def test_fit_binary_classifier():
    X, y = blobs()
    model = MLP([2, 8, 1], activation="tanh", seed=0)
    history = fit(model, BinaryCrossEntropy(), SGD(model, lr=0.5), X, y.reshape(-1, 1), epochs=30, batch_size=32)
    assert isinstance(history, History) and len(history) == 30
    assert len(history.loss) == len(history.acc) == 30 and history.val_loss == history.val_acc == []
    assert history.loss[-1] < history.loss[0] / 3
    assert history.acc[-1] > 0.95 and accuracy(model, X, y) > 0.95


def test_fit_multiclass_with_validation():
    X, y = blobs(300, k=4)
    Xv, yv = blobs(100, k=4, seed=1)
    model = MLP([2, 16, 4], activation="relu", output=None, seed=0)
    history = fit(model, SoftmaxCrossEntropy(), Adam(model, lr=0.01), X, y, epochs=20, batch_size=50,
                  X_val=Xv, y_val=yv)
    assert len(history.val_loss) == len(history.val_acc) == 20
    assert history.val_acc[-1] > 0.9
    assert history.val_loss[-1] == pytest.approx(evaluate(model, SoftmaxCrossEntropy(), Xv, yv)[0])
    assert history.val_acc[-1] == pytest.approx(accuracy(model, Xv, yv))
    assert set(history.last()) == {"loss", "acc", "val_loss", "val_acc"}


def test_full_batch_is_plain_gradient_descent():
    """batch_size=None: one step per epoch on all the data, identical to a hand-written loop."""
    X, y = blobs(50)
    y = y.reshape(-1, 1)
    model, ref = MLP([2, 3, 1], seed=0), MLP([2, 3, 1], seed=0)
    fit(model, BinaryCrossEntropy(), SGD(model, lr=0.3), X, y, epochs=5)
    loss, opt = BinaryCrossEntropy(), SGD(ref, lr=0.3)
    for _ in range(5):
        loss(ref.forward(X), y)
        ref.backward(loss.backward())
        opt.step()
    for name, p in model.params.items():
        np.testing.assert_allclose(p, ref.params[name], rtol=1e-12)


def test_fit_is_reproducible_and_shuffle_matters():
    X, y = blobs(100)

    def run(**kw):
        model = MLP([2, 4, 2], activation="relu", output=None, seed=0)
        return fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=3, batch_size=16, **kw).loss

    assert run(seed=1) == run(seed=1)
    assert run(seed=1) != run(seed=2)
    assert run(shuffle=False, seed=1) == run(shuffle=False, seed=2)


def test_callbacks_see_every_epoch_and_can_stop():
    X, y = blobs(60)
    model = MLP([2, 4, 1], seed=0)
    calls = []

    def grab(epoch, m, history):
        calls.append((epoch, m, len(history.loss)))

    fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=4, callbacks=[grab])
    assert calls == [(0, model, 1), (1, model, 2), (2, model, 3), (3, model, 4)]
    history = fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=10,
                  callbacks=[lambda epoch, m, h: epoch == 2])
    assert len(history) == 3


def test_diverging_training_stops_immediately_with_a_clear_error():
    X, y = blobs(100, k=3)
    X = X * 1e3
    model = MLP([2, 64, 64, 3], activation="relu", output=None, seed=0)
    epochs_done = []
    with pytest.raises(FloatingPointError, match=r"epoch \d+, batch \d+.*smaller learning rate"):
        with np.errstate(all="ignore"):
            fit(model, SoftmaxCrossEntropy(), SGD(model, lr=1e6), X, y, epochs=50, batch_size=10,
                callbacks=[lambda e, m, h: epochs_done.append(e)])
    assert len(epochs_done) < 3


def test_diverging_sigmoid_model_also_reports_the_epoch():
    X, y = blobs(100)
    model = MLP([2, 32, 1], activation="relu", seed=0)
    with pytest.raises(FloatingPointError, match="epoch 1, batch 1"):
        with np.errstate(all="ignore"):
            model.params["0.W"][0, 0] = np.nan
            fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=5)


def test_predict_and_accuracy_for_sigmoid_and_softmax_outputs():
    class Fixed:  # a "model" returning fixed outputs
        def __init__(self, out):
            self.out = out

        def forward(self, X):
            return self.out[: len(X)] if len(X) == len(self.out) else self.out[X[:, 0].astype(int)]

    probs = np.array([[0.9], [0.2], [0.51], [0.5]])
    X = np.arange(4).reshape(-1, 1)
    assert predict(Fixed(probs), X).tolist() == [1, 0, 1, 0]
    assert accuracy(Fixed(probs), X, np.array([1, 0, 0, 0])) == 0.75
    assert accuracy(Fixed(probs), X, np.array([[1], [0], [0], [0]])) == 0.75
    logits = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]])
    assert predict(Fixed(logits), X).tolist() == [1, 0, 2, 0]
    assert accuracy(Fixed(logits), X, np.array([1, 0, 2, 2])) == 0.75


def test_predict_in_batches_equals_one_batch(rng):
    model = MLP([3, 5, 4], activation="relu", output=None, seed=0)
    X = rng.standard_normal((1000, 3))
    np.testing.assert_array_equal(predict(model, X, batch_size=7), model.forward(X).argmax(1))


def test_progress_bar_and_quiet_mode(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    X, y = blobs(40)
    model = MLP([2, 3, 1], seed=0)
    monkeypatch.setenv("DLCORE_QUIET", "1")
    fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=2, progress=True)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("DLCORE_QUIET", "0")
    fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=2, progress=True)
    assert "epochs" in capsys.readouterr().err


def test_fit_float32_model():
    X, y = blobs(64)
    model = MLP([2, 4, 2], activation="relu", output=None, dtype=np.float32)
    fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.1), X.astype(np.float32), y, epochs=2, batch_size=16)
    assert all(p.dtype == np.float32 for p in model.params.values())


def test_fit_a_single_layer():
    X, y = blobs(64, k=3)
    model = Dense(2, 3, seed=0)
    history = fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.5), X, y, epochs=10)
    assert history.loss[-1] < history.loss[0]


def test_history_repr_and_last():
    h = History(loss=[1.0, 0.5], acc=[0.5, 0.75])
    assert h.last() == {"loss": 0.5, "acc": 0.75}
    assert repr(h) == "History(epochs=2, loss=0.5000, acc=0.7500)"
    assert repr(History()) == "History(epochs=0)"


def test_mismatched_lengths():
    model = MLP([2, 1])
    with pytest.raises(ValueError, match="samples"):
        fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), np.zeros((5, 2)), np.zeros(4), epochs=1)


def test_fit_regression_with_mse_records_nan_accuracy(rng):
    from dlcore import MeanSquaredError

    X = rng.standard_normal((64, 3))
    Y = X @ rng.standard_normal((3, 2))  # two regression targets per sample
    model = Dense(3, 2, seed=0)
    history = fit(model, MeanSquaredError(), SGD(model, lr=0.1), X, Y, epochs=20, batch_size=16)
    assert history.loss[-1] < 1e-3 * history.loss[0]
    assert np.isnan(history.acc[-1])


def test_bad_batch_size():
    model = MLP([2, 1])
    with pytest.raises(ValueError, match="batch_size"):
        fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), np.zeros((5, 2)), np.zeros(5), epochs=1, batch_size=0)
