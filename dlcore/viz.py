"""Plotting helpers shared by the chapters (matplotlib only).

Every function returns what it drew (an ``Axes``, a ``Figure`` or a ``FuncAnimation``) so that a
notebook can add to it and a test can inspect it. Conventions used throughout:

* samples are rows: 2-D inputs ``X`` are (N, 2), labels ``y`` are (N,) or (N, 1);
* probabilities of class 1 use the colormap ``"RdBu_r"`` from 0 (blue, class 0) to 1 (red, class 1),
  and the decision boundary is the 0.5 contour, drawn in black;
* a *predict_proba* function maps points (M, 2) to probabilities (M,) or (M, 1), e.g. ``model.forward``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

_CDN_LINK = re.compile(r'<link rel="stylesheet"\s+href="https://[^"]*font-awesome[^"]*">\s*')

PROB_CMAP = "RdBu_r"  # probability of class 1: blue = 0, red = 1
CLASS_COLORS = ("#2166ac", "#b2182b")  # class 0, class 1 (the ends of RdBu_r)
# ... and a marker per class, so that the classes differ in shape too: in greyscale the two colours look alike
CLASS_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*", "<", ">")


def animation_html(anim: animation.Animation, loop: bool = True, fps: float | None = None) -> str:
    """Render ``anim`` as a self-contained HTML player (``to_jshtml``) that works offline.

    Matplotlib's player links a Font Awesome stylesheet from a CDN for its button icons; the book serves
    Font Awesome itself, so the link is dropped (an offline page would log a failed request).
    """
    html = anim.to_jshtml(fps=fps, default_mode="loop" if loop else "once")
    return _CDN_LINK.sub("", html)


# ----------------------------------------------------------------------------- input checks


def _points(X) -> np.ndarray:
    """``X`` as a float array of shape (N, 2) with N >= 1, else a ValueError."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2 or len(X) == 0:
        raise ValueError(f"X must have shape (N, 2) with N >= 1 (samples are rows), got {X.shape}")
    return X


def _labels(y, n: int) -> np.ndarray:
    """Integer labels (n,) from ``y`` of shape (n,) or (n, 1)."""
    y = np.asarray(y)
    if y.size != n or (y.ndim == 2 and y.shape[1] != 1) or y.ndim > 2:
        raise ValueError(f"y must have shape ({n},) or ({n}, 1) to match X, got {y.shape}")
    return y.reshape(n).astype(int)


def _probabilities(predict_proba: Callable, points: np.ndarray) -> np.ndarray:
    """Probabilities of class 1 (M,) at ``points`` (M, 2); accepts outputs (M,), (M, 1) or (M, 2)."""
    p = np.asarray(predict_proba(points), dtype=float)
    if p.ndim == 2 and p.shape[1] in (1, 2):
        p = p[:, -1]  # (M, 2) = softmax over two classes: column 1 is class 1
    if p.shape != (len(points),):
        raise ValueError(f"predict_proba must return shape ({len(points)},) or ({len(points)}, 1) "
                         f"for {len(points)} points, got {p.shape}")
    return p


# ----------------------------------------------------------------------------- decision boundaries


def boundary_grid(X, margin: float = 0.5, resolution: int = 150):
    """A regular grid covering the data plus ``margin`` on every side.

    X: (N, 2).  Returns ``xx, yy`` (resolution, resolution) from ``np.meshgrid`` and
    ``points`` (resolution**2, 2), the grid points as rows, ready for a model.
    """
    X = _points(X)
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    points = np.column_stack([xx.ravel(), yy.ravel()])
    return xx, yy, points


def plot_data(X, y, ax: Axes | None = None, legend: bool = True) -> Axes:
    """Scatter the samples X (N, 2) by class y (N,): blue circles = 0, red triangles = 1 (tab10 colours and
    further markers for K > 2). Shape and colour both tell the classes apart, for greyscale prints and
    colour-blind readers."""
    X = _points(X)
    y = _labels(y, len(X))
    ax = ax if ax is not None else plt.subplots(figsize=(4.5, 4))[1]
    classes = np.unique(y)
    for k in classes:
        color = CLASS_COLORS[k] if set(classes) <= {0, 1} else plt.cm.tab10(k % 10)
        ax.scatter(*X[y == k].T, s=18, color=color, marker=CLASS_MARKERS[k % len(CLASS_MARKERS)],
                   edgecolors="white", linewidths=0.5, label=f"class {k}", zorder=3)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if legend:
        ax.legend(loc="best", fontsize="small", framealpha=0.8)
    return ax


def _draw_half_contour(ax: Axes, xx, yy, P):
    """The 0.5 contour of P (black), or None when P never crosses 0.5 (avoids matplotlib's warning)."""
    if P.min() < 0.5 < P.max():
        return ax.contour(xx, yy, P, levels=[0.5], colors="k", linewidths=1.5, zorder=2)
    return None


def _draw_field(ax: Axes, xx, yy, P, levels: int | None = 10):
    """The probability field P (R, R) as an image spanning the grid (xx, yy).

    ``levels`` flat colour bands (0-0.1, 0.1-0.2, ... for 10): the bands read like contour lines and keep
    PNGs and animation frames small; ``None`` draws a smooth field.
    """
    extent = (xx.min(), xx.max(), yy.min(), yy.max())
    cmap = plt.get_cmap(PROB_CMAP, levels) if levels else PROB_CMAP
    return ax.imshow(P, extent=extent, origin="lower", cmap=cmap, vmin=0, vmax=1, aspect="auto",
                     interpolation="nearest" if levels else "bilinear", alpha=0.75, zorder=0)


def plot_decision_boundary(predict_proba: Callable, X, y, ax: Axes | None = None, resolution: int = 150,
                           show_prob: bool = True, title: str | None = None, colorbar: bool = True,
                           legend: bool = True, levels: int | None = 10) -> Axes:
    """Probability field of class 1, the decision boundary p = 0.5, and the data.

    predict_proba: points (M, 2) -> probabilities (M,) or (M, 1), e.g. ``model.forward``.
    X: (N, 2), y: (N,).  ``show_prob=False`` draws only the boundary and the data; ``levels`` colour
    bands for the probability (``None``: smooth).
    """
    X = _points(X)
    xx, yy, points = boundary_grid(X, resolution=resolution)
    P = _probabilities(predict_proba, points).reshape(xx.shape)
    ax = ax if ax is not None else plt.subplots(figsize=(4.5, 4))[1]
    if show_prob:
        image = _draw_field(ax, xx, yy, P, levels)
        if colorbar:
            ax.figure.colorbar(image, ax=ax, label="$P(y=1 \\mid x)$", shrink=0.85)
    _draw_half_contour(ax, xx, yy, P)
    plot_data(X, y, ax=ax, legend=legend)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    if title:
        ax.set_title(title)
    return ax


def plot_linear_boundary(w, b, X, y, ax: Axes | None = None, show_normal: bool = True) -> Axes:
    """The line w·x + b = 0 of a single neuron over the data, with the normal vector w as an arrow.

    w: (2,) or (2, 1) weights, b: scalar or (1,) bias, X: (N, 2), y: (N,).
    The neuron predicts class 1 on the side the arrow points to (where w·x + b > 0).
    """
    X = _points(X)
    w = np.asarray(w, dtype=float).ravel()
    b = float(np.asarray(b, dtype=float).ravel()[0]) if np.size(b) == 1 else None
    if w.shape != (2,) or b is None:
        raise ValueError(f"need w of shape (2,) and a scalar b, got w {np.shape(w)} and b {np.shape(b)}")
    if not np.any(w):
        raise ValueError("w = 0: the boundary w·x + b = 0 is not a line")
    ax = ax if ax is not None else plt.subplots(figsize=(4.5, 4))[1]
    plot_data(X, y, ax=ax)
    (x0, y0), (x1, y1) = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    if abs(w[1]) >= abs(w[0]):  # solve for x2 as a function of x1 (not vertical)
        xs = np.array([x0, x1])
        line = np.column_stack([xs, -(w[0] * xs + b) / w[1]])
    else:  # steep line: solve for x1 as a function of x2
        ys = np.array([y0, y1])
        line = np.column_stack([-(w[1] * ys + b) / w[0], ys])
    ax.plot(*line.T, color="k", lw=2, label=r"$w \cdot x + b = 0$")
    if show_normal:
        centre = X.mean(axis=0)
        foot = centre - (w @ centre + b) * w / (w @ w)  # the point of the line closest to the data's centre
        arrow = w / np.linalg.norm(w) * 0.15 * max(x1 - x0, y1 - y0)
        ax.annotate("", xy=foot + arrow, xytext=foot,
                    arrowprops={"arrowstyle": "->", "color": "k", "lw": 1.5})
        ax.annotate("$w$", xy=foot + 1.35 * arrow, ha="center", va="center")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.legend(loc="best", fontsize="small", framealpha=0.8)
    return ax


# ----------------------------------------------------------------------------- training curves


def _metric(history, name: str) -> list[float]:
    """``history.name`` or ``history[name]`` as a list (empty when missing)."""
    if isinstance(history, Mapping):
        values = history.get(name, [])
    else:
        values = getattr(history, name, [])
    return list(values if values is not None else [])


def plot_history(history, axes: Sequence[Axes] | None = None, title: str | None = None,
                 log_loss: bool = False) -> Figure:
    """Loss (left) and accuracy (right) per epoch, train and (when recorded) validation.

    history: a ``dlcore.train.History`` or any object/dict with lists ``loss``, ``acc`` and optionally
    ``val_loss``, ``val_acc``. Non-finite losses (a diverged run) are left out of the curve.
    axes: two Axes to draw into (one is enough when no accuracy was recorded); their figure's layout is
    then left alone. Without ``axes`` a new figure is made and laid out tightly.
    """
    own_figure = axes is None
    loss, acc = _metric(history, "loss"), _metric(history, "acc")
    val_loss, val_acc = _metric(history, "val_loss"), _metric(history, "val_acc")
    if not loss:
        raise ValueError("history has no 'loss' values to plot")
    panels = [("loss", loss, val_loss)] + ([("accuracy", acc, val_acc)] if acc else [])
    if axes is None:
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
        axes = axes[0]
    axes = np.atleast_1d(axes)
    if len(axes) < len(panels):
        raise ValueError(f"need {len(panels)} axes (loss and accuracy), got {len(axes)}")
    for ax, (name, train, val) in zip(axes, panels, strict=False):
        for values, label, style in ((train, "train", "-"), (val, "validation", "--")):
            if values:
                values = np.asarray(values, dtype=float)
                values[~np.isfinite(values)] = np.nan  # a gap instead of an error
                ax.plot(np.arange(1, len(values) + 1), values, style, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if val:
            ax.legend(fontsize="small")
    if log_loss:
        axes[0].set_yscale("log")
    fig = axes[0].figure
    if title:
        fig.suptitle(title)
    if own_figure:
        fig.tight_layout()
    return fig


def plot_gradient_norms(norms, ax: Axes | None = None, log: bool = True) -> Axes:
    """One line per layer: the norm of its gradient per epoch.

    norms: dict layer name -> list of per-epoch norms, or an array (epochs, layers).
    """
    if isinstance(norms, Mapping):
        named = {str(k): np.asarray(v, dtype=float).ravel() for k, v in norms.items()}
    else:
        array = np.asarray(norms, dtype=float)
        if array.ndim != 2:
            raise ValueError(f"norms must be a dict or an array (epochs, layers), got shape {array.shape}")
        named = {f"layer {j + 1}": array[:, j] for j in range(array.shape[1])}
    if not named or not any(len(v) for v in named.values()):
        raise ValueError("norms is empty: nothing to plot")
    ax = ax if ax is not None else plt.subplots(figsize=(5, 3.2))[1]
    for name, values in named.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("gradient norm")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


# ----------------------------------------------------------------------------- training animations


class BoundaryRecorder:
    """Records the probability field of a model during training, for ``animate_boundary``.

    As a ``dlcore.train.fit`` callback ``cb(epoch, model, history)`` it evaluates ``model.forward`` on a
    (resolution, resolution) grid over X (N, 2) after the first epoch and every ``every`` epochs,
    together with the epoch count and the current loss/accuracy. In a hand-written loop call
    ``record(epoch, predict_proba, loss, acc)`` yourself.

    Stored: ``epochs`` (epochs completed), ``grids`` (each (resolution, resolution)), ``losses``, ``accs``.
    """

    def __init__(self, X, every: int = 1, resolution: int = 80, margin: float = 0.5):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.xx, self.yy, self.points = boundary_grid(X, margin=margin, resolution=resolution)
        self.every = every
        self.epochs: list[int] = []
        self.grids: list[np.ndarray] = []
        self.losses: list[float | None] = []
        self.accs: list[float | None] = []

    def record(self, epoch: int, predict_proba: Callable, loss: float | None = None,
               acc: float | None = None) -> None:
        """Store the field of ``predict_proba`` (points (M, 2) -> (M,) or (M, 1)) at ``epoch``."""
        P = _probabilities(predict_proba, self.points).reshape(self.xx.shape)
        self.epochs.append(int(epoch))
        self.grids.append(P.astype(np.float32))
        self.losses.append(None if loss is None else float(loss))
        self.accs.append(None if acc is None else float(acc))

    def __call__(self, epoch: int, model, history) -> None:
        done = epoch + 1  # fit counts epochs from 0 and calls us after each one
        if done == 1 or done % self.every == 0:
            loss, acc = _metric(history, "loss"), _metric(history, "acc")
            self.record(done, model.forward, loss[-1] if loss else None, acc[-1] if acc else None)
        # returning None: never stop the training

    def __len__(self) -> int:
        return len(self.grids)


def _frame_title(recorder: BoundaryRecorder, i: int) -> str:
    parts = [f"epoch {recorder.epochs[i]}"]
    if recorder.losses[i] is not None:
        parts.append(f"loss {recorder.losses[i]:.3f}")
    if recorder.accs[i] is not None:
        parts.append(f"acc {recorder.accs[i]:.2f}")
    return ", ".join(parts)


def animate_boundary(recorder: BoundaryRecorder, X, y, figsize=(4.5, 4), interval: int = 100,
                     show_history: bool = False, levels: int | None = 10) -> animation.FuncAnimation:
    """One frame per recorded grid: probability field, 0.5 contour, data; epoch/loss/acc as the title.

    ``show_history=True`` adds a panel with the loss curve up to the current frame. The figure is
    closed (so a notebook shows only the animation): display it with ``HTML(animation_html(anim))``.
    """
    if len(recorder) == 0:
        raise ValueError("the recorder has no frames: train with it as a callback or call record() first")
    X = _points(X)
    if show_history:
        fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(1.9 * figsize[0], figsize[1]))
    else:
        fig, ax = plt.subplots(figsize=figsize)
    xx, yy = recorder.xx, recorder.yy
    image = _draw_field(ax, xx, yy, recorder.grids[0], levels)
    plot_data(X, y, ax=ax, legend=False)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    contour = [_draw_half_contour(ax, xx, yy, recorder.grids[0])]
    ax.set_title(_frame_title(recorder, 0), fontsize="medium")

    if show_history:
        epochs = np.array(recorder.epochs)
        losses = np.array([np.nan if v is None else v for v in recorder.losses], dtype=float)
        (curve,) = ax_loss.plot([], [], color="C0")
        (dot,) = ax_loss.plot([], [], "o", color="C0")
        ax_loss.set_xlim(epochs.min(), max(epochs.max(), epochs.min() + 1))
        if np.isfinite(losses).any():
            ax_loss.set_ylim(0, 1.05 * np.nanmax(losses[np.isfinite(losses)]))
        ax_loss.set_xlabel("epoch")
        ax_loss.set_ylabel("loss")
        ax_loss.grid(alpha=0.3)
    fig.tight_layout()

    def update(i: int):
        image.set_data(recorder.grids[i])
        if contour[0] is not None:
            contour[0].remove()
        contour[0] = _draw_half_contour(ax, xx, yy, recorder.grids[i])
        ax.set_title(_frame_title(recorder, i), fontsize="medium")
        if show_history:
            curve.set_data(epochs[: i + 1], losses[: i + 1])
            dot.set_data(epochs[i : i + 1], losses[i : i + 1])
        return (image,)

    anim = animation.FuncAnimation(fig, update, frames=len(recorder), interval=interval, blit=False)
    plt.close(fig)
    return anim


def save_gif(anim: animation.Animation, path, fps: int = 10, dpi: int = 70) -> Path:
    """Write ``anim`` as an animated GIF (Pillow) to ``path``, atomically: a temp file, then os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".gif", prefix=f".{path.stem}-", dir=path.parent)
    os.close(fd)
    try:
        anim.save(tmp, writer=animation.PillowWriter(fps=fps), dpi=dpi)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a GIF is for sharing
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# ----------------------------------------------------------------------------- classification results


def _int_labels(labels, name: str) -> np.ndarray:
    """``labels`` flattened to int64; floats must hold whole numbers (1.7 is an error, not class 1)."""
    a = np.asarray(labels).ravel()
    if a.dtype.kind == "f":
        if not (np.isfinite(a).all() and (a == np.round(a)).all()):
            raise ValueError(f"{name} must hold integer class labels, got non-integer values")
    elif a.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integer class labels, got dtype {a.dtype}")
    return a.astype(np.int64)


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Counts C (K, K) with C[i, j] = number of samples of true class i predicted as class j."""
    y_true, y_pred = _int_labels(y_true, "y_true"), _int_labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"y_true and y_pred must be non-empty and equally long, "
                         f"got {len(y_true)} and {len(y_pred)} labels")
    K = n_classes if n_classes is not None else int(max(y_true.max(), y_pred.max())) + 1
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.min() < 0 or labels.max() >= K:
            raise ValueError(f"{name} holds labels in [{labels.min()}, {labels.max()}], "
                             f"outside the {K} classes [0, {K})")
    C = np.zeros((K, K), dtype=np.int64)
    np.add.at(C, (y_true, y_pred), 1)
    return C


def plot_confusion_matrix(y_true, y_pred, class_names: Sequence[str] | None = None, ax: Axes | None = None,
                          normalize: bool = True) -> Axes:
    """Confusion matrix as a heat map: rows = true class, columns = predicted class.

    Each cell shows its count and (``normalize=True``) the fraction of its row, which also sets the colour.
    """
    C = confusion_matrix(y_true, y_pred, None if class_names is None else len(class_names))
    K = len(C)
    names = list(class_names) if class_names is not None else [str(k) for k in range(K)]
    rows = C.sum(axis=1, keepdims=True)
    shown = C / np.maximum(rows, 1) if normalize else C
    ax = ax if ax is not None else plt.subplots(figsize=(1.0 + 0.55 * K, 0.8 + 0.5 * K))[1]
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(C.max(), 1))
    for i in range(K):
        for j in range(K):
            text = f"{C[i, j]}\n{shown[i, j]:.0%}" if normalize else f"{C[i, j]}"
            dark = shown[i, j] > 0.6 * image.norm.vmax
            ax.text(j, i, text, ha="center", va="center", fontsize=7 if K > 5 else 9,
                    color="white" if dark else "black")
    long_names = max(len(n) for n in names) > 3
    ax.set_xticks(range(K), names, rotation=45 if long_names else 0, ha="right" if long_names else "center")
    ax.set_yticks(range(K), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    return ax


def show_images(images, labels=None, preds=None, class_names: Sequence[str] | None = None, ncols: int = 8,
                figsize=None) -> Figure:
    """A grid of images (N, 1, H, W), (N, H, W) or (N, 3, H, W), titled with label and prediction.

    With ``preds`` each title reads "prediction (true label)", red where they differ.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] in (1, 3):
        images = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
    elif images.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W), (N, 1, H, W) or (N, 3, H, W), "
                         f"got {images.shape}")
    N = len(images)
    if N == 0:
        raise ValueError("no images to show")
    for name, values in (("labels", labels), ("preds", preds)):
        if values is not None and len(values) != N:
            raise ValueError(f"{name} has {len(values)} entries for {N} images")

    def name(k) -> str:
        return class_names[int(k)] if class_names is not None else str(int(k))

    ncols = min(ncols, N)
    nrows = -(-N // ncols)
    figsize = figsize or (1.2 * ncols, 1.45 * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= N:
            continue
        ax.imshow(images[i], cmap="gray" if images[i].ndim == 2 else None)
        if preds is not None:
            wrong = labels is not None and int(preds[i]) != int(labels[i])
            title = name(preds[i]) + (f"\n({name(labels[i])})" if labels is not None else "")
            ax.set_title(title, fontsize=7, color="red" if wrong else "black")
        elif labels is not None:
            ax.set_title(name(labels[i]), fontsize=7)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- segmentation masks

# Background white, then the ten Fashion-MNIST classes: the Okabe-Ito palette (told apart by colour-blind
# readers) plus two darker colours. Masks are always drawn with a legend naming the classes.
SEGMENT_COLORS = ("#ffffff", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2",
                  "#d55e00", "#cc79a7", "#000000", "#999999", "#882255")


def label_image(mask) -> np.ndarray:
    """A mask (H, W) of labels 0..10 as an RGB image (H, W, 3) in SEGMENT_COLORS (0 = background, white)."""
    from matplotlib.colors import to_rgb

    mask = _int_labels(mask, "mask").reshape(np.shape(mask))
    if mask.min() < 0 or mask.max() >= len(SEGMENT_COLORS):
        raise ValueError(f"mask labels must be in [0, {len(SEGMENT_COLORS) - 1}], "
                         f"got [{mask.min()}, {mask.max()}]")
    return np.array([to_rgb(c) for c in SEGMENT_COLORS])[mask]


def segment_legend(fig: Figure, class_names: Sequence[str], ncol: int = 6, y: float = 0.0):
    """A legend of the mask colours under the figure: background, then the classes."""
    from matplotlib.patches import Patch

    names = ["background", *class_names]
    handles = [Patch(facecolor=SEGMENT_COLORS[k], edgecolor="0.4", label=names[k]) for k in range(len(names))]
    return fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, y), ncol=ncol, fontsize=8,
                      frameon=False)


def show_segmentation(images, truth, preds: Mapping[str, np.ndarray] | None = None,
                      class_names: Sequence[str] | None = None, errors: bool = True,
                      size: float = 1.6) -> Figure:
    """One column per scene: the image, the true mask, each predicted mask and (``errors``) the first
    prediction's wrong pixels in black.

    images (N, 1, H, W) or (N, H, W); truth (N, H, W); preds: name -> (N, H, W) label maps.
    """
    images = np.asarray(images)
    images = images[:, 0] if images.ndim == 4 else images
    truth = np.asarray(truth)
    preds = dict(preds or {})
    if images.shape != truth.shape or any(np.shape(p) != truth.shape for p in preds.values()):
        raise ValueError(f"images, truth and preds must have the same (N, H, W) shape, got {images.shape}, "
                         f"{truth.shape} and {[np.shape(p) for p in preds.values()]}")
    rows = [("image", None), ("truth", truth)] + list(preds.items())
    first = next(iter(preds), None)
    if errors and first is not None:
        rows.append((f"errors ({first})", None))
    N = len(images)
    fig, axes = plt.subplots(len(rows), N, figsize=(size * N, size * len(rows)), squeeze=False)
    for r, (name, masks) in enumerate(rows):
        for i in range(N):
            ax = axes[r, i]
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=1)
            elif masks is not None:
                ax.imshow(label_image(masks[i]), interpolation="nearest")
            else:
                ax.imshow(preds[first][i] != truth[i], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            if i == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.tight_layout()
    if class_names is not None:
        segment_legend(fig, class_names)
    return fig


# ----------------------------------------------------------------------------- network diagrams


def _dense_weights(model) -> list[np.ndarray]:
    """The W (n_in, n_out) of every Dense layer of a dlcore Sequential/MLP, in order."""
    weights = [layer.params["W"] for layer in model.layers
               if "W" in getattr(layer, "params", {}) and np.ndim(layer.params["W"]) == 2]
    if not weights:
        raise ValueError(f"{type(model).__name__} has no Dense layers to draw")
    return weights


def _shown_nodes(n: int, max_nodes: int) -> list[int | None]:
    """Indices of the nodes to draw for a layer of n; None marks the ellipsis of a wide layer."""
    if n <= max_nodes:
        return list(range(n))
    head = max(min(max_nodes - 3, 5), 1)
    return list(range(head)) + [None] + [n - 2, n - 1]


def _node_label(layer: int, i: int, n_layers: int, n: int) -> str:
    if layer == 0:
        return f"$x_{{{i + 1}}}$"
    if layer == n_layers - 1:
        return r"$\hat y$" if n == 1 else f"$\\hat y_{{{i + 1}}}$"
    if n_layers == 3:
        return f"$h_{{{i + 1}}}$"
    return f"$h^{{({layer})}}_{{{i + 1}}}$"


def draw_network(layer_sizes: Sequence[int] | None = None, weights=None, ax: Axes | None = None,
                 biases: bool = False, max_nodes: int = 12, labels: bool = True,
                 title: str | None = None) -> Axes:
    """Architecture diagram: one column of nodes per layer, an edge for every weight.

    layer_sizes: e.g. [2, 3, 1]. weights: a list of (n_in, n_out) arrays, or a dlcore
    Sequential/MLP whose Dense ``W`` are read; then edge colour = sign (red +, blue -) and
    width ∝ |w|. ``biases=True`` adds a "1" node per layer feeding the next. Layers wider than
    ``max_nodes`` show a few nodes and an ellipsis (and only the edges between shown nodes).
    """
    if weights is not None and hasattr(weights, "layers"):
        weights = _dense_weights(weights)
    if weights is not None:
        weights = [np.asarray(W, dtype=float) for W in weights]
        if any(W.ndim != 2 for W in weights):
            raise ValueError("every weight matrix must be 2-D (n_in, n_out)")
        sizes_from_w = [weights[0].shape[0]] + [W.shape[1] for W in weights]
        if any(a.shape[1] != b.shape[0] for a, b in zip(weights[:-1], weights[1:], strict=True)):
            raise ValueError(f"weight shapes do not chain: {[W.shape for W in weights]}")
        if layer_sizes is not None and list(layer_sizes) != sizes_from_w:
            raise ValueError(f"layer_sizes {list(layer_sizes)} disagree with the weights {sizes_from_w}")
        layer_sizes = sizes_from_w
    if layer_sizes is None or len(layer_sizes) < 2 or any(int(n) < 1 for n in layer_sizes):
        raise ValueError(f"need layer_sizes with at least two positive sizes, got {layer_sizes}")
    sizes = [int(n) for n in layer_sizes]
    L = len(sizes)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 * L + 1, 0.5 * min(max(sizes), max_nodes) + 1.5))

    shown = [_shown_nodes(n, max_nodes) for n in sizes]
    height = max(len(s) for s in shown)
    pos = []  # pos[l][i] = (x, y) of node i of layer l, for the nodes that are drawn
    for layer, nodes in enumerate(shown):
        top = (len(nodes) - 1) / 2
        pos.append({i: (layer, top - r) for r, i in enumerate(nodes) if i is not None})
        if None in nodes:
            ax.text(layer, top - nodes.index(None), r"$\vdots$", ha="center", va="center", fontsize=14)

    vmax = max((np.abs(W).max() for W in weights), default=1.0) if weights is not None else 1.0
    norm, cmap = Normalize(-vmax, vmax), plt.get_cmap(PROB_CMAP)
    for layer in range(L - 1):
        segments, colors, widths = [], [], []
        sources = list(pos[layer].items())
        if biases:
            bias_xy = (layer, (len(shown[layer]) - 1) / 2 + 1)
            ax.scatter(*bias_xy, s=250, color="#eeeeee", edgecolors="grey", zorder=3)
            ax.text(*bias_xy, "1", ha="center", va="center", fontsize=8, zorder=4)
            sources.append((None, bias_xy))
        for i, (x0, y0) in sources:
            for j, (x1, y1) in pos[layer + 1].items():
                segments.append([(x0, y0), (x1, y1)])
                if weights is None or i is None:
                    colors.append((0.5, 0.5, 0.5, 0.6))
                    widths.append(0.7)
                else:
                    w = weights[layer][i, j]
                    colors.append(cmap(norm(w)))
                    widths.append(0.3 + 3.0 * abs(w) / vmax)
        ax.add_collection(LineCollection(segments, colors=colors, linewidths=widths, zorder=1,
                                         linestyles="-"))

    for layer, nodes in enumerate(pos):
        xy = np.array(list(nodes.values()))
        color = "#d9e6f2" if layer == 0 else ("#f6d6d2" if layer == L - 1 else "#ffffff")
        ax.scatter(*xy.T, s=380, color=color, edgecolors="k", linewidths=1, zorder=3)
        if labels:
            for i, (x, y) in nodes.items():
                ax.text(x, y, _node_label(layer, i, L, sizes[layer]), ha="center", va="center",
                        fontsize=8 if i < 99 else 6, zorder=4)
        name = "input" if layer == 0 else ("output" if layer == L - 1 else "hidden")
        ax.text(layer, -(height - 1) / 2 - 0.9, f"{name}\n({sizes[layer]})", ha="center", va="top",
                fontsize=8)
    ax.set_xlim(-0.5, L - 0.5)
    ax.set_ylim(-(height - 1) / 2 - 1.8, (height - 1) / 2 + (1.6 if biases else 0.7))
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax
