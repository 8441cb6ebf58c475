"""Tests for dlcore.viz: every helper draws the expected artists and rejects bad input clearly."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from PIL import Image  # noqa: E402

from dlcore import viz  # noqa: E402
from dlcore.layers import Dense, ReLU, Sigmoid  # noqa: E402
from dlcore.model import Sequential  # noqa: E402
from dlcore.train import History  # noqa: E402

# tests inspect animations without rendering them all, which matplotlib warns about on deletion
pytestmark = pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-1, 0.5, (20, 2)), rng.normal(1, 0.5, (20, 2))])
    y = np.repeat([0, 1], 20)
    return X, y


def linear_proba(points):
    """A fixed neuron: P(class 1) = sigmoid(x1 + x2), returned as (M, 1) like a dlcore model."""
    return 1 / (1 + np.exp(-(points[:, :1] + points[:, 1:])))


def contours(ax):
    return [c for c in ax.collections if isinstance(c, ContourSet)]


# ----------------------------------------------------------------------------- decision boundaries


def test_boundary_grid_shapes_and_extent(blobs):
    X, _ = blobs
    xx, yy, points = viz.boundary_grid(X, margin=0.5, resolution=30)
    assert xx.shape == yy.shape == (30, 30)
    assert points.shape == (900, 2)
    assert np.isclose(xx.min(), X[:, 0].min() - 0.5) and np.isclose(yy.max(), X[:, 1].max() + 0.5)
    np.testing.assert_array_equal(points[:, 0], xx.ravel())


@pytest.mark.parametrize("bad", [np.zeros((5, 3)), np.zeros(5), np.zeros((0, 2))])
def test_boundary_grid_rejects_non_2d_points(bad):
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        viz.boundary_grid(bad)


def test_plot_decision_boundary_draws_field_contour_and_data(blobs):
    X, y = blobs
    ax = viz.plot_decision_boundary(linear_proba, X, y, resolution=40, title="t")
    assert len(ax.images) == 1
    field = ax.images[0]
    assert field.get_cmap().name == "RdBu_r" and field.norm.vmin == 0 and field.norm.vmax == 1
    assert len(contours(ax)) == 1 and list(contours(ax)[0].levels) == [0.5]
    assert len(ax.collections) - 1 == 2  # one scatter per class besides the contour
    assert ax.get_title() == "t"


def test_plot_decision_boundary_accepts_flat_probabilities_and_no_field(blobs):
    X, y = blobs
    ax = viz.plot_decision_boundary(lambda p: linear_proba(p).ravel(), X, y, resolution=20, show_prob=False)
    assert not ax.images and len(contours(ax)) == 1


def test_plot_decision_boundary_rejects_bad_probability_shape(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="predict_proba"):
        viz.plot_decision_boundary(lambda p: np.zeros((len(p), 3)), X, y, resolution=10)
    with pytest.raises(ValueError, match="y must have shape"):
        viz.plot_decision_boundary(linear_proba, X, y[:-1], resolution=10)


def test_plot_linear_boundary_line_satisfies_equation(blobs):
    X, y = blobs
    w, b = np.array([1.0, 2.0]), 0.5
    ax = viz.plot_linear_boundary(w, b, X, y)
    (line,) = ax.lines
    xy = np.asarray(line.get_xydata())
    np.testing.assert_allclose(xy @ w + b, 0, atol=1e-12)
    # a steep line (|w1| > |w2|) and the (2, 1) / (1,) shapes of a Dense layer
    ax = viz.plot_linear_boundary(np.array([[3.0], [0.1]]), np.array([0.2]), X, y)
    xy = np.asarray(ax.lines[0].get_xydata())
    np.testing.assert_allclose(xy @ [3.0, 0.1] + 0.2, 0, atol=1e-12)


def test_plot_linear_boundary_rejects_bad_weights(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="w = 0"):
        viz.plot_linear_boundary([0.0, 0.0], 1.0, X, y)
    with pytest.raises(ValueError, match="shape"):
        viz.plot_linear_boundary([1.0, 2.0, 3.0], 1.0, X, y)


# ----------------------------------------------------------------------------- training curves


def test_plot_history_train_only_and_with_validation():
    h = History(loss=[1.0, 0.5, 0.3], acc=[0.5, 0.8, 0.9])
    fig = viz.plot_history(h, title="run")
    assert len(fig.axes) == 2 and all(len(ax.lines) == 1 for ax in fig.axes)
    assert fig.axes[0].get_ylabel() == "loss" and fig.axes[1].get_ylabel() == "accuracy"

    h.val_loss, h.val_acc = [1.1, 0.6, 0.4], [0.4, 0.7, 0.85]
    fig = viz.plot_history(h)
    assert all(len(ax.lines) == 2 for ax in fig.axes)
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [1, 2, 3])


def test_plot_history_from_dict_into_given_axes_and_with_divergence():
    fig, axes = plt.subplots(1, 2)
    out = viz.plot_history({"loss": [1.0, np.inf, np.nan], "acc": [0.5, 0.5, 0.5]}, axes=axes)
    assert out is fig
    assert np.isnan(axes[0].lines[0].get_ydata()[1])  # inf becomes a gap, not an error
    fig = viz.plot_history({"loss": [1.0, 0.5]})  # no accuracy: a single panel
    assert len(fig.axes) == 1


def test_plot_history_rejects_empty():
    with pytest.raises(ValueError, match="loss"):
        viz.plot_history(History())


def test_plot_gradient_norms_dict_and_array():
    ax = viz.plot_gradient_norms({"0.W": [1.0, 0.5, 0.2], "2.W": [0.1, 0.05, 0.01]})
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"
    ax = viz.plot_gradient_norms(np.ones((5, 3)), log=False)
    assert len(ax.lines) == 3 and ax.get_yscale() == "linear"
    with pytest.raises(ValueError):
        viz.plot_gradient_norms(np.ones(4))
    with pytest.raises(ValueError, match="empty"):
        viz.plot_gradient_norms({})


# ----------------------------------------------------------------------------- animations


def neuron(seed=0):
    return Sequential(Dense(2, 1, seed=seed, init="xavier"), Sigmoid())


def test_recorder_as_fit_callback(blobs):
    from dlcore.losses import BinaryCrossEntropy
    from dlcore.optim import SGD
    from dlcore.train import fit

    X, y = blobs
    model = neuron()
    rec = viz.BoundaryRecorder(X, every=3, resolution=12)
    history = fit(model, BinaryCrossEntropy(), SGD(model, lr=0.5), X, y.reshape(-1, 1), epochs=9,
                  callbacks=[rec])
    assert rec.epochs == [1, 3, 6, 9]
    assert len(rec) == 4 and rec.grids[0].shape == (12, 12)
    assert rec.losses[-1] == pytest.approx(history.loss[-1]) and rec.accs[-1] == history.acc[-1]


def test_recorder_manual_and_animation_frames(blobs):
    X, y = blobs
    rec = viz.BoundaryRecorder(X, resolution=10)
    for epoch in range(5):
        rec.record(epoch, lambda p, s=epoch: linear_proba(s * p), loss=1.0 / (epoch + 1), acc=0.5)
    anim = viz.animate_boundary(rec, X, y, show_history=True)
    assert anim._save_count == len(rec) == 5  # one frame per recorded grid
    fig = anim._fig
    assert len(fig.axes) == 2
    anim._func(4)  # draw the last frame
    ax = fig.axes[0]
    assert "epoch 4" in ax.get_title() and "loss 0.200" in ax.get_title()
    assert len(contours(ax)) == 1  # the old contour is replaced, not stacked
    np.testing.assert_allclose(ax.images[0].get_array(), rec.grids[4])


def test_animate_boundary_without_frames_raises(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="no frames"):
        viz.animate_boundary(viz.BoundaryRecorder(X, resolution=5), X, y)


def test_save_gif_writes_valid_gif_atomically(tmp_path, blobs):
    X, y = blobs
    rec = viz.BoundaryRecorder(X, resolution=8)
    for epoch in range(3):
        rec.record(epoch, lambda p, s=epoch: linear_proba(s * p))
    anim = viz.animate_boundary(rec, X, y, figsize=(2, 2))
    path = viz.save_gif(anim, tmp_path / "sub" / "boundary.gif", fps=5, dpi=40)
    assert path == tmp_path / "sub" / "boundary.gif"
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 3
    assert sorted(p.name for p in path.parent.iterdir()) == ["boundary.gif"]  # no temp file left


def test_animation_html_is_offline(blobs):
    X, y = blobs
    rec = viz.BoundaryRecorder(X, resolution=5)
    rec.record(0, linear_proba)
    html = viz.animation_html(viz.animate_boundary(rec, X, y, figsize=(2, 2)))
    assert "<script" in html and "font-awesome" not in html


# ----------------------------------------------------------------------------- classification results


def test_confusion_matrix_counts_and_plot():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 2])
    C = viz.confusion_matrix(y_true, y_pred)
    np.testing.assert_array_equal(C, [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    ax = viz.plot_confusion_matrix(y_true, y_pred, class_names=["a", "b", "c"])
    shown = ax.images[0].get_array()
    np.testing.assert_allclose(shown.sum(axis=1), 1)  # normalised rows
    counts = [int(t.get_text().split("\n")[0]) for t in ax.texts]
    assert len(counts) == 9 and sum(counts) == len(y_true)
    ax = viz.plot_confusion_matrix(y_true, y_pred, normalize=False)
    assert sum(int(t.get_text()) for t in ax.texts) == len(y_true)
    with pytest.raises(ValueError):
        viz.confusion_matrix([0, 1], [0])


def test_show_images_titles_and_colours():
    images = np.random.default_rng(0).random((5, 1, 6, 6))
    fig = viz.show_images(images, labels=[0, 1, 2, 1, 0], preds=[0, 1, 1, 1, 2], class_names=["a", "b", "c"],
                          ncols=3)
    axes = fig.axes
    assert len(axes) == 6 and sum(bool(ax.images) for ax in axes) == 5
    assert axes[0].get_title() == "a\n(a)" and axes[0].title.get_color() == "black"
    assert axes[2].get_title() == "b\n(c)" and axes[2].title.get_color() == "red"
    fig = viz.show_images(images[:, 0], labels=[0, 1, 2, 1, 0])
    assert fig.axes[1].get_title() == "1"
    with pytest.raises(ValueError, match="images must have shape"):
        viz.show_images(np.zeros((2, 2, 6, 6)))
    with pytest.raises(ValueError, match="labels"):
        viz.show_images(images, labels=[0, 1])


# ----------------------------------------------------------------------------- network diagrams


def edges(ax):
    return sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection))


@pytest.mark.parametrize("sizes", [[2, 1], [2, 3, 1], [3, 4, 4, 2]])
def test_draw_network_edge_count(sizes):
    ax = viz.draw_network(sizes)
    assert edges(ax) == sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    ax = viz.draw_network(sizes, biases=True)
    assert edges(ax) == sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def test_draw_network_from_weights_and_model():
    model = Sequential(Dense(2, 3, seed=0), ReLU(), Dense(3, 1, seed=1), Sigmoid())
    ax = viz.draw_network(weights=model)
    assert edges(ax) == 2 * 3 + 3 * 1
    (first, _) = [c for c in ax.collections if isinstance(c, LineCollection)]
    W = model.layers[0].params["W"]
    widths = np.asarray(first.get_linewidths())
    assert widths.argmax() == np.abs(W).argmax()  # the widest edge is the largest |w|
    labels = {t.get_text() for t in ax.texts}
    assert {"$x_{1}$", "$h_{3}$", r"$\hat y$"} <= labels
    ax = viz.draw_network(weights=[layer.params["W"] for layer in model.layers[::2]])
    assert edges(ax) == 9


def test_draw_network_wide_layers_are_abbreviated():
    ax = viz.draw_network([784, 100, 10], max_nodes=12)
    shown = [7, 7, 10]  # 5 nodes, an ellipsis and the last 2 for each layer wider than 12
    assert edges(ax) == shown[0] * shown[1] + shown[1] * shown[2]
    assert sum(t.get_text() == r"$\vdots$" for t in ax.texts) == 2


def test_draw_network_rejects_bad_input():
    with pytest.raises(ValueError, match="at least two"):
        viz.draw_network([3])
    with pytest.raises(ValueError, match="chain"):
        viz.draw_network(weights=[np.zeros((2, 3)), np.zeros((4, 1))])
    with pytest.raises(ValueError, match="disagree"):
        viz.draw_network([2, 2, 1], weights=[np.zeros((2, 3)), np.zeros((3, 1))])


def test_label_image_colours_and_range():
    mask = np.array([[0, 1], [10, 3]])
    rgb = viz.label_image(mask)
    assert rgb.shape == (2, 2, 3)
    assert np.allclose(rgb[0, 0], 1.0)  # background is white
    assert len({tuple(c) for c in rgb.reshape(-1, 3)}) == 4
    with pytest.raises(ValueError, match="mask labels"):
        viz.label_image(np.array([[11]]))


def test_show_segmentation_grid_and_shape_check():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(3, 1, 8, 8))
    truth = rng.integers(0, 11, size=(3, 8, 8))
    fig = viz.show_segmentation(images, truth, {"a": truth, "b": np.zeros_like(truth)},
                                class_names=[str(k) for k in range(10)])
    assert len(fig.axes) == 5 * 3  # image, truth, a, b, errors of a
    plt.close(fig)
    with pytest.raises(ValueError, match="same"):
        viz.show_segmentation(images, truth[:, :4])


def test_plot_data_classes_differ_in_shape_not_only_colour():
    """Greyscale prints and colour-blind readers: each class has its own marker as well as its colour."""
    from dlcore.viz import plot_data

    X = np.random.default_rng(0).normal(size=(30, 2))
    for y in (np.arange(30) % 2, np.arange(30) % 3):
        ax = plot_data(X, y)
        shapes = [tuple(map(tuple, c.get_paths()[0].vertices.round(3))) for c in ax.collections]
        assert len(ax.collections) == len(np.unique(y)) == len(set(shapes))
        plt.close(ax.figure)
