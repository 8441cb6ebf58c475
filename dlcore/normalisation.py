"""Batch normalisation: ``BatchNorm1D`` for (N, n) inputs, ``BatchNorm2D`` for (N, C, H, W) images.

Per channel c, over its m values in the batch (m = N for 1D, N*H*W for 2D)::

    mu = mean(x),  sigma^2 = mean((x - mu)^2)  (biased),  x_hat = (x - mu) / sqrt(sigma^2 + eps)
    y = gamma * x_hat + beta

In training mode the batch statistics are used and the buffers are updated as in PyTorch:
``running_mean = (1 - momentum) * running_mean + momentum * mu`` and the same for ``running_var``
with the *unbiased* variance m / (m - 1) * sigma^2. In eval mode the running statistics replace
mu and sigma^2, so y is a fixed affine map of x.
"""

import numpy as np

from .layers import Layer, _float_input


class _BatchNorm(Layer):
    """What BatchNorm1D and BatchNorm2D share; they differ only in the input's shape (``axes``)."""

    axes: tuple[int, ...] = (0,)  # the axes the statistics are taken over (all but the channel axis)
    layout = "(N, {n})"

    def __init__(self, n: int, momentum: float = 0.1, eps: float = 1e-5, dtype=np.float64):
        super().__init__()
        if n < 1:
            raise ValueError(f"{type(self).__name__} needs at least one channel, got {n}")
        if not 0 <= momentum <= 1 or eps <= 0:
            raise ValueError(f"need 0 <= momentum <= 1 and eps > 0; got momentum={momentum}, eps={eps}")
        self.n, self.momentum, self.eps = n, momentum, eps
        self.params = {"gamma": np.ones(n, dtype=dtype), "beta": np.zeros(n, dtype=dtype)}
        self.buffers = {"running_mean": np.zeros(n, dtype=dtype), "running_var": np.ones(n, dtype=dtype)}

    def _per_channel(self, v: np.ndarray) -> np.ndarray:
        """A (n,) vector shaped to broadcast against the input: (1, n) or (1, C, 1, 1)."""
        shape = [1] * (len(self.axes) + 1)
        shape[1] = self.n
        return v.reshape(shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _float_input(x, self.params["gamma"].dtype)
        if x.ndim != len(self.axes) + 1 or x.shape[1] != self.n:
            raise ValueError(f"{self!r} expects input of shape {self.layout.format(n=self.n)}, got {x.shape}")
        m = x.size // self.n  # values per channel
        if self.training:
            if m <= 1:
                raise ValueError(f"{self!r}: Expected more than 1 value per channel when training, "
                                 f"got input of shape {x.shape}")
            mu = x.mean(axis=self.axes)
            xc = x - self._per_channel(mu)
            var = np.mean(xc * xc, axis=self.axes)  # biased, as used to normalise
            inv_sigma = 1 / np.sqrt(var + self.eps)
            x_hat = xc * self._per_channel(inv_sigma)
            rm, rv, a = self.buffers["running_mean"], self.buffers["running_var"], self.momentum
            rm *= 1 - a
            rm += a * mu
            rv *= 1 - a
            rv += a * var * (m / (m - 1))  # the unbiased variance
        else:
            mean, var = (self.buffers[k].astype(x.dtype, copy=False) for k in ("running_mean", "running_var"))
            inv_sigma = 1 / np.sqrt(var + self.eps)
            x_hat = (x - self._per_channel(mean)) * self._per_channel(inv_sigma)
        self.cache = (x_hat, inv_sigma, self.training)
        return self._per_channel(self._param("gamma", x.dtype)) * x_hat + self._per_channel(
            self._param("beta", x.dtype))

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dy -> dx, same shape as the input; fills grads of gamma and beta.

        dbeta = sum(dy), dgamma = sum(dy * x_hat) (sums over the m values of each channel). In training
        mu and sigma depend on x too, and the chain rule through them collapses to the compact form

            dx = gamma / (m * sigma) * (m * dy - sum(dy) - x_hat * sum(dy * x_hat)),

        sigma = sqrt(sigma^2 + eps). In eval mode the statistics are constants: dx = gamma / sigma * dy.
        ``input_grad=False`` skips dx.
        """
        x_hat, inv_sigma, training = self._saved()
        dy = self._check_dy(dy, x_hat.shape, x_hat.dtype)
        dbeta = dy.sum(axis=self.axes)
        dgamma = np.sum(dy * x_hat, axis=self.axes)
        self.grads = {"gamma": dgamma, "beta": dbeta}
        if not input_grad:
            return None
        scale = self._per_channel(self._param("gamma", dy.dtype) * inv_sigma)
        if not training:
            return scale * dy
        m = dy.size // self.n
        return scale / m * (m * dy - self._per_channel(dbeta) - x_hat * self._per_channel(dgamma))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.n}, momentum={self.momentum}, eps={self.eps})"


class BatchNorm1D(_BatchNorm):
    """Batch norm of (N, n) inputs, statistics per feature over the batch (``torch.nn.BatchNorm1d``).

    Params gamma (ones) and beta (zeros), buffers running_mean (zeros) and running_var (ones), all (n,).
    """

    axes = (0,)
    layout = "(N, {n})"


class BatchNorm2D(_BatchNorm):
    """Batch norm of (N, C, H, W) images, statistics per channel over N, H and W
    (``torch.nn.BatchNorm2d``). Params and buffers as BatchNorm1D, all (C,)."""

    axes = (0, 2, 3)
    layout = "(N, {n}, H, W)"

    def __init__(self, c: int, momentum: float = 0.1, eps: float = 1e-5, dtype=np.float64):
        super().__init__(c, momentum, eps, dtype)
