"""Convolution, transposed convolution and max-pooling layers (all re-exported by ``dlcore.layers``).

Images are (N, C, H, W) and weights use PyTorch's layouts, so they copy across unchanged.

* ``Conv2D`` (chapter 4): im2col + one matmul per image; its backward builds the input gradient with
  col2im, the adjoint of im2col.
* ``ConvTranspose2D`` (chapter 8): the adjoint of a Conv2D. Its forward is Conv2D's input-gradient
  computation (col2im) and its backward is Conv2D's forward (im2col): the same two functions, swapped.
* ``MaxPool2D``: the max over k x k windows, channel by channel.
"""

import numpy as np

from . import functional as F
from . import parallel
from .checks import OUTPUT_HINT, finite_data, float_dtype, positive_int
from .init import initialise
from .layers import Layer, _float_input, _rng

# ----------------------------------------------------------------------------- convolution


class Conv2D(Layer):
    """2-D convolution (a cross-correlation, as in every DL library) as im2col + a matmul.

    x: (N, c_in, H, W) -> y: (N, c_out, OH, OW) with OH = (H + 2*padding - k) // stride + 1.
    W: (c_out, c_in, k, k), b: (c_out,) — PyTorch's layout, so weights copy across unchanged.

    Speed: the column matrix is k*k times bigger than the input, and moving it through memory costs
    more than the arithmetic. So we work on a few images at a time (``chunk_bytes`` of columns, small
    enough to stay in a core's cache), run the chunks on all cores (``dlcore.parallel``), and build the
    columns again in backward instead of keeping them all.
    """

    chunk_bytes = 4 * 2**20

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 init: str = "he", rng=None, seed: int | None = None, dtype=np.float64):
        super().__init__()
        if kernel_size < 1 or stride < 1 or padding < 0:
            raise ValueError(f"need kernel_size >= 1, stride >= 1, padding >= 0; "
                             f"got {kernel_size}, {stride}, {padding}")
        c_in, c_out = positive_int(c_in, "Conv2D c_in"), positive_int(c_out, "Conv2D c_out")
        dtype = float_dtype(dtype)
        self.c_in, self.c_out, self.k, self.stride, self.padding = c_in, c_out, kernel_size, stride, padding
        W = initialise((c_out, c_in, kernel_size, kernel_size), init, _rng(rng, seed), dtype)
        self.params = {"W": W, "b": np.zeros(c_out, dtype=dtype)}

    def _chunks(self, N: int, n_cols: int, itemsize: int) -> list[slice]:
        """Slices of the batch with about ``chunk_bytes`` of columns each."""
        return parallel.chunks(N, self.c_in * self.k**2 * n_cols * itemsize, self.chunk_bytes)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _float_input(x, self.params["W"].dtype)
        if x.ndim != 4 or x.shape[1] != self.c_in:
            raise ValueError(f"{self!r} expects input of shape (N, {self.c_in}, H, W), got {x.shape}")
        N, _, H, W_ = x.shape
        k, s, p = self.k, self.stride, self.padding
        if min(H, W_) + 2 * p < k:
            raise ValueError(f"{self!r}: input {H}x{W_} (padded by {p}) is smaller than the {k}x{k} kernel")
        OH, OW = F.conv_output_size(H, k, s, p), F.conv_output_size(W_, k, s, p)
        W = self._param("W", x.dtype).reshape(self.c_out, -1)  # (c_out, c_in*k*k)
        b = self._param("b", x.dtype)[:, None]
        y = np.empty((N, self.c_out, OH * OW), dtype=x.dtype)

        def one_chunk(part: slice) -> None:
            cols = F.im2col(x[part], k, k, s, p)  # (n, c_in*k*k, OH*OW)
            np.matmul(W, cols, out=y[part])       # (n, c_out, OH*OW): one matmul per image
            y[part] += b

        parallel.map_chunks(one_chunk, self._chunks(N, OH * OW, x.itemsize))
        self.cache = x
        return y.reshape(N, self.c_out, OH, OW)

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dy: (N, c_out, OH, OW) -> dx: (N, c_in, H, W). ``input_grad=False`` skips dx."""
        x = self._saved()
        k, s, p = self.k, self.stride, self.padding
        N, OH, OW = len(x), F.conv_output_size(x.shape[2], k, s, p), F.conv_output_size(x.shape[3], k, s, p)
        dy = self._check_dy(dy, (N, self.c_out, OH, OW), x.dtype)
        dY = dy.reshape(N, self.c_out, OH * OW)
        W = self._param("W", x.dtype).reshape(self.c_out, -1)
        dx = np.empty(x.shape, dtype=x.dtype) if input_grad else None

        def one_chunk(part: slice) -> np.ndarray:
            cols = F.im2col(x[part], k, k, s, p)  # built again: cheaper than keeping them all
            if input_grad:
                dx[part] = F.col2im(W.T @ dY[part], dx[part].shape, k, k, s, p)
            return (cols @ dY[part].transpose(0, 2, 1)).sum(axis=0)  # dW.T of these images: (c_in*k*k, c_out)

        dWt = sum(parallel.map_chunks(one_chunk, self._chunks(N, OH * OW, x.itemsize)),
                  np.zeros((self.c_in * k * k, self.c_out), dtype=x.dtype))  # the start: 0 images give 0
        self.grads = {"W": dWt.T.reshape(self.params["W"].shape), "b": dy.sum(axis=(0, 2, 3))}
        return dx

    def __repr__(self) -> str:
        return (f"Conv2D({self.c_in}, {self.c_out}, kernel_size={self.k}, "
                f"stride={self.stride}, padding={self.padding})")


class ConvTranspose2D(Layer):
    """Transposed convolution: the adjoint of a Conv2D, used to up-sample (a U-Net's decoder).

    x: (N, c_in, H, W) -> y: (N, c_out, OH, OW) with OH = (H - 1)*stride - 2*padding + k + output_padding.
    W: (c_in, c_out, k, k), b: (c_out,) — PyTorch's ``ConvTranspose2d`` layout.

    Read W as the weight of a Conv2D from c_out to c_in channels (its layout (c_in, c_out, k, k) is
    exactly that Conv2D's (c_out', c_in', k, k)). That Conv2D's backward turns a gradient of its output's
    shape into one of its input's shape with ``col2im(W^T @ dY)``: every pixel paints a k x k patch,
    scaled by the kernel, and overlapping patches add. This map is our forward, and our backward is
    that Conv2D's forward (im2col, then W @ cols): the same two computations, swapped.
    ``output_padding`` (< stride) adds rows and columns at the bottom and right: a stride-s Conv2D maps
    s different sizes to H, and it picks which of them to produce.
    He init with fan_in = c_out*k*k, as PyTorch counts fans for this layout. No chunks (unlike Conv2D):
    the whole batch at once.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 output_padding: int = 0, init: str = "he", rng=None, seed: int | None = None,
                 dtype=np.float64):
        super().__init__()
        name = "ConvTranspose2D"
        c_in, c_out = positive_int(c_in, f"{name} c_in"), positive_int(c_out, f"{name} c_out")
        k, s = positive_int(kernel_size, f"{name} kernel_size"), positive_int(stride, f"{name} stride")
        if padding < 0 or not 0 <= output_padding < s:
            raise ValueError(f"need padding >= 0 and 0 <= output_padding < stride; got padding={padding}, "
                             f"output_padding={output_padding}, stride={s}")
        dtype = float_dtype(dtype)
        self.c_in, self.c_out, self.k, self.stride, self.padding = c_in, c_out, k, s, padding
        self.output_padding = output_padding
        W = initialise((c_in, c_out, k, k), init, _rng(rng, seed), dtype)
        self.params = {"W": W, "b": np.zeros(c_out, dtype=dtype)}

    def _output_size(self, n: int) -> int:
        return F.conv_transpose_output_size(n, self.k, self.stride, self.padding, self.output_padding)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _float_input(x, self.params["W"].dtype)
        if x.ndim != 4 or x.shape[1] != self.c_in:
            raise ValueError(f"{self!r} expects input of shape (N, {self.c_in}, H, W), got {x.shape}")
        finite_data(x, f"{self!r}: the input", OUTPUT_HINT)
        N, _, H, W_ = x.shape
        OH, OW = self._output_size(H), self._output_size(W_)
        if min(H, W_, OH, OW) < 1:
            raise ValueError(f"{self!r}: a {H}x{W_} input gives no output ({OH}x{OW}): the padding "
                             f"crops more than the kernel adds")
        W = self._param("W", x.dtype).reshape(self.c_in, -1)  # (c_in, c_out*k*k)
        patches = W.T @ x.reshape(N, self.c_in, H * W_)     # (N, c_out*k*k, H*W): a patch per pixel
        y = F.col2im(patches, (N, self.c_out, OH, OW), self.k, self.k, self.stride, self.padding)
        self.cache = x
        return y + self._param("b", x.dtype)[:, None, None]

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dy: (N, c_out, OH, OW) -> dx: (N, c_in, H, W). ``input_grad=False`` skips dx."""
        x = self._saved()
        N, _, H, W_ = x.shape
        dy = self._check_dy(dy, (N, self.c_out, self._output_size(H), self._output_size(W_)), x.dtype)
        cols = F.im2col(dy, self.k, self.k, self.stride, self.padding)  # (N, c_out*k*k, H*W)
        dW = (x.reshape(N, self.c_in, H * W_) @ cols.transpose(0, 2, 1)).sum(axis=0)  # (c_in, c_out*k*k)
        self.grads = {"W": dW.reshape(self.params["W"].shape), "b": dy.sum(axis=(0, 2, 3))}
        if not input_grad:
            return None
        W = self._param("W", x.dtype).reshape(self.c_in, -1)
        return (W @ cols).reshape(x.shape)  # a Conv2D's forward, without the bias

    def __repr__(self) -> str:
        return (f"ConvTranspose2D({self.c_in}, {self.c_out}, kernel_size={self.k}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding})")


# ----------------------------------------------------------------------------- pooling


class MaxPool2D(Layer):
    """Max over (k, k) windows, channel by channel.

    x: (N, C, H, W) -> (N, C, OH, OW) with OH = (H - k) // stride + 1.

    ``stride`` defaults to ``kernel_size`` (non-overlapping windows). As in col2im we loop over the
    k*k positions (i, j) *inside* a window, never over pixels: the strided view
    ``x[:, :, i::stride, j::stride]`` holds entry (i, j) of every window at once. The gradient flows
    only to the (first) largest entry of each window, as in PyTorch.
    """

    chunk_bytes = 2**20  # of input per chunk (see Conv2D)

    def __init__(self, kernel_size: int, stride: int | None = None):
        super().__init__()
        self.k = kernel_size
        self.stride = kernel_size if stride is None else stride
        if self.k < 1 or self.stride < 1:
            raise ValueError(f"need kernel_size >= 1 and stride >= 1; got {kernel_size}, {stride}")

    def _index_dtype(self) -> type:
        """int16 holds the k*k positions of a window up to k = 181; bigger windows need int64."""
        return np.int16 if self.k * self.k <= np.iinfo(np.int16).max else np.int64

    def _entry(self, a: np.ndarray, t: int, OH: int, OW: int) -> np.ndarray:
        """View of entry t = i*k + j of every window of ``a``: shape (N, C, OH, OW)."""
        i, j, s = t // self.k, t % self.k, self.stride
        return a[:, :, i : i + s * OH : s, j : j + s * OW : s]

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _float_input(x, np.float64)
        if x.ndim != 4:
            raise ValueError(f"{self!r} expects input of shape (N, C, H, W), got {x.shape}")
        if min(x.shape[2:]) < self.k:
            raise ValueError(f"{self!r}: input {x.shape[2]}x{x.shape[3]} is smaller than the window")
        OH, OW = (F.conv_output_size(n, self.k, self.stride) for n in x.shape[2:])
        y = np.empty((*x.shape[:2], OH, OW), dtype=x.dtype)
        argmax = np.zeros(y.shape, dtype=self._index_dtype())  # which entry t of each window holds the max

        def one_chunk(part: slice) -> None:  # a few images (chunks run on all cores, see Conv2D)
            xs, ys, arg = x[part], y[part], argmax[part]
            ys[...] = self._entry(xs, 0, OH, OW)
            for t in range(1, self.k * self.k):
                v = self._entry(xs, t, OH, OW)
                bigger = v > ys  # strictly bigger: a tie keeps the earlier entry
                np.maximum(ys, v, out=ys)
                arg += bigger * (t - arg)  # arg = t where bigger (arithmetic beats np.where here)

        parallel.map_chunks(one_chunk, parallel.chunks(len(x), x[:1].nbytes, self.chunk_bytes))
        self.cache = (x.shape, x.dtype, argmax)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x_shape, dtype, argmax = self._saved()
        dy = self._check_dy(dy, argmax.shape, dtype)
        dx = np.zeros(x_shape, dtype=dtype)

        def one_chunk(part: slice) -> None:
            for t in range(self.k * self.k):  # add: with stride < k windows overlap
                dx_t = self._entry(dx[part], t, *argmax.shape[2:])
                dx_t += dy[part] * (argmax[part] == t)

        parallel.map_chunks(one_chunk, parallel.chunks(len(dy), dx[:1].nbytes, self.chunk_bytes))
        return dx

    def __repr__(self) -> str:
        return f"MaxPool2D(kernel_size={self.k}, stride={self.stride})"
