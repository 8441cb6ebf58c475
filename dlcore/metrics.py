"""Segmentation metrics, all computed from one confusion matrix (chapter 8).

Count once, derive everything. ``confusion_matrix`` counts the (true class, predicted class) pairs of all
pixels into C (K, K): rows are the truth, columns the prediction. For class k,

    TP = C[k, k]                   pixels of class k found
    FP = column k's sum - TP       predicted k, truly another class
    FN = row k's sum - TP          truly k, predicted another class

    pixel accuracy = trace(C) / sum(C)
    IoU  = TP / (TP + FP + FN)         the overlap of the true and predicted regions of k over their union
    Dice = 2 TP / (2 TP + FP + FN)     the F1 score; Dice = 2 IoU / (1 + IoU), so both rank alike

A class absent from both the truth and the prediction has IoU = Dice = 0/0: NaN, and the means over
classes (``mean_iou``, ``mean_dice``) leave it out. Add the confusion matrices of all batches, then take
the metric: that gives the data set's IoU, not a mean of per-image IoUs.
"""

import numpy as np

from .checks import positive_int


def _labels(labels, name: str) -> np.ndarray:
    """``labels`` as an int64 array (any shape); refuses floats, which are not class labels."""
    a = np.asarray(labels)
    if a.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integer class labels, got dtype {a.dtype} "
                        f"(take the argmax over the classes, or use .astype(int))")
    return a.astype(np.int64, copy=False)


def confusion_matrix(y_true, y_pred, n_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """C (K, K) int64: C[i, j] = the number of pixels of true class i predicted as class j.

    y_true, y_pred: integer labels of the same shape, e.g. (N, H, W). Pixels whose *true* label is
    ``ignore_index`` are not counted (whatever was predicted there). Each (i, j) pair becomes one
    number i*K + j, and ``np.bincount`` counts them all at once.
    """
    K = positive_int(n_classes, "n_classes")
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    if ignore_index is not None:
        counted = y_true != ignore_index
        y_true, y_pred = y_true[counted], y_pred[counted]
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= K):
            also = "" if ignore_index is None or name == "y_pred" else f" (or ignore_index={ignore_index})"
            raise ValueError(f"{name} holds labels in [{labels.min()}, {labels.max()}], "
                             f"outside the {K} classes [0, {K}){also}")
    counts = np.bincount(K * y_true.ravel() + y_pred.ravel(), minlength=K * K)
    return counts.reshape(K, K).astype(np.int64, copy=False)


def _checked(cm) -> np.ndarray:
    """``cm`` as a float (K, K) array of counts: square, finite, >= 0."""
    cm = np.asarray(cm)
    if cm.dtype.kind not in "iuf":
        raise TypeError(f"a confusion matrix holds counts, got dtype {cm.dtype}")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or not cm.size:
        raise ValueError(f"a confusion matrix must be square (K, K) with K >= 1, got shape {cm.shape}")
    if not np.isfinite(cm).all() or (cm < 0).any():
        raise ValueError("a confusion matrix holds counts >= 0; this one has negative, NaN or inf entries")
    return cm.astype(np.float64)


def _counting(cm, what: str) -> np.ndarray:
    """``_checked(cm)``, which must count at least one pixel (a mean over no pixels is undefined)."""
    cm = _checked(cm)
    if not cm.sum() > 0:
        raise ValueError(f"{what}: the confusion matrix counts no pixels, so the mean is undefined")
    return cm


def _tp_fp_fn(cm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class: true positives (the diagonal), false positives, false negatives."""
    cm = _checked(cm)
    tp = np.diag(cm)
    return tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 (a class that is neither in the truth nor in the prediction)."""
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def pixel_accuracy(cm) -> float:
    """The fraction of pixels classified correctly: trace(C) / sum(C)."""
    cm = _counting(cm, "pixel_accuracy")
    return float(np.trace(cm) / cm.sum())


def iou(cm) -> np.ndarray:
    """Intersection over union per class, (K,): TP / (TP + FP + FN); NaN for a class seen nowhere."""
    tp, fp, fn = _tp_fp_fn(cm)
    return _ratio(tp, tp + fp + fn)


def dice(cm) -> np.ndarray:
    """Dice coefficient (F1) per class, (K,): 2 TP / (2 TP + FP + FN); NaN for a class seen nowhere."""
    tp, fp, fn = _tp_fp_fn(cm)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def mean_iou(cm) -> float:
    """The mean IoU over the classes that occur (in the truth or the prediction): mIoU."""
    _counting(cm, "mean_iou")
    return float(np.nanmean(iou(cm)))


def mean_dice(cm) -> float:
    """The mean Dice coefficient over the classes that occur (in the truth or the prediction)."""
    _counting(cm, "mean_dice")
    return float(np.nanmean(dice(cm)))


__all__ = ["confusion_matrix", "pixel_accuracy", "iou", "dice", "mean_iou", "mean_dice"]
