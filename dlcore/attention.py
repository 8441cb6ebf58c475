"""The layers of a small transformer: ``Embedding``, ``PositionalEmbedding``, ``LayerNorm`` and
``SelfAttention``.

* ``Embedding``: integer token ids (any shape) -> rows of a learned table W (n_tokens, d).
* ``PositionalEmbedding``: (N, T, d) -> x + P[:T], a learned vector per position (P: (max_len, d)).
* ``LayerNorm``: per row of a (..., d) input, over its last axis (``torch.nn.LayerNorm(d)``)::

      mu = mean(x),  sigma^2 = mean((x - mu)^2)  (biased),  x_hat = (x - mu) / sqrt(sigma^2 + eps)
      y = gamma * x_hat + beta

* ``SelfAttention``: multi-head scaled dot-product self-attention on (N, T, d) sequences::

      q, k, v = split(x @ W_qkv + b_qkv)                  each (N, heads, T, d_head)
      A = softmax(q @ k^T / sqrt(d_head))  (causal: position t sees only positions <= t)
      y = merge_heads(A @ v) @ W_o + b_o

Weights are (n_in, n_out) like Dense's (PyTorch's ``Linear.weight`` is the transpose).
"""

import math

import numpy as np

from .checks import finite_number, float_dtype, positive_int
from .init import initialise
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


# ----------------------------------------------------------------------------- positional embedding


class PositionalEmbedding(Layer):
    """Learned positions (GPT-2's): x (N, T, d) -> x + P[:T], with a table P (max_len, d).

    Attention alone cannot tell positions apart (permute the tokens and the outputs permute the same
    way), so position t adds its own learned vector P[t]. T may be anything up to ``max_len``. P starts
    as N(0, 0.02^2), as in GPT-2: small next to the token embeddings, so training decides how much
    position matters.
    """

    def __init__(self, max_len: int, d: int, rng=None, seed: int | None = None, dtype=np.float64):
        super().__init__()
        self.max_len = positive_int(max_len, "PositionalEmbedding max_len")
        self.d = positive_int(d, "PositionalEmbedding d")
        dtype = float_dtype(dtype)
        self.params = {"P": (0.02 * _rng(rng, seed).standard_normal((self.max_len, self.d))).astype(dtype)}

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _float_input(x, self.params["P"].dtype)
        if x.ndim != 3 or x.shape[-1] != self.d:
            raise ValueError(f"{self!r} expects input of shape (N, T, {self.d}), got {x.shape}")
        if x.shape[1] > self.max_len:
            raise ValueError(f"{self!r}: the sequences have T={x.shape[1]} positions, more than "
                             f"max_len={self.max_len} (cut them, or build it with a larger max_len)")
        self.cache = (x.shape, x.dtype)
        return x + self._param("P", x.dtype)[:x.shape[1]]

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dy: (N, T, d) -> dx = dy; fills grads["P"] (max_len, d): row t < T is the sum of dy[:, t] over
        the batch, rows t >= T are 0 (those positions were not used). ``input_grad=False`` skips dx."""
        shape, dtype = self._saved()
        dy = self._check_dy(dy, shape, dtype)
        dP = np.zeros(self.params["P"].shape, dtype=dy.dtype)
        dP[:shape[1]] = dy.sum(axis=0)
        self.grads = {"P": dP}
        return dy if input_grad else None

    def __repr__(self) -> str:
        return f"PositionalEmbedding({self.max_len}, {self.d})"


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


# ----------------------------------------------------------------------------- self-attention


class SelfAttention(Layer):
    """Multi-head scaled dot-product self-attention (``torch.nn.functional.scaled_dot_product_attention``
    between two projections).

    x: (N, T, d) -> y: (N, T, d). Params W_qkv (d, 3d), b_qkv (3d,) (the columns are q, then k, then v,
    each split into ``n_heads`` heads of d_head = d / n_heads), W_o (d, d), b_o (d,). ``causal=True``
    lets position t attend to positions <= t only. After each forward, ``self.attention`` holds the
    attention weights A (N, n_heads, T, T) (row t: how much position t takes from each position).
    """

    attention: np.ndarray | None = None

    def __init__(self, d: int, n_heads: int, causal: bool = True, init: str = "xavier", rng=None,
                 seed: int | None = None, dtype=np.float64):
        super().__init__()
        self.d = positive_int(d, "SelfAttention d")
        self.n_heads = positive_int(n_heads, "SelfAttention n_heads")
        if self.d % self.n_heads:
            raise ValueError(f"SelfAttention: d={self.d} must be divisible by n_heads={self.n_heads}")
        self.d_head = self.d // self.n_heads
        self.causal = bool(causal)
        dtype = float_dtype(dtype)
        gen = _rng(rng, seed)
        self.params = {"W_qkv": initialise((self.d, 3 * self.d), init, gen, dtype),
                       "b_qkv": np.zeros(3 * self.d, dtype=dtype),
                       "W_o": initialise((self.d, self.d), init, gen, dtype),
                       "b_o": np.zeros(self.d, dtype=dtype)}

    def _split(self, a: np.ndarray) -> np.ndarray:
        """(N, T, d) -> (N, heads, T, d_head)."""
        N, T, _ = a.shape
        return a.reshape(N, T, self.n_heads, self.d_head).transpose(0, 2, 1, 3)

    def _merge(self, a: np.ndarray) -> np.ndarray:
        """(N, heads, T, d_head) -> (N, T, d)."""
        N, _, T, _ = a.shape
        return a.transpose(0, 2, 1, 3).reshape(N, T, self.d)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _float_input(x, self.params["W_qkv"].dtype)
        if x.ndim != 3 or x.shape[-1] != self.d:
            raise ValueError(f"{self!r} expects input of shape (N, T, {self.d}), got {x.shape}")
        T, d = x.shape[1], self.d
        qkv = x @ self._param("W_qkv", x.dtype) + self._param("b_qkv", x.dtype)  # (N, T, 3d)
        q, k, v = (self._split(qkv[..., i * d:(i + 1) * d]) for i in range(3))
        scale = 1 / math.sqrt(self.d_head)  # a Python float: keeps float32 float32
        S = (q @ k.transpose(0, 1, 3, 2)) * scale  # (N, heads, T, T)
        if self.causal:  # -inf above the diagonal; every row keeps its diagonal, so no row is all -inf
            S = np.where(np.tril(np.ones((T, T), dtype=bool)), S, -np.inf)
        S = S - S.max(axis=-1, keepdims=True, initial=-np.inf)
        A = np.exp(S)
        A /= A.sum(axis=-1, keepdims=True)
        O = self._merge(A @ v)  # (N, T, d)
        self.cache = (x, q, k, v, A, O, scale)
        self.attention = A
        return O @ self._param("W_o", x.dtype) + self._param("b_o", x.dtype)

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dy: (N, T, d) -> dx: (N, T, d); fills the grads of W_qkv, b_qkv, W_o, b_o.

        Backwards through each step of forward: the output projection (dO = dy W_o^T), the weighted sum
        O = A v (dA = dO v^T, dv = A^T dO), the softmax (dS = A * (dA - sum(dA * A)) per row; masked
        entries have A = 0 and get dS = 0), the scaling and S = q k^T (dq = dS k, dk = dS^T q), and the
        input projection. ``input_grad=False`` skips dx.
        """
        x, q, k, v, A, O, scale = self._saved()
        dy = self._check_dy(dy, x.shape, x.dtype)
        d = self.d
        dy2, O2, x2 = dy.reshape(-1, d), O.reshape(-1, d), x.reshape(-1, d)
        dW_o, db_o = O2.T @ dy2, dy2.sum(axis=0)
        dO = self._split(dy @ self._param("W_o", dy.dtype).T)  # (N, heads, T, d_head)
        dA = dO @ v.transpose(0, 1, 3, 2)
        dv = A.transpose(0, 1, 3, 2) @ dO
        dS = A * (dA - np.sum(dA * A, axis=-1, keepdims=True)) * scale
        dq = dS @ k
        dk = dS.transpose(0, 1, 3, 2) @ q
        dqkv = np.concatenate([self._merge(g) for g in (dq, dk, dv)], axis=-1)  # (N, T, 3d)
        dqkv2 = dqkv.reshape(-1, 3 * d)
        self.grads = {"W_qkv": x2.T @ dqkv2, "b_qkv": dqkv2.sum(axis=0), "W_o": dW_o, "b_o": db_o}
        return dqkv @ self._param("W_qkv", dy.dtype).T if input_grad else None

    def __repr__(self) -> str:
        return f"SelfAttention({self.d}, n_heads={self.n_heads}, causal={self.causal})"
