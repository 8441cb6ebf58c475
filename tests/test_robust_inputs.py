"""Bad input gets a clear error, not an obscure crash or a wrong answer (issue 11).

Degenerate sizes and dtypes, empty batches (per-sample results come back empty, means over samples
raise ValueError), callbacks as any iterable, metric lengths, label ranges, environment variables.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcore import (
    MLP,
    SGD,
    BinaryCrossEntropy,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Flatten,
    LayerNorm,
    LeakyReLU,
    MaxPool2D,
    MeanSquaredError,
    ReLU,
    SelfAttention,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    accuracy,
    evaluate,
    fit,
    parallel,
    predict,
)
from dlcore.losses import BCEWithLogits, PixelCrossEntropy
from dlcore.viz import confusion_matrix

# ----------------------------------------------------------------------------- sizes and dtypes


@pytest.mark.parametrize("sizes", [[3, 0, 1], [3, -2, 1], [0, 1], [3, 1, 0], [3, 2.5, 1], [3, True, 1]])
def test_mlp_refuses_non_positive_or_non_integer_sizes(sizes):
    with pytest.raises(ValueError, match=r"MLP sizes must be positive integers; sizes\[\d\]"):
        MLP(sizes)


@settings(max_examples=50, deadline=None)
@given(st.integers(-5, 0), st.integers(1, 5), st.booleans())
def test_layers_refuse_zero_or_negative_sizes(bad, good, first):
    n_in, n_out = (bad, good) if first else (good, bad)
    with pytest.raises(ValueError, match="must be a positive integer"):
        Dense(n_in, n_out)
    with pytest.raises(ValueError, match="must be a positive integer"):
        Conv2D(n_in, n_out, 3)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.complex128, np.uint8])
def test_parameters_must_be_floats(dtype):
    with pytest.raises(TypeError, match="floating dtype"):
        Dense(2, 2, dtype=dtype)
    with pytest.raises(TypeError, match="floating dtype"):
        Conv2D(1, 1, 3, dtype=dtype)
    with pytest.raises(TypeError, match="floating dtype"):
        MLP([2, 2], dtype=dtype)
    with pytest.raises(TypeError, match="floating dtype"):
        MLP([2, 2]).astype(dtype)


def test_big_pooling_window_is_not_corrupted_by_its_index_dtype():
    k = 200  # 40,000 positions per window: more than int16 holds
    x = np.zeros((1, 1, k, k))
    x[0, 0, -1, -1] = 1.0  # the max is the window's last position
    pool = MaxPool2D(k)
    assert pool.forward(x)[0, 0, 0, 0] == 1.0
    dx = pool.backward(np.ones((1, 1, 1, 1)))
    assert dx[0, 0, -1, -1] == 1.0 and dx.sum() == 1.0


# ----------------------------------------------------------------------------- empty batches

LAYERS = {
    "Dense": (lambda: Dense(3, 2), (0, 3), (0, 2)),
    "Sigmoid": (Sigmoid, (0, 3), (0, 3)),
    "Tanh": (Tanh, (0, 3), (0, 3)),
    "ReLU": (ReLU, (0, 3), (0, 3)),
    "LeakyReLU": (LeakyReLU, (0, 3), (0, 3)),
    "Conv2D": (lambda: Conv2D(2, 3, 3, padding=1), (0, 2, 5, 5), (0, 3, 5, 5)),
    "ConvTranspose2D": (lambda: ConvTranspose2D(2, 3, 2, stride=2), (0, 2, 5, 5), (0, 3, 10, 10)),
    "MaxPool2D": (lambda: MaxPool2D(2), (0, 2, 4, 4), (0, 2, 2, 2)),
    "Flatten": (Flatten, (0, 2, 4, 4), (0, 32)),
    "LayerNorm": (lambda: LayerNorm(3), (0, 3), (0, 3)),
    "SelfAttention": (lambda: SelfAttention(4, 2), (0, 5, 4), (0, 5, 4)),
}  # Embedding takes integer ids and returns no dx: its empty batch is tested in test_attention.py


@pytest.mark.parametrize("name", LAYERS)
def test_every_layer_maps_an_empty_batch_to_an_empty_batch(name):
    make, in_shape, out_shape = LAYERS[name]
    layer = make()
    y = layer.forward(np.zeros(in_shape))
    assert y.shape == out_shape
    dx = layer.backward(np.zeros(out_shape))
    assert dx.shape == in_shape
    for pname, g in layer.grads.items():  # no samples: zero gradients of the right shape
        assert g.shape == layer.params[pname].shape and not g.any()


def test_models_predict_empty_for_an_empty_batch():
    model = MLP([3, 4, 2], output=None)
    assert model.forward(np.zeros((0, 3))).shape == (0, 2)
    labels = predict(model, np.zeros((0, 3)))
    assert labels.shape == (0,) and labels.dtype == np.int64
    assert predict(MLP([3, 1]), np.zeros((0, 3))).shape == (0,)


@pytest.mark.parametrize(("loss", "pred", "target"), [
    (BinaryCrossEntropy(), np.zeros((0, 1)), np.zeros((0, 1))),
    (BCEWithLogits(), np.zeros((0, 1)), np.zeros((0, 1))),
    (SoftmaxCrossEntropy(), np.zeros((0, 3)), np.zeros(0, dtype=int)),
    (PixelCrossEntropy(), np.zeros((0, 3, 2, 2)), np.zeros((0, 2, 2), dtype=int)),
    (MeanSquaredError(), np.zeros((0, 2)), np.zeros((0, 2))),
])
def test_every_loss_refuses_an_empty_batch(loss, pred, target):
    with pytest.raises(ValueError, match="empty batch"):
        loss(pred, target)


def test_means_over_samples_refuse_an_empty_set():
    model = MLP([3, 2, 1])
    X, y = np.zeros((0, 3)), np.zeros(0, dtype=int)
    with pytest.raises(ValueError, match="accuracy needs at least one sample"):
        accuracy(model, X, y)
    with pytest.raises(ValueError, match="evaluate needs at least one sample"):
        evaluate(model, BinaryCrossEntropy(), X, y)
    with pytest.raises(ValueError, match="fit needs at least one sample"):
        fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=1)


# ----------------------------------------------------------------------------- fit's arguments


def blobs(n=20, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return rng.normal(size=(n, 2)) + 2 * y[:, None], y


def test_callbacks_as_a_generator_are_called_every_epoch():
    X, y = blobs()
    model = MLP([2, 1])
    calls = []
    callbacks = (cb for cb in [lambda e, m, h: calls.append(e)])
    fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=4, callbacks=callbacks)
    assert calls == [0, 1, 2, 3]


@pytest.mark.parametrize("iterable", [tuple, list, iter, lambda cbs: dict.fromkeys(cbs)])
def test_callbacks_as_any_iterable(iterable):
    X, y = blobs()
    model = MLP([2, 1])
    calls = []
    fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=3,
        callbacks=iterable([lambda e, m, h: calls.append(e)]))
    assert calls == [0, 1, 2]


def test_a_single_callback_or_a_non_callable_is_a_clear_error():
    X, y = blobs()
    model = MLP([2, 1])
    with pytest.raises(TypeError, match="iterable of callables"):
        fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=1, callbacks=lambda e, m, h: None)
    with pytest.raises(TypeError, match="must be callable"):
        fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=1, callbacks=[1])


@pytest.mark.parametrize("epochs", [-1, 2.5, "3"])
def test_fit_refuses_bad_epochs(epochs):
    X, y = blobs()
    model = MLP([2, 1])
    with pytest.raises(ValueError, match="epochs"):
        fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=epochs)


# ----------------------------------------------------------------------------- metrics


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30))
def test_metric_length_mismatch_names_both_lengths(n_x, n_y):
    if n_x == n_y:
        return
    model = MLP([2, 1])
    X, y = np.zeros((n_x, 2)), np.zeros(n_y, dtype=int)
    with pytest.raises(ValueError, match=rf"\b{n_x}\b.*\b{n_y}\b"):
        accuracy(model, X, y)
    with pytest.raises(ValueError, match=rf"\b{n_x}\b.*\b{n_y}\b"):
        evaluate(model, BinaryCrossEntropy(), X, y)
    with pytest.raises(ValueError, match=rf"\b{n_x}\b.*\b{n_y}\b"):
        confusion_matrix(np.zeros(n_x, dtype=int), np.zeros(n_y, dtype=int))


@pytest.mark.parametrize(("y_true", "y_pred", "n_classes"), [
    ([0, 1, 3], [0, 1, 1], 3),   # 3 is not a class of 3
    ([0, -1, 2], [0, 1, 2], 3),  # negative labels used to wrap around into class 2
    ([0, 1, 2], [0, 1, -1], None),
])
def test_confusion_matrix_refuses_labels_outside_the_classes(y_true, y_pred, n_classes):
    with pytest.raises(ValueError, match="outside the .* classes"):
        confusion_matrix(y_true, y_pred, n_classes)


def test_confusion_matrix_refuses_fractional_labels():
    with pytest.raises(ValueError, match="integer class labels"):
        confusion_matrix([0.0, 1.7], [0, 1])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=40))
def test_confusion_matrix_counts_every_pair(pairs):
    y_true, y_pred = (np.array(v) for v in zip(*pairs, strict=True))
    C = confusion_matrix(y_true, y_pred, 5)
    assert C.sum() == len(pairs)
    for i, j in set(pairs):
        assert C[i, j] == pairs.count((i, j))


# ----------------------------------------------------------------------------- environment variables


@pytest.fixture
def fresh_threads():
    parallel.set_num_threads(None)
    yield
    parallel.set_num_threads(None)


@pytest.mark.parametrize("value", ["zero", "0", "-3", "2.5", "1e3"])
def test_bad_num_threads_variable_names_itself(value, monkeypatch, fresh_threads):
    monkeypatch.setenv("DLCORE_NUM_THREADS", value)
    with pytest.raises(ValueError, match="DLCORE_NUM_THREADS"):
        parallel.num_threads()


def test_good_num_threads_variable(monkeypatch, fresh_threads):
    monkeypatch.setenv("DLCORE_NUM_THREADS", " 3 ")
    assert parallel.num_threads() == 3


@pytest.mark.parametrize("name", ["DLCORE_QUIET", "DLCORE_WIDGETS"])
def test_bad_switch_variables_name_themselves(name, monkeypatch):
    from dlcore import widgets

    monkeypatch.setenv(name, "perhaps")
    X, y = blobs()
    model = MLP([2, 1])
    with pytest.raises(ValueError, match=name):
        if name == "DLCORE_QUIET":
            fit(model, BinaryCrossEntropy(), SGD(model, lr=0.1), X, y, epochs=1, progress=True)
        else:
            widgets.widgets_enabled()


@pytest.mark.parametrize(("value", "enabled"), [("off", False), ("0", False), ("no", False), ("on", True),
                                                ("1", True), ("", True)])
def test_widget_switch_values(value, enabled, monkeypatch):
    pytest.importorskip("ipywidgets")
    from dlcore import widgets

    monkeypatch.setenv("DLCORE_WIDGETS", value)
    assert widgets.widgets_enabled() is enabled


def test_sequential_of_everything_handles_an_empty_image_batch():
    model = Sequential(Conv2D(1, 2, 3, padding=1), ReLU(), MaxPool2D(2), Flatten(), Dense(2 * 2 * 2, 3))
    assert model.forward(np.zeros((0, 1, 4, 4))).shape == (0, 3)
    assert model.backward(np.zeros((0, 3))).shape == (0, 1, 4, 4)
