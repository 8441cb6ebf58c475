"""Stateless maths used by the layers: activations, their derivatives, softmax, im2col.

Every function works elementwise on any shape and keeps its input's float dtype.
The ``*_grad`` functions give the derivative with respect to the activation's *input* ``z``.
"""

import numpy as np

# ----------------------------------------------------------------------------- activations


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), without overflow: for z < 0 it uses the equal form e^z / (1 + e^z)."""
    z = np.asarray(z)
    e = np.exp(-np.abs(z))  # always in (0, 1]: never overflows
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_grad(z: np.ndarray) -> np.ndarray:
    """d sigmoid(z) / dz = s (1 - s)."""
    s = sigmoid(z)
    return s * (1 - s)


def relu(z: np.ndarray) -> np.ndarray:
    """max(z, 0)."""
    return np.maximum(z, 0)


def relu_grad(z: np.ndarray) -> np.ndarray:
    """1 where z > 0, else 0 (we pick 0 at the kink z = 0, like PyTorch)."""
    z = np.asarray(z)
    return (z > 0).astype(z.dtype if z.dtype.kind == "f" else np.float64)


def tanh_grad(z: np.ndarray) -> np.ndarray:
    """d tanh(z) / dz = 1 - tanh(z)^2."""
    return 1 - np.tanh(z) ** 2


def leaky_relu(z: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """z for z > 0, negative_slope * z otherwise."""
    z = np.asarray(z)
    return np.where(z > 0, z, negative_slope * z)


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """e^z / sum(e^z) along ``axis``; subtracting the max first keeps e^z from overflowing."""
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(softmax(z)) = z - logsumexp(z), computed without forming softmax (no log(0))."""
    z = np.asarray(z)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


# ----------------------------------------------------------------------------- convolution helpers


def conv_output_size(n: int, k: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution/pooling window sliding over length n: (n + 2p - k) // s + 1."""
    return (n + 2 * padding - k) // stride + 1


def conv_transpose_output_size(n: int, k: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0) -> int:
    """Output length of a transposed convolution: (n - 1) s - 2p + k + output_padding.

    (n - 1) s - 2p + k is the shortest input that a convolution (k, s, p) maps to length n; the s lengths
    from there up all map to n, and ``output_padding`` (0 <= output_padding < s) picks one of them.
    """
    return (n - 1) * stride - 2 * padding + k + output_padding


def pad(x: np.ndarray, padding: int) -> np.ndarray:
    """x (N, C, H, W) on a zero canvas (N, C, H + 2p, W + 2p); x itself when padding is 0."""
    if not padding:
        return x
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=x.dtype)
    xp[:, :, padding : padding + H, padding : padding + W] = x
    return xp


def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Unfold every (kh, kw) window of every image into a column.

    x: (N, C, H, W)  ->  cols: (N, C*kh*kw, OH*OW)   (the layout of ``torch.nn.functional.unfold``)

    ``cols[n]`` is one matrix per image: row ``(c, i, j)`` holds pixel ``(i, j)`` of channel ``c`` of
    every window, column ``(oh, ow)`` is one window. A convolution is then one matmul per image,
    ``W.reshape(C_out, -1) @ cols`` (numpy's matmul broadcasts over the batch), and the result
    ``(N, C_out, OH*OW)`` is already in image layout. ``sliding_window_view`` builds the windows as a
    view (no copy); the final reshape makes the one copy.
    """
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, kh, stride, padding), conv_output_size(W, kw, stride, padding)
    win = np.lib.stride_tricks.sliding_window_view(pad(x, padding), (kh, kw), axis=(2, 3))
    win = win[:, :, ::stride, ::stride]  # (N, C, OH, OW, kh, kw)
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * kh * kw, OH * OW)


def col2im(cols: np.ndarray, x_shape: tuple, kh: int, kw: int, stride: int = 1,
           padding: int = 0) -> np.ndarray:
    """The adjoint of ``im2col``: add every column back onto the pixels its window came from.

    cols: (N, C*kh*kw, OH*OW)  ->  (N, C, H, W)   (``torch.nn.functional.fold``)

    Overlapping windows make pixels receive several contributions, so we *add*. One slice-add per
    kernel offset (i, j) moves all N*C*OH*OW values at once: kh*kw numpy calls, no loop over positions.
    """
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, kh, stride, padding), conv_output_size(W, kw, stride, padding)
    d = cols.reshape(N, C, kh, kw, OH, OW)
    dx = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i : i + stride * OH : stride, j : j + stride * OW : stride] += d[:, :, i, j]
    return dx[:, :, padding : padding + H, padding : padding + W]
