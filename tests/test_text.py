"""dlcore.text: character and BPE tokenizers (round trips, a BPE example worked by hand, incremental pair
counts vs a brute-force recount), bigram counts, context and random windows, sampling, clear errors; and
BPE on the installed fortunes corpus."""

import itertools
from collections import Counter

import numpy as np
import pytest

from dlcore import data
from dlcore.text import (
    BPETokenizer,
    CharTokenizer,
    _merge,
    _merge_steps,
    bigram_counts,
    chunks,
    context_windows,
    random_windows,
    sample_next,
    train_bpe,
)

ENGLISH = (
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs on and on, over the hills "
    "and far away. Then the other foxes, the brown ones and the red ones, run over the hills together.\n"
    "  There, at the end of the day, the foxes rest and the dogs sleep: the end!\n"
)


# ----------------------------------------------------------------------------- characters


def test_char_tokenizer_round_trip():
    tok = CharTokenizer("hello, world\n")
    assert tok.chars == sorted("helo, wrd\n") and tok.vocab_size == 10
    ids = tok.encode("hello\nworld")
    assert ids.dtype == np.int64 and ids.shape == (11,)
    assert ids[0] == tok.chars.index("h")
    assert tok.decode(ids) == "hello\nworld"
    assert tok.decode(list(ids)) == "hello\nworld"
    assert tok.encode("").shape == (0,) and tok.decode([]) == ""
    assert repr(tok) == "CharTokenizer(vocab_size=10)"


def test_char_tokenizer_unk():
    tok = CharTokenizer("abc", unk="?")
    assert tok.chars == ["a", "b", "c", "?"] and tok.vocab_size == 4
    np.testing.assert_array_equal(tok.encode("axbé"), [0, 3, 1, 3])
    assert tok.decode(tok.encode("axbé")) == "a?b?"
    present = CharTokenizer("a?b", unk="?")  # already in the text: not appended twice
    assert present.chars == ["?", "a", "b"]


def test_char_tokenizer_errors():
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match=r"3 character\(s\) not in the vocabulary \(2 distinct: 'x', '\\n'\).*unk="):
        tok.encode("axb\nx")
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 3\); got values in \[0, 3\]"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 3\)"):
        tok.decode(np.array([-1]))
    with pytest.raises(TypeError, match="integer token ids"):
        tok.decode(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="1-D"):
        tok.decode(np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="non-empty text"):
        CharTokenizer("")
    assert CharTokenizer("", unk="?").chars == ["?"]
    with pytest.raises(ValueError, match="single character"):
        CharTokenizer("abc", unk="<unk>")
    with pytest.raises(TypeError, match="expects a str"):
        CharTokenizer(["a", "b"])
    with pytest.raises(TypeError, match="expects a str"):
        tok.encode(["a"])


# ----------------------------------------------------------------------------- pre-tokenisation


def test_chunks():
    assert chunks("Hello,  world!\nIt's 42_x  ") == ["Hello", ",", " ", " world", "!", "\n", "It", "'", "s",
                                                     " 42", "_", "x", "  "]
    assert chunks("a -- b\tc") == ["a", " --", " b", "\t", "c"]
    assert chunks("") == []


def test_chunks_cover_any_text(rng):
    alphabet = list("ab Z9_.,'\n\t -é€") + ["\u00a0", "\u3000"]
    for _ in range(20):
        text = "".join(rng.choice(alphabet, size=int(rng.integers(0, 60))))
        assert "".join(chunks(text)) == text


# ----------------------------------------------------------------------------- BPE by hand

# The example of the Hugging Face course: hug x10, pug x5, pun x12, bun x4, hugs x5, one word per line
# ("\n" is a chunk of its own, so only the words' letters pair up), plus "zx" once.
WORDS = ["hug"] * 10 + ["pug"] * 5 + ["pun"] * 12 + ["bun"] * 4 + ["hugs"] * 5 + ["zx"]
HAND_TEXT = "\n".join(WORDS)


def test_bpe_by_hand():
    tok = train_bpe(HAND_TEXT, 100)
    # pairs at the start: ug 20, pu 17, un 16, hu 15, gs 5, bu 4, zx 1. After ug: hug 15, un 16, pu 12, ...
    assert tok.merges == [("u", "g"), ("u", "n"), ("h", "ug"), ("p", "un"),
                          ("hug", "s"), ("p", "ug"),  # a tie at 5: ("hug", "s") < ("p", "ug")
                          ("b", "un")]
    assert tok.merge_counts == [20, 16, 15, 12, 5, 5, 4]  # then only (z, x), once: stop, 7 merges < 100
    assert tok.chars == ["\n", "b", "g", "h", "n", "p", "s", "u", "x", "z"]
    assert tok.vocab == tok.chars + ["ug", "un", "hug", "pun", "hugs", "pug", "bun"]
    assert tok.vocab_size == 17
    ids = tok.encode(HAND_TEXT)
    assert len(ids) == 36 + 2 + 36  # a token for each of the 36 words, two for "zx", and 36 newlines
    assert tok.decode(ids) == HAND_TEXT
    assert tok.compression(HAND_TEXT) == len(HAND_TEXT) / 74
    assert [tok.vocab[i] for i in tok.encode("hugs\nbug\nunhug")] == ["hugs", "\n", "b", "ug", "\n", "un", "hug"]
    assert repr(tok) == "BPETokenizer(vocab_size=17, merges=7)"


def test_bpe_fewer_merges_and_none():
    tok = train_bpe(HAND_TEXT, 3)
    assert tok.merges == [("u", "g"), ("u", "n"), ("h", "ug")] and tok.vocab_size == 13
    assert [tok.vocab[i] for i in tok.encode("hugs\npun")] == ["hug", "s", "\n", "p", "un"]
    chars = train_bpe(HAND_TEXT, 0)
    assert chars.merges == [] and chars.vocab == chars.chars
    assert chars.decode(chars.encode(HAND_TEXT)) == HAND_TEXT
    assert train_bpe("abcdef", 10).merges == []  # no pair occurs twice


def test_bpe_merges_stay_inside_chunks():
    tok = train_bpe(ENGLISH * 3, 200)
    for token in tok.vocab[len(tok.chars):]:
        assert chunks(token) == [token], token  # never across a word boundary
        assert token.isspace() or not any(c.isspace() for c in token[1:]), token  # only a leading space


def test_bpe_rebuilt_token_gets_one_id():
    """(a, bc) after (ab, c) builds "abc" a second way: one token, two merges."""
    tok = BPETokenizer(list("cab"), [("a", "b"), ("b", "c"), ("ab", "c"), ("a", "bc")], [9, 8, 7, 6])
    assert tok.vocab == ["a", "b", "c", "ab", "bc", "abc"] and tok.vocab_size == 6
    assert [tok.vocab[i] for i in tok.encode("abcbc")] == ["abc", "bc"]


def test_bpe_is_deterministic_and_ignores_chunk_order(rng):
    words = ENGLISH.split()
    text = "".join(" " + w for w in words)
    shuffled = "".join(" " + w for w in rng.permutation(words))
    assert Counter(chunks(text)) == Counter(chunks(shuffled))
    a, b, c = train_bpe(text, 60), train_bpe(text, 60), train_bpe(shuffled, 60)
    assert a.merges == b.merges and a.merge_counts == b.merge_counts
    # ties go to the smallest pair, not the first one seen: the order of the words does not matter
    assert a.merges == c.merges and a.merge_counts == c.merge_counts
    assert a.merge_counts.count(a.merge_counts[-1]) > 1  # (there were ties)


def test_bpe_ties_do_not_depend_on_order():
    text = "\n".join(["ab", "cd"] * 3)
    flipped = "\n".join(["cd", "ab"] * 3)
    assert train_bpe(text, 5).merges == train_bpe(flipped, 5).merges == [("a", "b"), ("c", "d")]


# ----------------------------------------------------------------------------- BPE vs a brute-force recount


def recount(words, weights):
    counts = Counter()
    for w, f in zip(words, weights, strict=True):
        for p in zip(w, w[1:], strict=False):
            counts[p] += f
    return dict(counts)


@pytest.mark.parametrize("alphabet", ["ab", "abc  ", "aab.,\n  xy"])
def test_incremental_counts_equal_a_recount(rng, alphabet):
    text = "".join(rng.choice(list(alphabet), size=1500))
    freq = Counter(chunks(text))
    weights = list(freq.values())
    words = [list(chunk) for chunk in freq]  # our own copy, merged the brute-force way
    steps = 0
    for pair, count, live_words, pair_counts in _merge_steps(freq):
        brute = recount(words, weights)
        best = min(brute.items(), key=lambda kv: (-kv[1], kv[0]))  # most frequent, then smallest
        assert (pair, count) == best
        words = [_merge(w, *pair) for w in words]
        assert live_words == words
        assert pair_counts == recount(words, weights)
        steps += 1
    assert steps > 5
    assert max(recount(words, weights).values(), default=0) < 2  # stopped: no pair occurs twice


def test_encode_gives_training_split(rng):
    text = "".join(rng.choice(list("abcab  \n"), size=3000))
    tok = train_bpe(text, 40)
    freq = Counter(chunks(text))
    steps = list(itertools.islice(_merge_steps(freq), 40))
    words = steps[-1][2]  # each chunk's symbols after the 40th merge (a live list: take no further step)
    split = dict(zip(freq, words, strict=True))
    assert [tok.vocab[i] for i in tok.encode(text)] == [s for chunk in chunks(text) for s in split[chunk]]


def test_bpe_round_trip_and_unk(rng):
    tok = train_bpe(ENGLISH, 80)
    known = sorted(set(ENGLISH))
    for _ in range(10):
        text = "".join(rng.choice(known, size=200))
        assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode("Then the red dogs run far.")) == "Then the red dogs run far."
    assert tok.compression(ENGLISH) > 2
    with pytest.raises(ValueError, match=r"2 character\(s\) not in the vocabulary \(1 distinct: 'é'\).*train_bpe"):
        tok.encode("café é")
    with_unk = train_bpe(ENGLISH, 80, unk="\ufffd")
    assert with_unk.merges == tok.merges and with_unk.vocab_size == tok.vocab_size + 1
    assert with_unk.vocab[len(tok.chars)] == "\ufffd"
    assert with_unk.decode(with_unk.encode("the café")) == "the caf\ufffd"


def test_bpe_errors():
    tok = train_bpe(HAND_TEXT, 3)
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 13\)"):
        tok.decode([13])
    with pytest.raises(ValueError, match="non-empty text"):
        tok.compression("")
    with pytest.raises(ValueError, match="n_merges must be an integer >= 0"):
        train_bpe("abab", -1)
    with pytest.raises(TypeError, match="n_merges"):
        train_bpe("abab", 2.0)
    with pytest.raises(TypeError, match="expects a str"):
        train_bpe(["ab"], 2)
    with pytest.raises(ValueError, match="non-empty training text"):
        train_bpe("", 2)
    with pytest.raises(ValueError, match="single character"):
        train_bpe("abab", 2, unk="")


# ----------------------------------------------------------------------------- bigrams and windows


def test_bigram_counts_match_a_loop(rng):
    ids = rng.integers(0, 7, 500)
    expected = np.zeros((7, 7), dtype=np.int64)
    for a, b in zip(ids[:-1], ids[1:], strict=True):
        expected[a, b] += 1
    counts = bigram_counts(ids, 7)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, expected)
    assert counts.sum() == 499
    assert not bigram_counts(np.array([3]), 5).any()
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 7\)"):
        bigram_counts(np.array([1, 7]), 7)
    with pytest.raises(TypeError, match="integer token ids"):
        bigram_counts(np.array([1.0, 2.0]), 7)


def test_context_windows():
    ids = np.arange(10, 17)
    X, y = context_windows(ids, 3)
    assert X.shape == (4, 3) and y.shape == (4,) and X.dtype == y.dtype == np.int64
    np.testing.assert_array_equal(X, [[10, 11, 12], [11, 12, 13], [12, 13, 14], [13, 14, 15]])
    np.testing.assert_array_equal(y, [13, 14, 15, 16])
    X[0, 0] = -1
    assert ids[0] == 10  # a copy, not a view
    X, y = context_windows([1, 2, 3], 3)
    assert X.shape == (0, 3) and y.shape == (0,)
    with pytest.raises(ValueError, match="positive integer"):
        context_windows(ids, 0)
    with pytest.raises(ValueError, match="1-D"):
        context_windows(ids.reshape(1, -1), 2)


def test_random_windows():
    ids = np.arange(100, 150)
    X, Y = random_windows(ids, 8, 64, np.random.default_rng(1))
    assert X.shape == Y.shape == (64, 8) and X.dtype == Y.dtype == np.int64
    np.testing.assert_array_equal(np.diff(X, axis=1), 1)  # consecutive runs of ids
    np.testing.assert_array_equal(Y, X + 1)  # the next token
    assert X.min() >= 100 and Y.max() <= 149
    assert len(set(X[:, 0])) > 20  # random starts
    X2, _ = random_windows(ids, 8, 64, 1)
    np.testing.assert_array_equal(X, X2)  # an int seed is a Generator's seed
    X, Y = random_windows(np.arange(5), 4, 10, 0)  # just long enough: a single window
    np.testing.assert_array_equal(X, np.tile(np.arange(4), (10, 1)))
    with pytest.raises(ValueError, match="need at least 5 ids, got 4"):
        random_windows(np.arange(4), 4, 2, 0)
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        random_windows(ids, 4, 0, 0)


# ----------------------------------------------------------------------------- sampling


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_sample_next_temperature_zero_is_argmax(rng):
    for _ in range(20):
        logits = rng.standard_normal(9)
        assert sample_next(logits, 0.0, rng) == int(np.argmax(logits))
    assert sample_next(np.array([1.0, 3.0, 3.0]), 0) == 1  # ties: the first
    assert sample_next(np.array([0.0, 1e-3]), 1e-300, rng) == 1  # tiny temperature: no overflow


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_sample_next_frequencies(temperature):
    logits = np.array([2.0, 1.0, 0.0, -1.0, -np.inf])
    rng = np.random.default_rng(0)
    n = 10_000
    draws = [sample_next(logits, temperature, rng) for _ in range(n)]
    freq = np.bincount(draws, minlength=5) / n
    p = softmax(logits / temperature)
    assert freq[4] == 0  # -inf: never drawn
    np.testing.assert_allclose(freq, p, atol=0.02)  # 4 standard errors at n = 10,000 (at most 0.005 each)
    assert isinstance(draws[0], int)


def test_sample_next_errors():
    with pytest.raises(ValueError, match=r"temperature must be a finite number in \[0, inf\)"):
        sample_next(np.zeros(3), -1.0)
    with pytest.raises(ValueError, match="temperature"):
        sample_next(np.zeros(3), float("nan"))
    with pytest.raises(ValueError, match="logits contains NaN"):
        sample_next(np.array([0.0, np.nan]), 1.0)
    with pytest.raises(ValueError, match="logits contains inf"):
        sample_next(np.array([0.0, np.inf]), 1.0)
    with pytest.raises(ValueError, match="every logit is -inf"):
        sample_next(np.full(3, -np.inf), 1.0)
    with pytest.raises(ValueError, match=r"shape \(V,\)"):
        sample_next(np.zeros((2, 3)), 1.0)


# ----------------------------------------------------------------------------- the fortunes corpus


@pytest.fixture(scope="module")
def fortunes():
    if not all((data.FORTUNES_DIR / name).is_file() for name in data.FORTUNES_SHA256):
        pytest.skip("Debian's fortunes package is not installed (make installs it as root)")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DLCORE_FORTUNES", raising=False)
        return {split: "\n%\n".join(data.load_fortunes(split)) for split in data.TEXT_SPLITS}


def test_bpe_on_fortunes(fortunes):
    train = fortunes["train"]
    tok = train_bpe(train, 500, unk="\ufffd")
    assert len(tok.merges) == 500 and tok.vocab_size == len(tok.chars) + 1 + 500
    assert tok.merges[:3] == [(" ", "t"), ("h", "e"), (" ", "a")]
    assert tok.merge_counts[0] == 44332 and tok.merge_counts == sorted(tok.merge_counts, reverse=True)
    assert 2.0 < tok.compression(fortunes["val"]) < 2.3
    ids = tok.encode(fortunes["test"])
    assert tok.decode(ids) == fortunes["test"]  # the test text uses only training characters
    assert len(fortunes["test"]) / len(ids) > 2.0
    chars = CharTokenizer(train)
    assert chars.vocab_size == len(tok.chars) == 108
    with pytest.raises(ValueError, match=r"18 character\(s\) not in the vocabulary \(5 distinct"):
        chars.encode(fortunes["val"])  # a few mojibake characters of one record
