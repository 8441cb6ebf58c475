"""Text for language models: tokenizers and the data sets built from token ids (numpy only).

* ``CharTokenizer``: one token per character; the vocabulary is the text's sorted distinct characters.
* ``train_bpe`` -> ``BPETokenizer``: byte-pair encoding (Sennrich et al., 2016) on characters, learned
  from scratch: start from single characters and repeatedly merge the most frequent adjacent pair, never
  across the word boundaries that ``chunks`` (the pre-tokeniser, ``CHUNK_PATTERN``) draws.
* ``bigram_counts``: the (V, V) table of (current, next) token counts, a bigram model's statistics.
* ``context_windows``: every position with its n previous tokens, for a fixed-context (Bengio-style) MLP.
* ``random_windows``: random windows of length T and their targets (shifted by one), for a transformer.
* ``sample_next``: draw the next token from logits at a temperature (0: the most probable one).

Token ids are int64 arrays (``BPETokenizer.encode`` returns a list, like most BPE libraries).
"""

import heapq
import itertools
import math
import numbers
import re
from collections import Counter

import numpy as np

from .checks import finite_data, finite_number, positive_int


def _unk_char(unk: str | None, who: str) -> str | None:
    if unk is not None and (not isinstance(unk, str) or len(unk) != 1):
        raise ValueError(f"{who}: unk must be a single character (e.g. '\\ufffd') or None, got {unk!r}")
    return unk


def _unknown_error(who: str, unknown: list[str], fix: str) -> ValueError:
    """The error for characters outside the vocabulary: the first few, and the way out."""
    distinct = list(dict.fromkeys(unknown))
    shown = ", ".join(repr(c) for c in distinct[:5]) + (", ..." if len(distinct) > 5 else "")
    return ValueError(f"{who}: {len(unknown)} character(s) not in the vocabulary ({len(distinct)} distinct: "
                      f"{shown}); {fix}(..., unk='\\ufffd') (say) maps them all to one token")


def _ids(ids, who: str, vocab_size: int | None = None) -> np.ndarray:
    """``ids`` as a 1-D int64 array (with every value in [0, vocab_size) when that is given)."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu" and ids.size:
        raise TypeError(f"{who} expects integer token ids, got dtype {ids.dtype}")
    if ids.ndim != 1:
        raise ValueError(f"{who} expects a 1-D sequence of token ids, got shape {ids.shape}")
    ids = ids.astype(np.int64, copy=False)
    if vocab_size is not None and ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"{who}: token ids must be in [0, {vocab_size}); got values in "
                         f"[{ids.min()}, {ids.max()}]")
    return ids


# ----------------------------------------------------------------------------- characters


class CharTokenizer:
    """One token per character: the vocabulary is the sorted distinct characters of ``text``.

    ``unk``: a character appended to the vocabulary (unless ``text`` has it) that stands for every
    character not in it; without it, encoding an unknown character is a ValueError naming it.
    Attributes: ``chars`` (id -> character), ``vocab_size``.
    """

    def __init__(self, text: str, unk: str | None = None):
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer expects a str, got {type(text).__name__}")
        self.unk = _unk_char(unk, "CharTokenizer")
        self.chars = sorted(set(text))
        if unk is not None and unk not in self.chars:
            self.chars.append(unk)
        if not self.chars:
            raise ValueError("CharTokenizer needs a non-empty text (or an unk character) for its vocabulary")
        self.vocab_size = len(self.chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    def encode(self, s: str) -> np.ndarray:
        """s -> int64 ids (len(s),)."""
        if not isinstance(s, str):
            raise TypeError(f"CharTokenizer.encode expects a str, got {type(s).__name__}")
        index, u = self.index, self.index.get(self.unk)
        if u is None and not set(s) <= index.keys():
            raise _unknown_error("CharTokenizer.encode", [c for c in s if c not in index], "CharTokenizer")
        return np.array([index.get(c, u) for c in s], dtype=np.int64)

    def decode(self, ids) -> str:
        """ids (1-D ints in [0, vocab_size)) -> the string."""
        return "".join([self.chars[i] for i in _ids(ids, "CharTokenizer.decode", self.vocab_size).tolist()])

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


# ----------------------------------------------------------------------------- byte-pair encoding

# The pre-tokeniser (GPT-2's idea, on characters): merges never cross a chunk boundary. A chunk is
#   " ?[^\W_]+"         an optional space and a run of letters/digits ("the", " cat", " 42"),
#   " ?(?:[^\w\s]|_)+"  an optional space and a run of anything else but whitespace (" --", "!", "'"),
#   "\s+(?!\S)"         a run of whitespace not followed by a non-space (so the last space of a run
#                       is left to join the next word: "a  b" -> "a", " ", " b"),
#   "\s+"               any other whitespace run (only a space joins a word: "a\nb" -> "a", "\n", "b").
# The chunks of a text concatenate back to it: every character falls into exactly one chunk.
CHUNK_PATTERN = re.compile(r" ?[^\W_]+| ?(?:[^\w\s]|_)+|\s+(?!\S)|\s+")


def chunks(text: str) -> list[str]:
    """``text`` cut into the chunks merges stay inside (see ``CHUNK_PATTERN``)."""
    return CHUNK_PATTERN.findall(text)


def _pairs(symbols: list[str]):
    return zip(symbols, symbols[1:], strict=False)


def _merge(symbols: list[str], left: str, right: str) -> list[str]:
    """Replace every occurrence of (left, right), scanning left to right (``aaa`` + (a, a) -> ``aa a``)."""
    out, i, n = [], 0, len(symbols)
    while i < n:
        if i + 1 < n and symbols[i] == left and symbols[i + 1] == right:
            out.append(left + right)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def _merge_steps(freq: dict[str, int]):
    """The merges of BPE training on the chunk counts ``freq``, one at a time, until no pair occurs twice.

    Yields (pair, count, words, pair_counts) after each merge: ``words`` holds each distinct chunk as its
    current list of symbols (in ``freq``'s order), ``pair_counts`` every adjacent pair's count (over the
    text: a chunk that occurs f times counts f times), kept *incrementally*: a merge re-counts only the
    chunks that hold the merged pair (``where`` says which). The most frequent pair is found with a heap of
    (-count, pair): ties go to the lexicographically smallest pair (left string, then right, by code
    point). Entries go stale when a count changes (a fresh one is pushed); a popped entry whose count
    is not the pair's current count is dropped.
    """
    words = [list(chunk) for chunk in freq]
    weights = list(freq.values())
    pair_counts: dict[tuple[str, str], int] = Counter()
    where: dict[tuple[str, str], set[int]] = {}  # pair -> chunks that held it (some maybe no longer)
    for i, (w, f) in enumerate(zip(words, weights, strict=True)):
        for p in _pairs(w):
            pair_counts[p] += f
            where.setdefault(p, set()).add(i)
    pair_counts = dict(pair_counts)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)
    while heap:
        neg, pair = heapq.heappop(heap)
        if pair_counts.get(pair) != -neg:
            continue  # stale
        if -neg < 2:
            return
        changed = set()
        for i in where.pop(pair):
            old, f = words[i], weights[i]
            new = _merge(old, *pair)
            if len(new) == len(old):
                continue  # this chunk lost the pair in an earlier merge
            for p in _pairs(old):
                pair_counts[p] -= f
                changed.add(p)
            for p in _pairs(new):
                pair_counts[p] = pair_counts.get(p, 0) + f
                where.setdefault(p, set()).add(i)
                changed.add(p)
            words[i] = new
        for p in changed:
            if pair_counts[p] == 0:
                del pair_counts[p]
            else:
                heapq.heappush(heap, (-pair_counts[p], p))
        yield pair, -neg, words, pair_counts


def train_bpe(text: str, n_merges: int, unk: str | None = None) -> "BPETokenizer":
    """Learn ``n_merges`` byte-pair merges from ``text`` (fewer if no pair occurs twice any more).

    The text is cut into chunks (``CHUNK_PATTERN``; merges never cross a word boundary), the distinct
    chunks are counted, and each starts as a list of characters. Then, ``n_merges`` times: the most frequent
    adjacent pair (ties: the lexicographically smallest) becomes one new symbol everywhere. ``unk``: see
    ``BPETokenizer``.
    """
    if not isinstance(text, str):
        raise TypeError(f"train_bpe expects a str, got {type(text).__name__}")
    if isinstance(n_merges, bool) or not isinstance(n_merges, numbers.Integral):
        raise TypeError(f"train_bpe: n_merges must be an integer >= 0, got {n_merges!r}")
    if n_merges < 0:
        raise ValueError(f"train_bpe: n_merges must be an integer >= 0, got {n_merges}")
    merges, counts = [], []
    for pair, count, _, _ in itertools.islice(_merge_steps(Counter(chunks(text))), n_merges):
        merges.append(pair)
        counts.append(count)
    return BPETokenizer(sorted(set(text)), merges, counts, unk)


class BPETokenizer:
    """A byte-pair-encoding tokenizer, made by ``train_bpe``.

    ``merges``: the learned (left, right) pairs in order; ``merge_counts``: how often each pair occurred
    in the training text when it was merged; ``vocab``: token strings, the sorted base characters (then
    ``unk`` if given and new), then the result of each merge (a merge that rebuilds a token an earlier
    merge made, as (a, bc) after (ab, c), adds no new one); ``vocab_size``.

    ``encode`` cuts the text into chunks (``CHUNK_PATTERN``) and, within each, starts from characters and
    applies the merges by rank (the earliest learned first), which gives exactly training's split; results
    are cached per distinct chunk. A character unseen in training maps to the ``unk`` token (a character,
    never merged) if the tokenizer has one, else is a ValueError naming it: either way
    ``decode(encode(s)) == s`` for every ``s`` made of the training text's characters.
    """

    def __init__(self, chars: list[str], merges: list[tuple[str, str]], merge_counts: list[int],
                 unk: str | None = None):
        self.unk = _unk_char(unk, "BPETokenizer")
        self.chars = sorted(set(chars))
        self.merges = [tuple(pair) for pair in merges]
        self.merge_counts = list(merge_counts)
        self.vocab = self.chars + ([unk] if unk is not None and unk not in self.chars else [])
        if not self.vocab:
            raise ValueError("BPETokenizer needs a non-empty training text (or an unk character)")
        self.index = {token: i for i, token in enumerate(self.vocab)}
        for left, right in self.merges:
            if left + right not in self.index:
                self.index[left + right] = len(self.vocab)
                self.vocab.append(left + right)
        self.vocab_size = len(self.vocab)
        self._known = set(self.chars) | ({unk} if unk is not None else set())
        self._ranks = {pair: r for r, pair in enumerate(self.merges)}
        self._cache: dict[str, list[int]] = {}

    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = self._cache.get(chunk)
        if ids is None:
            symbols, ranks = list(chunk), self._ranks
            while len(symbols) > 1:  # merge the pair learned first, until no learned pair is left
                pair = min(_pairs(symbols), key=lambda p: ranks.get(p, math.inf))
                if pair not in ranks:
                    break
                symbols = _merge(symbols, *pair)
            ids = self._cache[chunk] = [self.index[s] for s in symbols]
        return ids

    def encode(self, text: str) -> list[int]:
        """text -> token ids (a list of ints)."""
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode expects a str, got {type(text).__name__}")
        if not set(text) <= self._known:
            if self.unk is None:
                raise _unknown_error("BPETokenizer.encode", [c for c in text if c not in self._known],
                                     "train_bpe")
            text = "".join([c if c in self._known else self.unk for c in text])
        return [i for chunk in chunks(text) for i in self._encode_chunk(chunk)]

    def decode(self, ids) -> str:
        """ids (1-D ints in [0, vocab_size)) -> the string."""
        return "".join([self.vocab[i] for i in _ids(ids, "BPETokenizer.decode", self.vocab_size).tolist()])

    def compression(self, text: str) -> float:
        """Characters per token on ``text`` (1 for characters; higher means shorter sequences)."""
        if not text:
            raise ValueError("BPETokenizer.compression needs a non-empty text")
        return len(text) / len(self.encode(text))

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)})"


# ----------------------------------------------------------------------------- data sets from token ids


def bigram_counts(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """ids (L,) -> counts (V, V) int64: counts[a, b] = how often token b follows token a (L - 1 pairs)."""
    V = positive_int(vocab_size, "bigram_counts vocab_size")
    ids = _ids(ids, "bigram_counts", V)
    pair = ids[:-1] * V + ids[1:]  # the pair (a, b) as one number, a row-major index into (V, V)
    return np.bincount(pair, minlength=V * V).astype(np.int64).reshape(V, V)


def context_windows(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every position with its n previous tokens: X (M, n), y (M,), both int64, M = len(ids) - n.

    X[i] = ids[i:i + n] and y[i] = ids[i + n]: the data set of a fixed-context language model (Bengio et
    al., 2003). Fewer than n + 1 ids: no window, an empty X (0, n).
    """
    n = positive_int(n, "context_windows n")
    ids = _ids(ids, "context_windows")
    M = max(len(ids) - n, 0)
    X = np.lib.stride_tricks.sliding_window_view(ids, n)[:M] if M else np.zeros((0, n), dtype=np.int64)
    return X.copy(), ids[n:].copy()


def random_windows(ids: np.ndarray, T: int, batch: int,
                   rng: np.random.Generator | int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``batch`` random windows of T tokens, and their next tokens: X, Y (batch, T) int64, Y = X shifted by 1.

    X[b] = ids[s:s + T], Y[b] = ids[s + 1:s + T + 1] for a start s drawn uniformly from [0, len(ids) - T)
    (with replacement): position t of Y is the target after reading X[b, :t + 1]. ``rng``: a Generator or
    a seed.
    """
    T = positive_int(T, "random_windows T")
    batch = positive_int(batch, "random_windows batch")
    ids = _ids(ids, "random_windows")
    if len(ids) < T + 1:
        raise ValueError(f"random_windows: a window of T={T} tokens and its targets need at least {T + 1} "
                         f"ids, got {len(ids)}")
    starts = np.random.default_rng(rng).integers(0, len(ids) - T, size=batch)
    positions = starts[:, None] + np.arange(T)
    return ids[positions], ids[positions + 1]


def sample_next(logits: np.ndarray, temperature: float = 1.0,
                rng: np.random.Generator | int | None = None) -> int:
    """Draw a token id from softmax(logits / temperature); temperature 0 gives the argmax.

    logits: (V,), finite or -inf (a token that must not be drawn). Low temperatures sharpen the distribution
    towards the argmax, high ones flatten it towards uniform. ``rng``: a Generator or a seed.
    """
    temperature = finite_number(temperature, "sample_next temperature", low=0)
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 1 or not logits.size:
        raise ValueError(f"sample_next expects logits of shape (V,) with V >= 1, got {logits.shape}")
    finite_data(np.where(logits == -np.inf, 0, logits), "sample_next: the logits",
                "only -inf (never draw this token) is allowed")
    if (logits == -np.inf).all():
        raise ValueError("sample_next: every logit is -inf, so no token can be drawn")
    if temperature == 0:
        return int(np.argmax(logits))
    z = (logits - logits.max()) / temperature  # subtract first: no overflow even for a tiny temperature
    p = np.exp(z)
    return int(np.random.default_rng(rng).choice(len(p), p=p / p.sum()))
