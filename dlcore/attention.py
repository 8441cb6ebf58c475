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

from .checks import float_dtype, positive_int
from .layers import Layer, _rng

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
