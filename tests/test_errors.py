"""Bad input fails early with a clear message that names the problem."""

import numpy as np
import pytest

from dlcore import (
    MLP,
    BinaryCrossEntropy,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Embedding,
    Flatten,
    LayerNorm,
    LeakyReLU,
    MaxPool2D,
    MeanSquaredError,
    PixelCrossEntropy,
    ReLU,
    SelfAttention,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
)
from dlcore.gradcheck import gradcheck


@pytest.mark.parametrize("shape", [(3,), (4, 2), (4, 3, 1), (4, 5, 2)])
def test_dense_wrong_input_shape(shape):
    with pytest.raises(ValueError, match=r"Dense\(3, 2\) expects input of shape \(N, 3\) \(or \(N, \.\.\., 3\)\)"):
        Dense(3, 2).forward(np.zeros(shape))


@pytest.mark.parametrize(("shape", "match"), [((2, 3, 8), r"expects input of shape \(N, 3, H, W\)"),
                                              ((2, 1, 8, 8), r"expects input of shape \(N, 3, H, W\), got \(2, 1, 8, 8\)"),
                                              ((2, 3, 2, 8), "smaller than the 5x5 kernel")])
def test_conv_wrong_input(shape, match):
    with pytest.raises(ValueError, match=match):
        Conv2D(3, 4, 5).forward(np.zeros(shape))


def test_conv_bad_hyperparameters():
    with pytest.raises(ValueError, match="stride"):
        Conv2D(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="padding"):
        Conv2D(1, 1, 3, padding=-1)


def test_maxpool_wrong_input():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        MaxPool2D(2).forward(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="smaller than the window"):
        MaxPool2D(3).forward(np.zeros((1, 1, 2, 5)))


def test_non_numeric_input():
    with pytest.raises(TypeError, match="numeric"):
        Dense(1, 1).forward(np.array([["a"]]))


@pytest.mark.parametrize("layer", [Dense(2, 2), Sigmoid(), Tanh(), ReLU(), LeakyReLU(), Conv2D(1, 1, 1),
                                   ConvTranspose2D(1, 1, 1), MaxPool2D(1), Flatten(), Embedding(3, 2),
                                   LayerNorm(2), SelfAttention(2, 1)])
def test_backward_before_forward(layer):
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((1, 2)))


@pytest.mark.parametrize("loss", [BinaryCrossEntropy(), SoftmaxCrossEntropy(), PixelCrossEntropy(), MeanSquaredError()])
def test_loss_backward_before_forward(loss):
    with pytest.raises(RuntimeError, match="before forward"):
        loss.backward()


@pytest.mark.parametrize("layer", [Dense(3, 2), Sigmoid(), ReLU(), Conv2D(1, 2, 3), ConvTranspose2D(1, 2, 2, stride=2),
                                   MaxPool2D(2), Embedding(4, 2), LayerNorm(3), SelfAttention(3, 1)])
def test_backward_with_wrong_dy_shape(layer):
    if isinstance(layer, Embedding):
        x = np.zeros((2, 3), dtype=int)  # token ids
    elif isinstance(layer, SelfAttention):
        x = np.zeros((2, 1, 3))  # (N, T, d)
    else:
        x = np.zeros((2, 3)) if isinstance(layer, Dense | Sigmoid | ReLU | LayerNorm) else np.zeros((2, 1, 6, 6))
    y = layer.forward(x)
    with pytest.raises(ValueError, match="dy has shape"):
        layer.backward(np.zeros(y.shape + (1,)))


@pytest.mark.parametrize("labels", [[0, 3], [-1, 0]])
def test_labels_out_of_range(labels):
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        SoftmaxCrossEntropy()(np.zeros((2, 3)), np.array(labels))


def test_softmax_cross_entropy_bad_shapes_and_types():
    with pytest.raises(TypeError, match="integer class labels"):
        SoftmaxCrossEntropy()(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels of shape \(2,\)"):
        SoftmaxCrossEntropy()(np.zeros((2, 3)), np.array([[0], [1]]))
    with pytest.raises(ValueError, match=r"logits of shape \(N, K\)"):
        SoftmaxCrossEntropy()(np.zeros(3), np.array([0, 1, 2]))


@pytest.mark.parametrize("p", [[1.2, 0.5], [-0.1, 0.5], [np.nan, 0.5]])
def test_bce_rejects_non_probabilities(p):
    with pytest.raises(ValueError, match="probabilities|NaN"):
        BinaryCrossEntropy()(np.array(p), np.array([1, 0]))


def test_bce_rejects_bad_targets():
    with pytest.raises(ValueError, match="targets 0 or 1"):
        BinaryCrossEntropy()(np.array([0.3, 0.5]), np.array([2, 0]))
    with pytest.raises(ValueError, match=r"target shape \(3,\) does not match prediction shape \(2, 1\)"):
        BinaryCrossEntropy()(np.array([[0.3], [0.5]]), np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="does not match"):  # (N, 2) is not silently broadcast
        BinaryCrossEntropy()(np.array([[0.3], [0.5]]), np.array([[1, 0], [0, 1]]))


def test_load_wrong_shape_names_the_tensor(tmp_path):
    MLP([3, 5, 2]).save(tmp_path / "w.npz")
    with pytest.raises(ValueError, match=r"'0.W' has shape \(3, 5\), the model expects \(3, 4\)"):
        MLP([3, 4, 2]).load(tmp_path / "w.npz")


def test_load_wrong_names(tmp_path):
    MLP([3, 4, 2]).save(tmp_path / "w.npz")
    with pytest.raises(ValueError, match=r"missing \['4.W', '4.b'\]"):
        MLP([3, 4, 4, 2]).load(tmp_path / "w.npz")
    with pytest.raises(ValueError, match=r"unexpected \['2.W', '2.b'\]"):
        MLP([3, 2]).load(tmp_path / "w.npz")


def test_failed_load_leaves_model_untouched(tmp_path):
    Sequential(Dense(3, 4), Dense(4, 3)).save(tmp_path / "w.npz")
    model = Sequential(Dense(3, 4, seed=1), Dense(4, 2, seed=1))
    before = {k: p.copy() for k, p in model.params.items()}
    with pytest.raises(ValueError):
        model.load(tmp_path / "w.npz")
    for k, p in model.params.items():
        np.testing.assert_array_equal(p, before[k])


def test_bad_names():
    with pytest.raises(ValueError, match="unknown init"):
        Dense(2, 2, init="glorot")
    with pytest.raises(ValueError, match="unknown activation"):
        MLP([2, 2], activation="swish")
    with pytest.raises(ValueError, match="unknown output"):
        MLP([2, 2], output="softmax")


def test_gradcheck_needs_float64():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(Dense(2, 2, dtype=np.float32), np.zeros((1, 2)))
