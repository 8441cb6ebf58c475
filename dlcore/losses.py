"""Losses: ``forward(pred, target) -> float`` (mean over the batch), then ``backward() -> dpred``.

``PixelCrossEntropy`` (segmentation) is a mean over the pixels: every pixel is a classification.
``SequenceCrossEntropy`` (language models) is a mean over the positions of sequences.
``NTXent`` (self-supervised learning) compares two batches of embeddings: ``forward(z1, z2) -> float``,
``backward() -> (dz1, dz2)``.
"""

import numbers

import numpy as np

from . import functional as F
from .checks import OUTPUT_HINT, finite_data, finite_number, nonempty


def _float(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind == "f":
        return a
    if a.dtype.kind in "iub":
        return a.astype(np.float64)
    raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")


class Loss:
    """Base class: ``loss(pred, target)`` calls ``forward``; ``backward()`` returns dLoss/dpred."""

    def __init__(self) -> None:
        self.cache = None

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        return self.forward(pred, target)

    def _saved(self):
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward()")
        return self.cache

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _binary_targets(y, out: np.ndarray, loss: str, what: str) -> np.ndarray:
    """Targets in [0, 1] of ``out``'s shape and dtype; an (N,) vs (N, 1) mix is reshaped (never broadcast
    to (N, N)), anything else that differs in shape, NaN/inf or values outside [0, 1] are errors."""
    y = np.asarray(y)
    if y.shape != out.shape:
        if out.ndim and {y.shape, out.shape} == {(len(out),), (len(out), 1)}:
            y = y.reshape(out.shape)
        else:
            raise ValueError(f"{loss}: target shape {y.shape} does not match {what} shape {out.shape}")
    finite_data(y, f"{loss}: the targets")
    y = _float(y, "targets").astype(out.dtype)
    if y.size and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"{loss} expects targets 0 or 1; got values in [{y.min():.3g}, {y.max():.3g}]")
    return y


def _class_labels(labels, shape: tuple, K: int, loss: str, ignore_index: int | None = None) -> np.ndarray:
    """``labels`` as int64 of ``shape``, each in [0, K) or equal to ``ignore_index``."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{loss} expects integer class labels, got dtype {labels.dtype} "
                        f"(use labels.astype(int))")
    if labels.shape != shape:
        raise ValueError(f"{loss} expects labels of shape {shape}, got {labels.shape}")
    labels = labels.astype(np.int64, copy=False)
    counted = labels if ignore_index is None else labels[labels != ignore_index]
    if counted.size and (counted.min() < 0 or counted.max() >= K):
        also = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
        raise ValueError(f"labels must be in [0, {K}) for {K} classes{also}; got values in "
                         f"[{counted.min()}, {counted.max()}]")
    return labels


class BinaryCrossEntropy(Loss):
    """L = -mean(y log p + (1 - y) log(1 - p)) for probabilities p, e.g. the output of a Sigmoid.

    p: (N, 1) or (N,) in [0, 1]; y: the same shape (an (N,) vs (N, 1) mix is reshaped, never
    broadcast to (N, N)), values 0 or 1. p is clipped to [eps, 1 - eps] so log(0) never happens.

    On probabilities this loss *saturates*: once a logit z passes about 37 (float64; 17 in float32)
    the Sigmoid rounds p to exactly 1, the clip caps the loss at -log(eps) ~ 36, and the Sigmoid's
    backward multiplies by p (1 - p) = 0, so a confidently wrong unit never gets a gradient.
    ``dlcore.fit`` / ``evaluate`` therefore never use it on a Sequential whose last layer is a Sigmoid:
    they give that Sigmoid's input z to ``BCEWithLogits`` (same loss, stable, gradient p - y). Used
    by hand (``loss(model(x), y)`` then ``model.backward(loss.backward())``) it is the plain,
    saturating form; for such loops prefer ``MLP(..., output=None)`` with ``BCEWithLogits``.
    """

    def forward(self, p: np.ndarray, y: np.ndarray) -> float:
        p = _float(p, "predictions")
        if np.isnan(p).any():
            raise ValueError("BinaryCrossEntropy: predictions contain NaN")
        nonempty(p.size, "BinaryCrossEntropy")
        if p.size and (p.min() < 0 or p.max() > 1):
            raise ValueError(f"BinaryCrossEntropy expects probabilities in [0, 1] (apply a Sigmoid first); "
                             f"got values in [{p.min():.3g}, {p.max():.3g}]")
        y = _binary_targets(y, p, "BinaryCrossEntropy", "prediction")
        eps = np.finfo(p.dtype).eps
        p = np.clip(p, eps, 1 - eps)
        self.cache = (p, y)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    def backward(self) -> np.ndarray:
        p, y = self._saved()
        return (p - y) / (p * (1 - p)) / p.size


class BCEWithLogits(Loss):
    """Sigmoid followed by binary cross-entropy, fused and stable (PyTorch's ``BCEWithLogitsLoss``).

    z: logits (N, 1) or (N,) (no Sigmoid before it); y: the same shape, values 0 or 1 (or soft
    targets in [0, 1]). With p = sigmoid(z), -[y log p + (1 - y) log(1 - p)] simplifies to

        L = mean( max(z, 0) - z y + log(1 + e^-|z|) )

    which never forms p, never takes log(0) and never overflows (e^-|z| <= 1), for any z: a logit
    of 50 with target 0 costs 50, not a clipped 36. Its gradient is exactly (p - y) / N: it is
    never 0 while p is wrong, so a confidently wrong unit still learns (no vanishing sigmoid').
    """

    def forward(self, z: np.ndarray, y: np.ndarray) -> float:
        z = _float(z, "logits")
        finite_data(z, "BCEWithLogits: the logits", OUTPUT_HINT)
        nonempty(z.size, "BCEWithLogits")
        y = _binary_targets(y, z, "BCEWithLogits", "logit")
        self.cache = (z, y)
        return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))

    def backward(self) -> np.ndarray:
        z, y = self._saved()
        return (F.sigmoid(z) - y) / z.size


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by cross-entropy, fused: L = -mean(log softmax(z)[label]).

    z: logits (N, K) (no softmax layer before it); labels: ints (N,) in [0, K).
    The fused gradient is simply (softmax(z) - onehot(labels)) / N.
    """

    def forward(self, z: np.ndarray, labels: np.ndarray) -> float:
        z = _float(z, "logits")
        if z.ndim != 2:
            raise ValueError(f"SoftmaxCrossEntropy expects logits of shape (N, K), got {z.shape}")
        N, K = z.shape
        nonempty(N, "SoftmaxCrossEntropy")
        finite_data(z, "SoftmaxCrossEntropy: the logits", OUTPUT_HINT)
        labels = _class_labels(labels, (N,), K, "SoftmaxCrossEntropy")
        logp = F.log_softmax(z)
        self.cache = (logp, labels)
        return float(-logp[np.arange(N), labels].mean())

    def backward(self) -> np.ndarray:
        logp, labels = self._saved()
        dz = np.exp(logp)  # softmax(z), a fresh array we can edit
        dz[np.arange(len(dz)), labels] -= 1
        dz /= len(dz)
        return dz


class SequenceCrossEntropy(Loss):
    """Softmax cross-entropy at every position of a sequence, for language models: the mean over all
    N * T positions of -log softmax(z[n, t])[labels[n, t]] (PyTorch: ``F.cross_entropy(z.transpose(1, 2),
    labels)``, or ``F.cross_entropy(z.reshape(-1, V), labels.reshape(-1))``).

    z: logits (N, T, V) (a score for every token of the vocabulary at each position); labels: ints (N, T)
    in [0, V), the next token at each position. It is ``SoftmaxCrossEntropy`` on the N * T rows of
    z.reshape(N * T, V): the gradient is (softmax(z) - onehot(labels)) / (N * T), reshaped back.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rows = SoftmaxCrossEntropy()

    def forward(self, z: np.ndarray, labels: np.ndarray) -> float:
        z = _float(z, "logits")
        if z.ndim != 3:
            raise ValueError(f"SequenceCrossEntropy expects logits of shape (N, T, V), got {z.shape}")
        N, T, V = z.shape
        nonempty(N * T, "SequenceCrossEntropy")
        finite_data(z, "SequenceCrossEntropy: the logits", OUTPUT_HINT)
        labels = _class_labels(labels, (N, T), V, "SequenceCrossEntropy")  # the checks, in our name
        self.cache = z.shape
        return self.rows.forward(z.reshape(N * T, V), labels.reshape(N * T))

    def backward(self) -> np.ndarray:
        shape = self._saved()
        return self.rows.backward().reshape(shape)


class PixelCrossEntropy(Loss):
    """Softmax cross-entropy at every pixel, for segmentation: PyTorch's ``F.cross_entropy`` on images.

    z: logits (N, K, H, W) (a class score per pixel); labels: ints (N, H, W) in [0, K), or ``ignore_index``
    for pixels that do not count (say, unlabelled borders). With class weights w (``weight``, shape (K,);
    default all 1) and the set P of counted pixels,

        L = sum_{i in P} w[y_i] * -log softmax(z_i)[y_i]  /  sum_{i in P} w[y_i]

    a weighted mean over the counted pixels (PyTorch's ``reduction='mean'``). The gradient at pixel i is
    w[y_i] (softmax(z_i) - onehot(y_i)) / sum_{j in P} w[y_j], and 0 at ignored pixels.
    """

    def __init__(self, ignore_index: int | None = None, weight: np.ndarray | None = None) -> None:
        super().__init__()
        if ignore_index is not None and (isinstance(ignore_index, bool)
                                         or not isinstance(ignore_index, numbers.Integral)):
            raise TypeError(f"ignore_index must be an integer label or None, got {ignore_index!r}")
        if weight is not None:
            weight = _float(weight, "weight")
            finite_data(weight, "PixelCrossEntropy: the class weights")
            if weight.ndim != 1 or (weight < 0).any():
                raise ValueError(f"weight must hold one weight >= 0 per class, shape (K,); got {weight}")
        self.ignore_index, self.weight = ignore_index, weight

    def forward(self, z: np.ndarray, labels: np.ndarray) -> float:
        z = _float(z, "logits")
        if z.ndim != 4:
            raise ValueError(f"PixelCrossEntropy expects logits of shape (N, K, H, W), got {z.shape}")
        N, K, H, W = z.shape
        nonempty(N, "PixelCrossEntropy")
        finite_data(z, "PixelCrossEntropy: the logits", OUTPUT_HINT)
        labels = _class_labels(labels, (N, H, W), K, "PixelCrossEntropy", self.ignore_index)
        if self.weight is not None and self.weight.shape != (K,):
            raise ValueError(f"PixelCrossEntropy: {len(self.weight)} class weights for {K} classes")
        counted = labels != self.ignore_index  # all True when ignore_index is None
        y = np.where(counted, labels, 0)       # ignored pixels: any class will do, their weight is 0
        weights = (1.0 if self.weight is None else self.weight[y]) * counted  # (N, H, W)
        if not weights.sum() > 0:
            why = "every pixel is ignored" if not counted.any() else "the counted pixels' classes weigh 0"
            raise ValueError(f"PixelCrossEntropy: {why}, so the mean over pixels is undefined")
        share = (weights / weights.sum()).astype(z.dtype)  # each pixel's share of the mean
        logp = F.log_softmax(z, axis=1)
        n, r, c = np.ogrid[:N, :H, :W]  # logp[n, y, r, c]: the log-probability of each pixel's label
        self.cache = (logp, y, share)
        return float(-(share * logp[n, y, r, c]).sum())

    def backward(self) -> np.ndarray:
        logp, y, share = self._saved()
        N, _, H, W = logp.shape
        n, r, c = np.ogrid[:N, :H, :W]
        dz = np.exp(logp)  # softmax(z), a fresh array we can edit
        dz[n, y, r, c] -= 1
        dz *= share[:, None]
        return dz

    def __repr__(self) -> str:
        return f"PixelCrossEntropy(ignore_index={self.ignore_index}, weight={self.weight})"


class MeanSquaredError(Loss):
    """L = mean((pred - y)^2) over all elements; shapes must match."""

    def forward(self, pred: np.ndarray, y: np.ndarray) -> float:
        pred, y = _float(pred, "predictions"), np.asarray(y)
        if y.shape != pred.shape:
            raise ValueError(f"MeanSquaredError: target shape {y.shape} does not match "
                             f"prediction shape {pred.shape}")
        nonempty(pred.size, "MeanSquaredError")
        finite_data(pred, "MeanSquaredError: the predictions", OUTPUT_HINT)
        finite_data(y, "MeanSquaredError: the targets")
        diff = pred - y.astype(pred.dtype)
        self.cache = diff
        return float(np.mean(diff * diff))

    def backward(self) -> np.ndarray:
        diff = self._saved()
        return 2 * diff / diff.size


class NTXent(Loss):
    """SimCLR's contrastive loss (Chen et al. 2020), the normalised temperature-scaled cross-entropy.

    z1, z2: embeddings (N, d) of two augmented views of the same N images (row n of z1 and row n of z2
    come from image n), N >= 2. Stack them into Z (2N, d), normalise each row, u_i = z_i / ||z_i||, and
    compare every pair: s_ij = u_i . u_j / temperature (a cosine similarity, sharpened), s_ii = -inf
    (an embedding is not compared with itself). Anchor i's positive is its other view p(i) = i + N or
    i - N; the other 2N - 2 rows are its negatives. The loss is a softmax cross-entropy over each row:

        L = mean_i -log softmax(s_i)[p(i)],   the mean over all 2N anchors.

    It is log(2N - 1) when all embeddings point the same way (each softmax is uniform), and near 0 when
    each view is much closer to its partner than to anything else. It does not change when a row is
    scaled by a positive number.

    Backward, by hand: with P = softmax(s) row by row (0 on the diagonal) and Y the one-hot positives,
    dL/ds = G = (P - Y) / 2N. s = U U^T / temperature, so dU = (G + G^T) U / temperature (each u_i
    is in row i and in column i). The normalisation u = z / ||z|| has Jacobian (I - u u^T) / ||z||,
    so dz = (du - u (u . du)) / ||z||: the part of du along u is dropped (scaling z changes nothing).
    Rows are normalised after dividing by their largest entry, so huge or tiny embeddings neither
    overflow nor underflow; a row of zeros has no direction and is an error.
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        self.temperature = finite_number(temperature, "NTXent temperature", low=0, low_open=True)

    def forward(self, z1: np.ndarray, z2: np.ndarray) -> float:
        z1, z2 = _float(z1, "z1"), _float(z2, "z2")
        for z, name in ((z1, "z1"), (z2, "z2")):
            if z.ndim != 2:
                raise ValueError(f"NTXent expects embeddings of shape (N, d), got {name} of shape {z.shape}")
        if z1.shape != z2.shape:
            raise ValueError(f"NTXent: z1 has shape {z1.shape} but z2 has shape {z2.shape}; the two views "
                             f"must pair up row by row")
        N, d = z1.shape
        nonempty(N, "NTXent")
        if N < 2:
            raise ValueError("NTXent needs N >= 2 pairs of views: with N = 1 an anchor has no negatives")
        if d == 0:
            raise ValueError(f"NTXent expects embeddings with at least one feature, got shape {z1.shape}")
        finite_data(z1, "NTXent: z1", OUTPUT_HINT)
        finite_data(z2, "NTXent: z2", OUTPUT_HINT)
        Z = np.concatenate([z1, z2]).astype(np.result_type(z1, z2), copy=False)  # (2N, d)
        scale = np.abs(Z).max(axis=1, keepdims=True)                             # (2N, 1)
        if not scale.all():
            i = int(np.flatnonzero(scale == 0)[0])
            name, row = ("z1", i) if i < N else ("z2", i - N)
            raise ValueError(f"NTXent: row {row} of {name} is all zeros (norm 0), so it has no direction "
                             f"to normalise")
        Zs = Z / scale
        length = np.sqrt(np.sum(Zs * Zs, axis=1, keepdims=True))
        U = Zs / length
        norm = scale * length                                                    # ||z_i||, (2N, 1)
        S = U @ U.T / Z.dtype.type(self.temperature)
        np.fill_diagonal(S, -np.inf)
        logp = F.log_softmax(S)                                                  # -inf on the diagonal
        positive = (np.arange(2 * N) + N) % (2 * N)
        self.cache = (U, norm, logp, positive, z1.dtype, z2.dtype)
        return float(-logp[np.arange(2 * N), positive].mean())

    def backward(self) -> tuple[np.ndarray, np.ndarray]:
        U, norm, logp, positive, dtype1, dtype2 = self._saved()
        M = len(U)
        G = np.exp(logp)                          # softmax(s), 0 on the diagonal; a fresh array we can edit
        G[np.arange(M), positive] -= 1
        G /= M
        dU = (G + G.T) @ U / U.dtype.type(self.temperature)
        dZ = (dU - U * np.sum(U * dU, axis=1, keepdims=True)) / norm
        N = M // 2
        return dZ[:N].astype(dtype1, copy=False), dZ[N:].astype(dtype2, copy=False)

    def __repr__(self) -> str:
        return f"NTXent(temperature={self.temperature:g})"
