"""random_shift_flip: shapes, determinism, the drawn shifts and flips, the fill value, flat input."""

import numpy as np
import pytest

from dlcore.augment import random_shift_flip


def draws(seed, N, max_shift=2, flip=True):
    """The documented draws: (dy, dx) per image, then which images are mirrored."""
    rng = np.random.default_rng(seed)
    d = rng.integers(-max_shift, max_shift + 1, size=(N, 2))
    return d, (rng.random(N) < 0.5 if flip else np.zeros(N, dtype=bool))


def one_pixel_images(N=50, C=1, H=9, W=8, i=4, j=3):
    x = np.zeros((N, C, H, W))
    x[:, :, i, j] = 1.0
    return x


@pytest.mark.parametrize("shape", [(5, 1, 8, 8), (3, 3, 6, 7)])
def test_shape_dtype_and_determinism(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    a = random_shift_flip(x, np.random.default_rng(1))
    b = random_shift_flip(x, np.random.default_rng(1))
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, random_shift_flip(x, np.random.default_rng(2)))


def test_shift_moves_a_bright_pixel_by_the_drawn_amount():
    N, H, W, i, j = 60, 9, 8, 4, 3
    out = random_shift_flip(one_pixel_images(N, 2, H, W, i, j), np.random.default_rng(3), flip=False)
    d, _ = draws(3, N, flip=False)
    assert set(np.unique(d)) == {-2, -1, 0, 1, 2}
    for n in range(N):
        for c in range(2):
            expected = np.zeros((H, W))
            expected[i + d[n, 0], j + d[n, 1]] = 1.0
            np.testing.assert_array_equal(out[n, c], expected)


def test_flip_mirrors_left_right():
    N, H, W, i, j = 40, 7, 8, 3, 2  # stays inside for shifts up to 2
    x = one_pixel_images(N, 1, H, W, i, j)
    out = random_shift_flip(x, np.random.default_rng(4), max_shift=0)
    _, mirrored = draws(4, N, max_shift=0)
    assert 0 < mirrored.sum() < N
    np.testing.assert_array_equal(out[mirrored], x[mirrored][..., ::-1])
    np.testing.assert_array_equal(out[~mirrored], x[~mirrored])
    shifted = random_shift_flip(x, np.random.default_rng(5))
    d, mirrored = draws(5, N)
    for n in range(N):
        col = j + d[n, 1]
        assert shifted[n, 0, i + d[n, 0], W - 1 - col if mirrored[n] else col] == 1.0


def test_fill_value():
    x = np.full((30, 1, 5, 5), 3.0)
    x[:, :, 2, 2] = 7.0
    default = random_shift_flip(x, np.random.default_rng(0))
    assert set(np.unique(default)) == {3.0, 7.0}  # filled with the image's minimum, the background
    filled = random_shift_flip(x, np.random.default_rng(0), fill=-1.0)
    d, _ = draws(0, 30)
    assert (filled == -1).any()
    for n in range(30):  # exactly |dy| rows and |dx| columns are new
        H, W = 5 - abs(d[n, 0]), 5 - abs(d[n, 1])
        assert (filled[n] != -1).sum() == H * W


def test_flat_input_with_image_shape(rng):
    x = rng.random((6, 784))
    out = random_shift_flip(x, np.random.default_rng(7), image_shape=(28, 28))
    assert out.shape == (6, 784)
    as_images = random_shift_flip(x.reshape(6, 1, 28, 28), np.random.default_rng(7))
    np.testing.assert_array_equal(out, as_images.reshape(6, 784))
    chw = random_shift_flip(rng.random((2, 3 * 16)), np.random.default_rng(0), image_shape=(3, 4, 4))
    assert chw.shape == (2, 48)


def test_no_shift_no_flip_is_a_copy(rng):
    x = rng.standard_normal((4, 2, 5, 5))
    out = random_shift_flip(x, np.random.default_rng(0), max_shift=0, flip=False)
    np.testing.assert_array_equal(out, x)
    assert out is not x


def test_errors():
    with pytest.raises(ValueError, match="image_shape"):
        random_shift_flip(np.zeros((2, 784)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="not images of shape"):
        random_shift_flip(np.zeros((2, 780)), np.random.default_rng(0), image_shape=(28, 28))
    with pytest.raises(ValueError, match="max_shift"):
        random_shift_flip(np.zeros((2, 1, 4, 4)), np.random.default_rng(0), max_shift=-1)
