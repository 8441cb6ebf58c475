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


# ----------------------------------------------------------------------------- modes, schedules, augment, early stopping


class ModeSpy:
    """A layer-like object that records the mode of every forward."""

    def __init__(self):
        self.training, self.params, self.grads, self.seen = True, {}, {}, []

    def train(self, mode=True):
        self.training = mode
        return self

    def forward(self, x):
        self.seen.append(self.training)
        return x

    def backward(self, dy):
        return dy


def test_fit_trains_in_train_mode_validates_in_eval_mode_and_ends_in_eval():
    from dlcore import Sequential

    X, y = blobs(40, k=2)
    spy = ModeSpy()
    model = Sequential(MLP([2, 4, 2], activation="relu", output=None, seed=0), spy)
    modes = []
    fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=2, batch_size=20, X_val=X[:10],
        y_val=y[:10], callbacks=[lambda e, m, h: modes.append(m.training)])
    assert spy.seen == [True, True, False] * 2  # 2 training batches, then 1 validation batch per epoch
    assert modes == [False, False] and not model.training and not spy.training


def test_evaluate_predict_accuracy_restore_the_mode():
    from dlcore import Sequential

    X, y = blobs(30)
    spy = ModeSpy()
    model = Sequential(MLP([2, 3, 2], output=None, seed=0), spy)
    for training in (True, False):
        model.train(training)
        evaluate(model, SoftmaxCrossEntropy(), X, y)
        predict(model, X)
        accuracy(model, X, y)
        assert model.training == training and spy.training == training
    assert set(spy.seen) == {False}


def test_dropout_model_fit_and_eval_is_deterministic():
    from dlcore import Dropout, ReLU, Sequential

    X, y = blobs(100, k=3)
    model = Sequential(Dense(2, 16, seed=0), ReLU(), Dropout(0.3, seed=0), Dense(16, 3, seed=1))
    history = fit(model, SoftmaxCrossEntropy(), Adam(model, lr=0.02), X, y, epochs=20, batch_size=25)
    assert history.loss[-1] < history.loss[0] / 2
    np.testing.assert_array_equal(model.forward(X), model.forward(X))  # eval mode: no dropout
    assert accuracy(model, X, y) > 0.9


def test_lr_schedule_sets_the_lr_before_every_step():
    X, y = blobs(50)
    model = MLP([2, 3, 2], output=None, seed=0)
    opt = SGD(model, lr=1.0)
    seen = []
    step = opt.step

    def spy_step():
        seen.append(opt.lr)
        step()

    opt.step = spy_step
    history = fit(model, SoftmaxCrossEntropy(), opt, X, y, epochs=3, batch_size=20,
                  lr_schedule=lambda t: 0.1 / (t + 1))
    assert seen == pytest.approx([0.1 / (t + 1) for t in range(9)])  # 3 batches x 3 epochs, global step
    assert history.lr == pytest.approx([0.1 / 3, 0.1 / 6, 0.1 / 9])
    assert "lr=0.01111" in repr(history) and history.last()["lr"] == pytest.approx(0.1 / 9)


def test_lr_schedule_from_dlcore_schedules():
    from dlcore.schedules import lr_schedule, one_cycle

    X, y = blobs(200, k=3)
    model = MLP([2, 16, 3], activation="relu", output=None, seed=0)
    epochs, batch = 10, 50
    T = epochs * 4
    history = fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.5, momentum=0.9), X, y, epochs, batch,
                  lr_schedule=lr_schedule(one_cycle, 0.5, T))
    assert len(history.lr) == epochs and history.lr[-1] == pytest.approx(0.5 * one_cycle(T - 1, T))
    assert history.acc[-1] > 0.9


def test_without_schedule_history_has_no_lr():
    X, y = blobs(20)
    model = MLP([2, 1], seed=0)
    assert fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=1).lr == []


def test_augment_applies_to_training_batches_only():
    X, y = blobs(60)
    Xv, yv = blobs(30, seed=1)
    model = MLP([2, 4, 2], output=None, seed=0)
    calls = []

    def augment(xb, rng):
        calls.append(len(xb))
        assert isinstance(rng, np.random.Generator)
        return xb + rng.normal(0, 0.01, xb.shape)

    fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=2, batch_size=25, X_val=Xv, y_val=yv,
        augment=augment)
    assert calls == [25, 25, 10] * 2

    def run():
        m = MLP([2, 4, 2], output=None, seed=0)
        return fit(m, SoftmaxCrossEntropy(), SGD(m, lr=0.1), X, y, epochs=2, batch_size=25,
                   augment=lambda xb, rng: xb + rng.normal(0, 0.1, xb.shape)).loss

    assert run() == run()  # the augmentation draws from fit's seeded rng


def test_augment_with_random_shift_flip_on_flat_images():
    from dlcore.augment import random_shift_flip

    rng = np.random.default_rng(0)
    X, y = rng.random((40, 64)), rng.integers(0, 2, 40)
    model = MLP([64, 8, 2], activation="relu", output=None, seed=0)
    history = fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.05), X, y, epochs=2, batch_size=16,
                  augment=lambda xb, g: random_shift_flip(xb, g, image_shape=(8, 8)))
    assert len(history) == 2


def test_early_stopping_stops_and_restores_the_best_parameters():
    from dlcore import EarlyStopping

    X, y = blobs(100)
    model = MLP([2, 8, 2], activation="relu", output=None, seed=0)
    val_losses = iter([1.0, 0.5, 0.6, 0.4, 0.45, 0.41, 0.42, 0.3])
    snapshots = []

    def fake_val(epoch, m, history):  # replace the monitored values and remember the parameters
        history.val_loss.append(next(val_losses))
        snapshots.append({k: p.copy() for k, p in m.params.items()})

    stop = EarlyStopping(patience=3)
    history = fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=8, batch_size=20,
                  callbacks=[fake_val, stop])
    assert len(history) == 7 and stop.best_epoch == 3 and stop.best == 0.4 and stop.stopped_epoch == 6
    for k, p in model.params.items():
        np.testing.assert_array_equal(p, snapshots[3][k])


def test_early_stopping_restores_buffers_and_can_keep_the_last_weights():
    from dlcore import BatchNorm1D, EarlyStopping, ReLU, Sequential

    X, y = blobs(100)
    Xv, yv = blobs(50, seed=3)

    def build():
        return Sequential(Dense(2, 8, seed=0), BatchNorm1D(8), ReLU(), Dense(8, 2, seed=1))

    model = build()
    stop = EarlyStopping(patience=2, monitor="val_acc")
    saved = []
    fit(model, SoftmaxCrossEntropy(), SGD(model, lr=1.0), X, y, epochs=15, batch_size=10, X_val=Xv, y_val=yv,
        callbacks=[lambda e, m, h: saved.append({**{k: p.copy() for k, p in m.params.items()},
                                                 **{k: b.copy() for k, b in m.buffers.items()}}), stop])
    best = saved[stop.best_epoch]
    for k, a in {**model.params, **model.buffers}.items():
        np.testing.assert_array_equal(a, best[k])

    model = build()
    stop = EarlyStopping(patience=1, monitor="loss", restore_best=False)
    h = fit(model, SoftmaxCrossEntropy(), SGD(model, lr=1.0), X, y, epochs=3, batch_size=10,
            callbacks=[stop, lambda e, m, h: saved.append({k: p.copy() for k, p in m.params.items()})])
    for k, p in model.params.items():
        np.testing.assert_array_equal(p, saved[-1][k])
    assert stop.best == min(h.loss)


def test_early_stopping_errors():
    from dlcore import EarlyStopping

    X, y = blobs(20)
    model = MLP([2, 1], seed=0)
    with pytest.raises(ValueError, match="val_loss is empty"):
        fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=2, callbacks=[EarlyStopping(2)])
    with pytest.raises(ValueError, match="monitor"):
        EarlyStopping(2, monitor="accuracy")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(0)
