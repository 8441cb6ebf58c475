"""PixelCrossEntropy: loss and gradient vs torch's F.cross_entropy on (N, K, H, W) logits (float64, with and
without class weights and ignore_index), finite differences, a case worked out by hand, errors."""

import numpy as np
import pytest

from dlcore import Conv2D, PixelCrossEntropy, SoftmaxCrossEntropy
from dlcore.gradcheck import gradcheck, numerical_grad, rel_error

TOL = 1e-7
LN2 = np.log(2)


def labels_with_ignored(rng, shape, K, ignore_index, fraction=0.3):
    """Random labels in [0, K), about ``fraction`` of them set to ``ignore_index`` (if it is not None)."""
    labels = rng.integers(0, K, shape)
    if ignore_index is not None:
        labels[rng.random(shape) < fraction] = ignore_index
    return labels


def torch_loss(torch, z, labels, weight=None, ignore_index=None):
    """torch's loss and d loss / d z for the same logits and labels."""
    zt = torch.tensor(z, requires_grad=True)
    kwargs = {} if ignore_index is None else {"ignore_index": ignore_index}
    ref = torch.nn.functional.cross_entropy(zt, torch.tensor(labels, dtype=torch.int64),
                                            weight=None if weight is None else torch.tensor(weight),
                                            reduction="mean", **kwargs)
    ref.backward()
    return ref.item(), zt.grad.numpy()


# ----------------------------------------------------------------------------- against torch and finite differences

SHAPES = [(1, 2, 1, 1), (2, 3, 4, 5), (3, 5, 2, 7), (1, 11, 6, 6), (2, 1, 3, 3)]  # (N, K, H, W)
# ignore_index: none, outside the classes (255, -1), or a class (0); with one class, ignoring it leaves nothing
CASES = [(shape, ignore) for shape in SHAPES for ignore in (None, 255, -1, 0) if (shape[1], ignore) != (1, 0)]


@pytest.mark.parametrize(("shape", "ignore_index"), CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_torch(torch, rng, shape, ignore_index, weighted):
    N, K, H, W = shape
    z = rng.standard_normal(shape) * 3
    labels = labels_with_ignored(rng, (N, H, W), K, ignore_index)
    labels.flat[0] = 0 if ignore_index != 0 else K - 1  # at least one pixel counts
    weight = rng.uniform(0.2, 3.0, K) if weighted else None
    loss = PixelCrossEntropy(ignore_index=ignore_index, weight=weight)
    value = loss(z, labels)
    ref, ref_grad = torch_loss(torch, z, labels, weight, ignore_index)
    assert abs(value - ref) <= TOL * max(abs(ref), 1e-12)
    assert rel_error(loss.backward(), ref_grad) < TOL


@pytest.mark.parametrize("ignore_index", [None, 255])
@pytest.mark.parametrize("weighted", [False, True])
def test_finite_differences(rng, ignore_index, weighted):
    z = rng.standard_normal((2, 3, 3, 4))
    labels = labels_with_ignored(rng, (2, 3, 4), 3, ignore_index)
    labels[0, 0, 0] = 1
    loss = PixelCrossEntropy(ignore_index, rng.uniform(0.5, 2, 3) if weighted else None)
    loss(z, labels)
    analytic = loss.backward()
    assert rel_error(analytic, numerical_grad(lambda: loss(z, labels), z)) < TOL
    if ignore_index is not None:  # ignored pixels get no gradient at all
        assert not analytic.transpose(0, 2, 3, 1)[labels == ignore_index].any()


def test_gradcheck_through_a_1x1_conv(rng):
    """The loss on a per-pixel classifier (a 1x1 convolution): gradients of W, b and x vs finite differences."""
    model = Conv2D(2, 4, 1, seed=0)
    labels = labels_with_ignored(rng, (3, 5, 4), 4, 255)
    labels[0, 0, 0] = 2
    errors = gradcheck(model, rng.standard_normal((3, 2, 5, 4)), PixelCrossEntropy(255, [1.0, 2.0, 0.5, 1.0]), labels)
    assert set(errors) == {"W", "b", "x"}
    assert max(errors.values()) < TOL, errors


def test_is_softmax_cross_entropy_over_pixels(rng):
    """Without weights and ignored pixels: SoftmaxCrossEntropy on the (N*H*W, K) matrix of pixels."""
    z, labels = rng.standard_normal((2, 3, 4, 5)), rng.integers(0, 3, (2, 4, 5))
    pixels = PixelCrossEntropy()
    flat = SoftmaxCrossEntropy()
    z_flat = z.transpose(0, 2, 3, 1).reshape(-1, 3)  # one row per pixel
    assert pixels(z, labels) == pytest.approx(flat(z_flat, labels.ravel()), rel=1e-14)
    np.testing.assert_allclose(pixels.backward().transpose(0, 2, 3, 1).reshape(-1, 3), flat.backward(), rtol=1e-13)


# ----------------------------------------------------------------------------- by hand


def tiny():
    """One image of 1x2 pixels and 2 classes. Pixel a: logits (0, 0), label 0, softmax (1/2, 1/2).
    Pixel b: logits (ln 3, 0), label 1, softmax (3/4, 1/4)."""
    z = np.zeros((1, 2, 1, 2))
    z[0, 0, 0, 1] = np.log(3)
    return z, np.array([[[0, 1]]])


def test_tiny_case_by_hand():
    z, labels = tiny()
    loss = PixelCrossEntropy()
    # -ln(1/2) = ln 2 and -ln(1/4) = 2 ln 2: the mean is 1.5 ln 2
    assert loss(z, labels) == pytest.approx(1.5 * LN2, rel=1e-14)
    # (softmax - onehot) / 2 pixels: a: (1/2 - 1, 1/2) / 2, b: (3/4, 1/4 - 1) / 2
    expected = np.array([[[[-0.25, 0.375]], [[0.25, -0.375]]]])  # (N, K, H, W): class first, then pixels
    np.testing.assert_allclose(loss.backward(), expected, atol=1e-15)


def test_tiny_case_weighted_by_hand():
    z, labels = tiny()
    loss = PixelCrossEntropy(weight=[1.0, 3.0])
    # (1 * ln 2 + 3 * 2 ln 2) / (1 + 3) = 7/4 ln 2
    assert loss(z, labels) == pytest.approx(1.75 * LN2, rel=1e-14)
    # pixel a: 1 * (-1/2, 1/2) / 4; pixel b: 3 * (3/4, -3/4) / 4
    np.testing.assert_allclose(loss.backward(), [[[[-0.125, 0.5625]], [[0.125, -0.5625]]]], atol=1e-15)


def test_tiny_case_ignored_by_hand():
    z, labels = tiny()
    loss = PixelCrossEntropy(ignore_index=0)  # pixel a (label 0) does not count: the mean is over b alone
    assert loss(z, labels) == pytest.approx(2 * LN2, rel=1e-14)
    np.testing.assert_allclose(loss.backward(), [[[[0.0, 0.75]], [[0.0, -0.75]]]], atol=1e-15)


# ----------------------------------------------------------------------------- numerics and dtypes


def test_is_stable_for_huge_logits():
    z = np.zeros((1, 3, 1, 2))
    z[0, :, 0, 0] = [1000.0, -1000.0, 0.0]
    z[0, :, 0, 1] = [0.0, 1000.0, 0.0]
    loss = PixelCrossEntropy()
    assert loss(z, np.array([[[0, 0]]])) == pytest.approx(500.0)
    assert np.isfinite(loss.backward()).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_keeps_the_logits_dtype(rng, dtype):
    loss = PixelCrossEntropy(255, weight=np.ones(3, np.float64))
    labels = labels_with_ignored(rng, (2, 4, 4), 3, 255)
    labels[0, 0, 0] = 1
    value = loss(rng.standard_normal((2, 3, 4, 4)).astype(dtype), labels.astype(np.uint8))
    assert isinstance(value, float)
    assert loss.backward().dtype == dtype


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("labels", "match"), [
    ([[[0, 3]]], r"labels must be in \[0, 3\) for 3 classes; got values in \[0, 3\]"),
    ([[[-1, 2]]], r"labels must be in \[0, 3\)"),
])
def test_labels_out_of_range(labels, match):
    with pytest.raises(ValueError, match=match):
        PixelCrossEntropy()(np.zeros((1, 3, 1, 2)), np.array(labels))


def test_out_of_range_labels_with_ignore_index_name_it():
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\) for 3 classes \(or ignore_index=255\); "
                                         r"got values in \[0, 254\]"):
        PixelCrossEntropy(ignore_index=255)(np.zeros((1, 3, 1, 3)), np.array([[[0, 255, 254]]]))


@pytest.mark.parametrize(("z_shape", "labels_shape", "match"), [
    ((2, 3, 4, 5), (2, 5, 4), r"labels of shape \(2, 4, 5\), got \(2, 5, 4\)"),
    ((2, 3, 4, 5), (2, 1, 4, 5), r"labels of shape \(2, 4, 5\), got \(2, 1, 4, 5\)"),
    ((2, 3, 4, 5), (40,), r"labels of shape \(2, 4, 5\)"),
    ((2, 3, 4), (2, 4), r"logits of shape \(N, K, H, W\), got \(2, 3, 4\)"),
])
def test_shape_mismatch(z_shape, labels_shape, match):
    with pytest.raises(ValueError, match=match):
        PixelCrossEntropy()(np.zeros(z_shape), np.zeros(labels_shape, dtype=int))


def test_all_pixels_ignored():
    with pytest.raises(ValueError, match="every pixel is ignored, so the mean over pixels is undefined"):
        PixelCrossEntropy(ignore_index=255)(np.zeros((2, 3, 2, 2)), np.full((2, 2, 2), 255))


def test_counted_pixels_of_zero_weight():
    with pytest.raises(ValueError, match="the counted pixels' classes weigh 0"):
        PixelCrossEntropy(weight=[0.0, 1.0])(np.zeros((1, 2, 2, 2)), np.zeros((1, 2, 2), dtype=int))


@pytest.mark.parametrize(("value", "kind"), [(np.nan, "NaN"), (np.inf, "inf")])
def test_nan_or_inf_logits(value, kind):
    z = np.zeros((1, 3, 2, 2))
    z[0, 1, 1, 0] = value
    with pytest.raises(ValueError, match=rf"PixelCrossEntropy: the logits contains? {kind} \(first at index \(0, 1, 1, 0\)\)"):
        PixelCrossEntropy()(z, np.zeros((1, 2, 2), dtype=int))


def test_float_labels_are_a_type_error():
    with pytest.raises(TypeError, match=r"integer class labels, got dtype float64 \(use labels.astype\(int\)\)"):
        PixelCrossEntropy()(np.zeros((1, 3, 2, 2)), np.zeros((1, 2, 2)))


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"weight": [1.0, -1.0, 1.0]}, ValueError, "one weight >= 0 per class"),
    ({"weight": [[1.0, 1.0, 1.0]]}, ValueError, r"shape \(K,\)"),
    ({"weight": [1.0, np.nan, 1.0]}, ValueError, "class weights contains? NaN"),
    ({"weight": ["a", "b", "c"]}, TypeError, "weight must be a numeric array"),
    ({"ignore_index": 2.5}, TypeError, "ignore_index must be an integer label or None"),
    ({"ignore_index": True}, TypeError, "ignore_index must be an integer label or None"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        PixelCrossEntropy(**kwargs)


def test_weight_length_must_match_the_classes():
    with pytest.raises(ValueError, match="2 class weights for 3 classes"):
        PixelCrossEntropy(weight=[1.0, 2.0])(np.zeros((1, 3, 2, 2)), np.zeros((1, 2, 2), dtype=int))


def test_empty_batch_and_backward_before_forward():
    with pytest.raises(ValueError, match="empty batch"):
        PixelCrossEntropy()(np.zeros((0, 3, 2, 2)), np.zeros((0, 2, 2), dtype=int))
    with pytest.raises(RuntimeError, match="before forward"):
        PixelCrossEntropy().backward()
