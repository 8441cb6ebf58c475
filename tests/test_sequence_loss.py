"""SequenceCrossEntropy: loss and gradient vs torch's F.cross_entropy on (N, T, V) logits in float64, finite
differences, equality with SoftmaxCrossEntropy on the flattened positions, errors in its own name."""

import numpy as np
import pytest

from dlcore import Embedding, SequenceCrossEntropy, SoftmaxCrossEntropy
from dlcore.gradcheck import gradcheck, numerical_grad, rel_error

TOL = 1e-7


@pytest.mark.parametrize("shape", [(1, 1, 2), (2, 5, 7), (4, 3, 11), (3, 8, 1)])  # (N, T, V)
def test_matches_torch(torch, rng, shape):
    N, T, V = shape
    z = rng.standard_normal(shape) * 3
    labels = rng.integers(0, V, (N, T))
    loss = SequenceCrossEntropy()
    value = loss(z, labels)
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt.transpose(1, 2), torch.tensor(labels))  # (N, V, T) as torch wants
    ref.backward()
    assert abs(value - ref.item()) <= TOL * max(abs(ref.item()), 1e-12)
    dz = loss.backward()
    assert dz.shape == shape
    assert rel_error(dz, zt.grad.numpy()) < TOL


def test_finite_differences(rng):
    z = rng.standard_normal((2, 4, 5))
    labels = rng.integers(0, 5, (2, 4))
    loss = SequenceCrossEntropy()
    loss(z, labels)
    assert rel_error(loss.backward(), numerical_grad(lambda: loss(z, labels), z)) < TOL


def test_gradcheck_through_an_embedding(rng):
    """A bigram language model: logits = a row of W per token; the loss's gradient reaches W."""
    model = Embedding(6, 6, seed=0)
    ids = rng.integers(0, 6, (3, 5))
    targets = rng.integers(0, 6, (3, 5))
    loss = SequenceCrossEntropy()
    loss(model.forward(ids), targets)
    model.backward(loss.backward())
    numeric = numerical_grad(lambda: loss(model.forward(ids), targets), model.params["W"])
    assert rel_error(model.grads["W"], numeric) < TOL
    errors = gradcheck(model, ids, loss, targets)  # integer ids are not nudged: no "x" entry
    assert set(errors) == {"W"} and errors["W"] < TOL


def test_is_softmax_cross_entropy_over_positions(rng):
    z = rng.standard_normal((3, 4, 6))
    labels = rng.integers(0, 6, (3, 4))
    seq, flat = SequenceCrossEntropy(), SoftmaxCrossEntropy()
    assert seq(z, labels) == flat(z.reshape(12, 6), labels.reshape(12))
    np.testing.assert_array_equal(seq.backward(), flat.backward().reshape(3, 4, 6))
    uniform = SequenceCrossEntropy()(np.zeros((2, 3, 5)), np.zeros((2, 3), dtype=int))
    assert abs(uniform - np.log(5)) < 1e-15  # equal logits: log V nats per token


def test_float32_stays_float32(rng):
    z = rng.standard_normal((2, 3, 4)).astype(np.float32)
    loss = SequenceCrossEntropy()
    loss(z, rng.integers(0, 4, (2, 3)))
    assert loss.backward().dtype == np.float32


def test_errors():
    loss = SequenceCrossEntropy()
    with pytest.raises(ValueError, match=r"SequenceCrossEntropy expects logits of shape \(N, T, V\), got \(4, 5\)"):
        loss(np.zeros((4, 5)), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match=r"SequenceCrossEntropy expects labels of shape \(2, 3\), got \(6,\)"):
        loss(np.zeros((2, 3, 5)), np.zeros(6, dtype=int))
    with pytest.raises(TypeError, match="SequenceCrossEntropy expects integer class labels"):
        loss(np.zeros((2, 3, 5)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 5\) for 5 classes; got values in \[0, 5\]"):
        loss(np.zeros((2, 3, 5)), np.array([[0, 1, 2], [3, 4, 5]]))
    with pytest.raises(ValueError, match="SequenceCrossEntropy needs at least one sample"):
        loss(np.zeros((0, 3, 5)), np.zeros((0, 3), dtype=int))
    with pytest.raises(ValueError, match="SequenceCrossEntropy needs at least one sample"):
        loss(np.zeros((2, 0, 5)), np.zeros((2, 0), dtype=int))
    z = np.zeros((2, 3, 5))
    z[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"SequenceCrossEntropy: the logits contains NaN \(first at index \(1, 2, 0\)\)"):
        loss(z, np.zeros((2, 3), dtype=int))
    with pytest.raises(RuntimeError, match="SequenceCrossEntropy.backward\\(\\) called before forward"):
        SequenceCrossEntropy().backward()
    assert repr(loss) == "SequenceCrossEntropy()"
