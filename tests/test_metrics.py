"""dlcore.metrics: a 3x3 segmentation worked out by hand, a brute-force loop on random data,
Dice = 2 IoU / (1 + IoU), ignore_index, and errors."""

import numpy as np
import pytest

import dlcore
from dlcore.metrics import confusion_matrix, dice, iou, mean_dice, mean_iou, pixel_accuracy

# A 3x3 image with 3 classes, truth and prediction:
#
#   truth     prediction
#   0 0 1     0 0 0
#   0 1 1     0 1 2
#   2 2 2     2 2 2
#
# (truth, prediction) pairs: (0,0) x3, (1,0), (1,1), (1,2), (2,2) x3, so
#
#   C = [[3, 0, 0],    class 0: TP 3, FP 1 (the 1 predicted 0), FN 0 -> IoU 3/4, Dice 6/7
#        [1, 1, 1],    class 1: TP 1, FP 0, FN 2                    -> IoU 1/3, Dice 2/4
#        [0, 0, 3]]    class 2: TP 3, FP 1 (the 1 predicted 2), FN 0 -> IoU 3/4, Dice 6/7
#
# pixel accuracy 7/9, mean IoU (3/4 + 1/3 + 3/4) / 3 = 11/18, mean Dice (6/7 + 1/2 + 6/7) / 3 = 31/42.
TRUTH = np.array([[0, 0, 1], [0, 1, 1], [2, 2, 2]])
PRED = np.array([[0, 0, 0], [0, 1, 2], [2, 2, 2]])
CM = np.array([[3, 0, 0], [1, 1, 1], [0, 0, 3]])


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(TRUTH, PRED, 3)
    np.testing.assert_array_equal(cm, CM)
    assert cm.dtype == np.int64 and cm.shape == (3, 3)


def test_metrics_by_hand():
    assert pixel_accuracy(CM) == pytest.approx(7 / 9, rel=1e-15)
    np.testing.assert_allclose(iou(CM), [3 / 4, 1 / 3, 3 / 4], rtol=1e-15)
    np.testing.assert_allclose(dice(CM), [6 / 7, 1 / 2, 6 / 7], rtol=1e-15)
    assert mean_iou(CM) == pytest.approx(11 / 18, rel=1e-15)
    assert mean_dice(CM) == pytest.approx(31 / 42, rel=1e-15)


def test_a_class_seen_nowhere_is_nan_and_left_out_of_the_means():
    cm = confusion_matrix(TRUTH, PRED, 4)  # class 3 is neither in the truth nor predicted
    np.testing.assert_array_equal(cm[:3, :3], CM)
    assert not cm[3].any() and not cm[:, 3].any()
    assert np.isnan(iou(cm)[3]) and np.isnan(dice(cm)[3])
    assert mean_iou(cm) == pytest.approx(11 / 18) and mean_dice(cm) == pytest.approx(31 / 42)


def test_a_class_only_predicted_has_iou_zero():
    cm = confusion_matrix(np.zeros(4, dtype=int), np.array([0, 0, 0, 1]), 2)
    np.testing.assert_array_equal(iou(cm), [3 / 4, 0.0])
    assert mean_iou(cm) == pytest.approx(3 / 8)


def test_ignore_index_drops_pixels_by_their_true_label():
    truth = TRUTH.copy()
    truth[0, 2] = 255  # the pixel (truth 1, predicted 0) no longer counts
    cm = confusion_matrix(truth, PRED, 3, ignore_index=255)
    np.testing.assert_array_equal(cm, [[3, 0, 0], [0, 1, 1], [0, 0, 3]])
    assert pixel_accuracy(cm) == pytest.approx(7 / 8)


def test_perfect_prediction():
    cm = confusion_matrix(TRUTH, TRUTH, 3)
    assert pixel_accuracy(cm) == 1.0 and mean_iou(cm) == 1.0 and mean_dice(cm) == 1.0


# ----------------------------------------------------------------------------- random data


def brute_force(y_true, y_pred, K, ignore_index=None):
    """The confusion matrix by a loop over pixels, IoU and Dice from sets of pixels."""
    cm = np.zeros((K, K), dtype=np.int64)
    for t, p in zip(y_true.ravel(), y_pred.ravel(), strict=True):
        if t != ignore_index:
            cm[t, p] += 1
    counted = y_true != ignore_index
    ious, dices = [], []
    for k in range(K):
        truth, pred = (y_true == k) & counted, (y_pred == k) & counted
        union, total = (truth | pred).sum(), truth.sum() + pred.sum()
        ious.append((truth & pred).sum() / union if union else np.nan)
        dices.append(2 * (truth & pred).sum() / total if total else np.nan)
    return cm, np.array(ious), np.array(dices)


@pytest.mark.parametrize(("shape", "K", "ignore_index"), [
    ((2, 5, 7), 4, None), ((3, 8, 8), 11, 255), ((1, 6, 5), 2, None), ((4, 3, 3), 7, -1), ((50,), 3, 0)])
def test_matches_a_brute_force_loop(rng, shape, K, ignore_index):
    y_true, y_pred = rng.integers(0, K, shape), rng.integers(0, K, shape)
    y_pred[y_pred == K - 1] = 0  # the last class is never predicted (and sometimes absent altogether)
    if ignore_index is not None:
        y_true[rng.random(shape) < 0.2] = ignore_index
    cm = confusion_matrix(y_true, y_pred, K, ignore_index)
    ref_cm, ref_iou, ref_dice = brute_force(y_true, y_pred, K, ignore_index)
    np.testing.assert_array_equal(cm, ref_cm)
    np.testing.assert_allclose(iou(cm), ref_iou, rtol=1e-14)  # NaN in the same places
    np.testing.assert_allclose(dice(cm), ref_dice, rtol=1e-14)
    assert mean_iou(cm) == pytest.approx(np.nanmean(ref_iou), rel=1e-14)
    assert pixel_accuracy(cm) == pytest.approx(np.trace(ref_cm) / ref_cm.sum(), rel=1e-14)


def test_dice_is_2_iou_over_1_plus_iou(rng):
    for K in (2, 5, 11):
        cm = confusion_matrix(rng.integers(0, K, (3, 16, 16)), rng.integers(0, K, (3, 16, 16)), K)
        j = iou(cm)
        np.testing.assert_allclose(dice(cm), 2 * j / (1 + j), rtol=1e-14)
        assert (dice(cm) >= j).all()


def test_confusion_matrices_of_batches_add_up(rng):
    y_true, y_pred = rng.integers(0, 5, (6, 8, 8)), rng.integers(0, 5, (6, 8, 8))
    batches = sum(confusion_matrix(y_true[i : i + 2], y_pred[i : i + 2], 5) for i in range(0, 6, 2))
    np.testing.assert_array_equal(batches, confusion_matrix(y_true, y_pred, 5))


def test_accepts_small_integer_and_bool_labels():
    np.testing.assert_array_equal(confusion_matrix(TRUTH.astype(np.uint8), PRED.astype(np.int16), 3), CM)
    np.testing.assert_array_equal(confusion_matrix(np.array([True, False]), np.array([True, True]), 2),
                                  [[0, 1], [0, 1]])


def test_is_a_module_of_dlcore():
    assert dlcore.metrics.iou is iou and "metrics" in dlcore.__all__


# ----------------------------------------------------------------------------- errors


def test_shapes_differ():
    with pytest.raises(ValueError, match=r"same shape, got \(3, 3\) and \(9,\)"):
        confusion_matrix(TRUTH, PRED.ravel(), 3)


@pytest.mark.parametrize(("y_true", "y_pred", "match"), [
    ([0, 3], [0, 1], r"y_true holds labels in \[0, 3\], outside the 3 classes \[0, 3\)"),
    ([0, 1], [0, 3], r"y_pred holds labels in \[0, 3\], outside the 3 classes \[0, 3\)"),
    ([-1, 1], [0, 1], r"y_true holds labels in \[-1, 1\]"),
    ([0, 1], [-2, 1], r"y_pred holds labels in \[-2, 1\]"),
])
def test_labels_out_of_range(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        confusion_matrix(np.array(y_true), np.array(y_pred), 3)


def test_labels_out_of_range_with_ignore_index_name_it():
    with pytest.raises(ValueError, match=r"outside the 3 classes \[0, 3\) \(or ignore_index=255\)"):
        confusion_matrix(np.array([0, 254, 255]), np.array([0, 1, 2]), 3, ignore_index=255)


def test_float_labels_are_a_type_error():
    with pytest.raises(TypeError, match="y_pred must hold integer class labels, got dtype float64"):
        confusion_matrix(TRUTH, PRED.astype(float), 3)


@pytest.mark.parametrize(("n_classes", "error"), [(0, ValueError), (2.0, TypeError), (None, TypeError)])
def test_bad_n_classes(n_classes, error):
    with pytest.raises(error, match="n_classes must be a positive integer"):
        confusion_matrix(TRUTH, PRED, n_classes)


@pytest.mark.parametrize(("cm", "error", "match"), [
    (np.zeros((2, 3)), ValueError, r"square \(K, K\).*got shape \(2, 3\)"),
    (np.zeros(3), ValueError, r"square \(K, K\)"),
    (np.array([[1, -1], [0, 1]]), ValueError, "counts >= 0"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), ValueError, "NaN"),
    (np.array([["a"]]), TypeError, "holds counts"),
])
@pytest.mark.parametrize("metric", [pixel_accuracy, iou, dice, mean_iou, mean_dice])
def test_bad_confusion_matrix(metric, cm, error, match):
    with pytest.raises(error, match=match):
        metric(cm)


@pytest.mark.parametrize("metric", [pixel_accuracy, mean_iou, mean_dice])
def test_means_over_no_pixels_are_an_error(metric):
    cm = confusion_matrix(np.full((2, 2), 255), np.zeros((2, 2), dtype=int), 3, ignore_index=255)
    assert not cm.any()
    with pytest.raises(ValueError, match=f"{metric.__name__}: the confusion matrix counts no pixels"):
        metric(cm)
    assert np.isnan(iou(cm)).all()  # per class: every class is absent, NaN, no error
