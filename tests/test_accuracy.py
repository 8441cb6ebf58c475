"""Accuracy floors on Fashion-MNIST: does dlcore really train? (slow: ``pytest -m slow``)

The measured accuracies and run times are in tests/bench/README.md.
"""

import time

import numpy as np
import pytest

from dlcore import (
    MLP,
    SGD,
    Adam,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
    accuracy,
    fit,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fashion():
    """(X_train, y_train, X_test, y_test), or a skip saying why they are unavailable."""
    try:
        from dlcore.data import load_fashion_mnist
    except ImportError as err:
        pytest.skip(f"dlcore.data.load_fashion_mnist is not available ({err})")
    try:
        return load_fashion_mnist()
    except Exception as err:  # missing or corrupt files: the loader's message says how to get them
        pytest.skip(f"Fashion-MNIST could not be loaded: {err}")


def report(record_property, name, acc, seconds, epochs):
    record_property(f"{name}_test_accuracy", acc)
    record_property(f"{name}_seconds", round(seconds, 1))
    print(f"\n{name}: test accuracy {acc:.4f} after {epochs} epochs in {seconds:.1f} s")


def test_mlp_reaches_87_then_89_percent(fashion, record_property):
    """MLP 784-256-128-10: >= 0.87 test accuracy after 10 epochs and >= 0.89 after 20 (one run).

    SGD with momentum 0.9 from lr 0.05, halved every 5 epochs: the schedule was chosen on a validation
    split (the last 5,000 training images) among a few standard ones, not on the test set.
    """
    X, y, X_test, y_test = fashion
    X, X_test = X.reshape(len(X), -1), X_test.reshape(len(X_test), -1)
    model = MLP([784, 256, 128, 10], activation="relu", output=None, init="he", seed=0, dtype=np.float32)
    optimizer = SGD(model, lr=0.05, momentum=0.9)
    test_acc = []  # after every epoch

    def record_test_accuracy(epoch, model, history):
        test_acc.append(accuracy(model, X_test, y_test))
        if (epoch + 1) % 5 == 0:
            optimizer.lr /= 2

    start = time.perf_counter()
    fit(model, SoftmaxCrossEntropy(), optimizer, X, y, epochs=20, batch_size=128, seed=0,
        callbacks=[record_test_accuracy])
    seconds = time.perf_counter() - start
    print("\nper-epoch test accuracy:", " ".join(f"{a:.3f}" for a in test_acc))
    report(record_property, "mlp_10_epochs", test_acc[9], seconds / 2, 10)
    report(record_property, "mlp_20_epochs", test_acc[19], seconds, 20)
    assert test_acc[9] >= 0.87
    assert test_acc[19] >= 0.89


def test_cnn_reaches_90_percent(fashion, record_property):
    X, y, X_test, y_test = fashion
    mean, std = X.mean(), X.std()  # standardise the pixels: conv nets train faster on centred inputs
    X, X_test = (X - mean) / std, (X_test - mean) / std
    rng, f32 = np.random.default_rng(0), np.float32
    model = Sequential(
        Conv2D(1, 16, 3, padding=1, rng=rng, dtype=f32), ReLU(), MaxPool2D(2),   # 16 x 14 x 14
        Conv2D(16, 32, 3, padding=1, rng=rng, dtype=f32), ReLU(), MaxPool2D(2),  # 32 x 7 x 7
        Flatten(), Dense(32 * 7 * 7, 128, rng=rng, dtype=f32), ReLU(), Dense(128, 10, rng=rng, dtype=f32),
    )
    optimizer = Adam(model, lr=2e-3)

    def halve_lr(epoch, model, history):  # a simple step schedule, as a callback
        optimizer.lr /= 2

    start = time.perf_counter()
    fit(model, SoftmaxCrossEntropy(), optimizer, X, y, epochs=4, batch_size=64, seed=0, callbacks=[halve_lr])
    acc = accuracy(model, X_test, y_test)
    report(record_property, "cnn", acc, time.perf_counter() - start, 4)
    assert acc >= 0.90
