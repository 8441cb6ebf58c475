"""Fashion-MNIST scenes (dlcore.data.make_scenes): shapes, labels, occlusion, determinism, errors."""

import numpy as np
import pytest

from dlcore.data import make_scenes


def _items(m=6, h=4, w=4, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 1, size=(m, 1, h, w)).astype(np.float32)
    return images, np.arange(m) % 10


def test_shapes_dtypes_and_label_range():
    images, labels = _items()
    X, Y, items = make_scenes(images, labels, 50, size=12, n_items=(2, 4), seed=3)
    assert X.shape == (50, 1, 12, 12) and X.dtype == np.float32
    assert Y.shape == (50, 12, 12) and Y.dtype == np.uint8
    assert 0 <= X.min() and X.max() <= 1 and Y.max() <= 10
    counts = np.bincount(items["scene"], minlength=50)
    assert counts.min() >= 2 and counts.max() <= 4 and set(counts) == {2, 3, 4}
    assert all(len(v) == counts.sum() for v in items.values())


def test_same_seed_same_scenes_other_seed_other_scenes():
    images, labels = _items()
    a = make_scenes(images, labels, 20, size=10, seed=1)
    b = make_scenes(images, labels, 20, size=10, seed=1)
    c = make_scenes(images, labels, 20, size=10, seed=2)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_one_item_is_pasted_exactly():
    images, labels = _items()
    X, Y, items = make_scenes(images, labels, 5, size=9, n_items=(1, 1), threshold=0.3, seed=0)
    for s in range(5):
        j, r, c = items["image"][s], items["row"][s], items["col"][s]
        patch = images[j, 0]
        assert np.array_equal(X[s, 0, r:r + 4, c:c + 4], patch)
        assert X[s, 0].sum() == pytest.approx(patch.sum())  # nothing outside the item
        expected = np.where(patch > 0.3, labels[j] + 1, 0)
        assert np.array_equal(Y[s, r:r + 4, c:c + 4], expected)
        assert items["area"][s] == items["visible"][s] == (patch > 0.3).sum()


def test_later_item_occludes_and_faint_pixels_keep_the_label_beneath():
    # two full-canvas items: the second's bright pixels win, its faint ones only brighten the image
    first = np.full((1, 1, 3, 3), 0.5, np.float32)
    second = np.array([[0.9, 0.1, 0.9], [0.1, 0.9, 0.1], [0.9, 0.1, 0.9]], np.float32)[None, None]
    images, labels = np.concatenate([first, second]), np.array([2, 7])
    for seed in range(50):  # find a scene that drew the first item, then the second
        X, Y, items = make_scenes(images, labels, 1, size=3, n_items=(2, 2), threshold=0.15, seed=seed)
        if list(items["image"]) == [0, 1]:
            break
    else:
        pytest.fail("no seed drew the items in the order wanted")
    bright = second[0, 0] > 0.15
    assert np.array_equal(Y[0], np.where(bright, 8, 3))
    assert np.array_equal(X[0, 0], np.where(bright, second[0, 0], 0.5))
    assert items["area"].tolist() == [9, 5] and items["visible"].tolist() == [4, 5]


def test_visible_counts_agree_with_the_labels():
    images, labels = _items(m=10, seed=4)
    X, Y, items = make_scenes(images, labels, 30, size=8, n_items=(2, 4), seed=5)
    assert items["visible"].sum() == (Y > 0).sum()
    assert (items["visible"] <= items["area"]).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(size=3), "do not fit"),
        (dict(n_items=(3, 2)), "n_items"),
        (dict(n_items=(0, 2)), "n_items"),
        (dict(threshold=1.5), "threshold"),
        (dict(n=0), "n must be"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, match):
    images, labels = _items()
    args = dict(n=4, size=8) | kwargs
    with pytest.raises(ValueError, match=match):
        make_scenes(images, labels, **args)


def test_bad_shapes_name_the_problem():
    images, labels = _items()
    with pytest.raises(ValueError, match="images must have shape"):
        make_scenes(images[:, 0], labels, 3, size=8)
    with pytest.raises(ValueError, match="labels must have shape"):
        make_scenes(images, labels[:-1], 3, size=8)


def test_load_fashion_scenes_splits_use_disjoint_items():
    data = pytest.importorskip("dlcore.data")
    try:
        X_train, _, _, _ = data.load_fashion_mnist()
    except data.DataError:
        pytest.skip("Fashion-MNIST not installed")
    with pytest.raises(ValueError, match="split"):
        data.load_fashion_scenes("validation", 2)
    _, _, tr = data.load_fashion_scenes("train", 200)
    _, _, va = data.load_fashion_scenes("val", 200)
    order = np.random.default_rng(12345).permutation(len(X_train))
    train_ids, val_ids = order[data.N_SCENE_VAL_ITEMS:][tr["image"]], order[:data.N_SCENE_VAL_ITEMS][va["image"]]
    assert not set(train_ids) & set(val_ids)


def test_paste_item_refuses_an_item_off_the_canvas():
    from dlcore.data import paste_item

    canvas, mask = np.zeros((8, 8), np.float32), np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="does not fit"):
        paste_item(canvas, mask, np.ones((4, 4), np.float32), 3, 6, 0)
    on = paste_item(canvas, mask, np.full((4, 4), 0.5, np.float32), 3, 4, 4)
    assert on.all() and mask[4:, 4:].min() == 3 and mask[:4].max() == 0
