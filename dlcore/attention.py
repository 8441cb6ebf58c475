"""The layers of a small transformer: ``Embedding``, ``LayerNorm`` and ``SelfAttention``.

* ``Embedding``: integer token ids (any shape) -> rows of a learned table W (n_tokens, d).
* ``LayerNorm``: per row of a (..., d) input, over its last axis (``torch.nn.LayerNorm(d)``)::

      mu = mean(x),  sigma^2 = mean((x - mu)^2)  (biased),  x_hat = (x - mu) / sqrt(sigma^2 + eps)
      y = gamma * x_hat + beta

* ``SelfAttention``: multi-head scaled dot-product self-attention on (N, T, d) sequences::

      q, k, v = split(x @ W_qkv + b_qkv)                  each (N, heads, T, d_head)
      A = softmax(q @ k^T / sqrt(d_head))  (causal: position t sees only positions <= t)
      y = merge_heads(A @ v) @ W_o + b_o

Weights are (n_in, n_out) like Dense's (PyTorch's ``Linear.weight`` is the transpose).
"""


import numpy as np

from .checks import finite_number, float_dtype, positive_int
from .layers import Layer, _float_input, _rng

# ----------------------------------------------------------------------------- embedding


class Embedding(Layer):
    """A lookup table: token id i -> row W[i] (``torch.nn.Embedding``; W ~ N(0, 1) as there).

    ids: integers in [0, n_tokens), any shape, e.g. (N,) or (N, T) -> y: (*ids.shape, d).
    W: (n_tokens, d). The output has W's dtype (the input is ids, not floats).
    """

    def __init__(self, n_tokens: int, d: int, rng=None, seed: int | None = None, dtype=np.float64):
        super().__init__()
        self.n_tokens = positive_int(n_tokens, "Embedding n_tokens")
        self.d = positive_int(d, "Embedding d")
        dtype = float_dtype(dtype)
        self.params = {"W": _rng(rng, seed).standard_normal((self.n_tokens, self.d)).astype(dtype)}

    def forward(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"{self!r} expects integer token ids, got dtype {ids.dtype} "
                            "(use ids.astype(int))")
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_tokens):
            raise ValueError(f"token ids must be in [0, {self.n_tokens}) for {self!r}; got values in "
                             f"[{ids.min()}, {ids.max()}]")
        ids = ids.astype(np.intp, copy=False)
        self.cache = ids
        return self.params["W"][ids]

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> None:
        """dy: (*ids.shape, d) -> None; fills grads["W"] (n_tokens, d).

        dW[i] = the sum of dy over every position holding token i: a scatter-add (``np.add.at``), since
        ``dW[ids] += dy`` would count a repeated id only once. There is no dx: the ids are integers, a
        choice of row and not a quantity, so nothing can be nudged to get a gradient (``input_grad`` is
        accepted for Sequential and ignored).
        """
        ids = self._saved()
        W = self.params["W"]
        dy = self._check_dy(dy, ids.shape + (self.d,), W.dtype)
        dW = np.zeros(W.shape, dtype=dy.dtype)
        np.add.at(dW, ids.reshape(-1), dy.reshape(-1, self.d))
        self.grads = {"W": dW}
        return None

    def __repr__(self) -> str:
        return f"Embedding({self.n_tokens}, {self.d})"


# ----------------------------------------------------------------------------- layer norm


class LayerNorm(Layer):
    """Layer norm over the last axis of a (..., d) input (``torch.nn.LayerNorm(d)``), each row on its own.

    Params gamma (ones) and beta (zeros), both (d,). No buffers: the statistics are the row's own, so
    training and eval mode compute the same thing.
    """

    def __init__(self, d: int, eps: float = 1e-5, dtype=np.float64):
        super().__init__()
        self.d = positive_int(d, "LayerNorm d")
        self.eps = finite_number(eps, "LayerNorm eps", low=0, low_open=True)
        dtype = float_dtype(dtype)
        self.params = {"gamma": np.ones(self.d, dtype=dtype), "beta": np.zeros(self.d, dtype=dtype)}

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _float_input(x, self.params["gamma"].dtype)
        if x.ndim < 1 or x.shape[-1] != self.d:
            raise ValueError(f"{self!r} expects input of shape (..., {self.d}), got {x.shape}")
        mu = x.mean(axis=-1, keepdims=True)
        xc = x - mu
        var = np.mean(xc * xc, axis=-1, keepdims=True)  # biased
        inv_sigma = 1 / np.sqrt(var + self.eps)
        x_hat = xc * inv_sigma
        self.cache = (x_hat, inv_sigma)
        return self._param("gamma", x.dtype) * x_hat + self._param("beta", x.dtype)

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dy -> dx, both (..., d); fills grads of gamma and beta (sums over all rows).

        With g = gamma * dy, the chain rule through each row's mu and sigma collapses (as in BatchNorm,
        but per row, over its d values) to

            dx = 1 / (d * sigma) * (d * g - sum(g) - x_hat * sum(g * x_hat)).

        ``input_grad=False`` skips dx.
        """
        x_hat, inv_sigma = self._saved()
        dy = self._check_dy(dy, x_hat.shape, x_hat.dtype)
        rows = tuple(range(dy.ndim - 1))
        self.grads = {"gamma": np.sum(dy * x_hat, axis=rows), "beta": dy.sum(axis=rows)}
        if not input_grad:
            return None
        g = dy * self._param("gamma", dy.dtype)
        g_sum = g.sum(axis=-1, keepdims=True)
        gx_sum = np.sum(g * x_hat, axis=-1, keepdims=True)
        return inv_sigma / self.d * (self.d * g - g_sum - x_hat * gx_sum)

    def __repr__(self) -> str:
        return f"LayerNorm({self.d}, eps={self.eps})"
