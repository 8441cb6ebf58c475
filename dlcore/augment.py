"""Data augmentation in numpy: random shifts and left-right flips of a batch of images, vectorised.

Use it in training only: ``fit(..., augment=random_shift_flip)`` applies it to every training batch
(``lambda x, rng: random_shift_flip(x, rng, image_shape=(28, 28))`` for flat Fashion-MNIST rows).
"""

import numpy as np


def random_shift_flip(x: np.ndarray, rng: np.random.Generator, max_shift: int = 2, flip: bool = True,
                      fill: float | None = None, image_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Each image shifted by a random (dy, dx) and, with ``flip``, mirrored left-right with probability 1/2.

    x: (N, C, H, W) images, or flat rows (N, H*W) / (N, C*H*W) with ``image_shape`` (H, W) / (C, H, W).
    Returns a new array of x's shape and dtype. dy, dx are integers in [-max_shift, max_shift] (positive:
    down / right); the pixels shifted in are ``fill``, by default each image's minimum (the background).
    The flip comes after the shift: pixel (i, j) moves to (i + dy, W - 1 - (j + dx)) when flipped.

    Draws from ``rng``, in this order: ``rng.integers(-max_shift, max_shift + 1, size=(N, 2))`` (columns
    dy, dx), then, with ``flip``, ``rng.random(N) < 0.5`` (which images are mirrored).
    No loop over images: pad once, then gather every pixel with one fancy index.
    """
    x = np.asarray(x)
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    if x.ndim == 4:
        images = x
    elif image_shape is None:
        raise ValueError(f"random_shift_flip: x of shape {x.shape} needs image_shape, e.g. (28, 28); "
                         f"or pass images of shape (N, C, H, W)")
    else:
        shape = tuple(image_shape) if len(image_shape) == 3 else (1, *image_shape)
        if len(shape) != 3 or int(np.prod(shape)) != int(np.prod(x.shape[1:])):
            raise ValueError(f"random_shift_flip: samples of shape {x.shape[1:]} are not images of shape "
                             f"{tuple(image_shape)}")
        images = x.reshape(len(x), *shape)
    N, C, H, W = images.shape
    s = int(max_shift)

    d = rng.integers(-s, s + 1, size=(N, 2))
    mirrored = rng.random(N) < 0.5 if flip else np.zeros(N, dtype=bool)

    background = images.reshape(N, -1).min(axis=1) if fill is None else np.full(N, fill)
    padded = np.empty((N, C, H + 2 * s, W + 2 * s), dtype=x.dtype)
    padded[...] = background.astype(x.dtype)[:, None, None, None]
    padded[:, :, s : s + H, s : s + W] = images

    j = np.where(mirrored[:, None], np.arange(W)[::-1], np.arange(W))  # (N, W): column before the flip
    rows = np.arange(H)[None, :] - d[:, :1] + s                         # (N, H): source rows in padded
    cols = j - d[:, 1:] + s                                              # (N, W)
    out = padded[np.arange(N)[:, None, None, None], np.arange(C)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]
    return out.reshape(x.shape)
