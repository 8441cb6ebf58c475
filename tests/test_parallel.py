"""dlcore.parallel: chunks on threads give the same numbers as one thread, in order."""

import numpy as np
import pytest

from dlcore import parallel
from dlcore.layers import Conv2D


@pytest.fixture
def threads():
    yield
    parallel.set_num_threads(None)


def test_map_chunks_keeps_order(threads):
    parallel.set_num_threads(3)
    assert parallel.map_chunks(lambda i: i * i, list(range(10))) == [i * i for i in range(10)]


def test_conv_gives_identical_results_on_one_or_several_threads(threads, rng):
    x = rng.standard_normal((9, 3, 8, 8)).astype(np.float32)
    runs = []
    for n in (1, 2, 4):
        parallel.set_num_threads(n)
        conv = Conv2D(3, 5, 3, padding=1, seed=0, dtype=np.float32)
        conv.chunk_bytes = 1  # one image per chunk: many chunks
        y = conv.forward(x)
        dx = conv.backward(np.ones_like(y))
        runs.append((y, dx, conv.grads["W"], conv.grads["b"]))
    for run in runs[1:]:
        for a, b in zip(runs[0], run, strict=True):
            np.testing.assert_array_equal(a, b)  # bit for bit: the chunk sums are added in the same order


def test_errors_propagate_from_worker_threads(threads):
    parallel.set_num_threads(2)

    def fail(i):
        raise ValueError(f"chunk {i} failed")

    with pytest.raises(ValueError, match="chunk 0 failed"):
        parallel.map_chunks(fail, [0, 1])


def test_bad_thread_count():
    with pytest.raises(ValueError, match="at least 1 thread"):
        parallel.set_num_threads(0)


def test_chunks_cover_every_item_once():
    parts = parallel.chunks(10, bytes_per_item=100, chunk_bytes=350)  # 3 items per chunk
    assert parts == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]
    assert parallel.chunks(2, bytes_per_item=100, chunk_bytes=1) == [slice(0, 1), slice(1, 2)]
