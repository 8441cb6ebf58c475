"""Run independent chunks of numpy work on all cores.

numpy's copies and elementwise operations run on one core, and its matrix products (BLAS) use several
cores well only for big matrices. A convolution is mostly copies (im2col) and medium-sized products, so
``Conv2D`` cuts the batch into chunks of a few images and hands them to a pool of threads. numpy
releases Python's lock (the GIL) inside its loops and BLAS calls, so the threads really run at the same
time, each on a chunk small enough to stay in its core's cache. Meanwhile each BLAS call is limited to
one thread (with ``threadpoolctl``): otherwise every thread would start its own BLAS threads and they
would fight over the cores.

Results do not depend on the number of threads: the chunks are fixed by their size alone, and
``map_chunks`` returns the results in order, so sums over chunks are always added in the same order.
"""

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from .checks import env_int

_state: dict = {"threads": None, "pool": None, "blas": None}


def num_threads() -> int:
    """Threads used by ``map_chunks``: ``set_num_threads``, else $DLCORE_NUM_THREADS, else all cores."""
    if _state["threads"] is None:
        env = env_int("DLCORE_NUM_THREADS", minimum=1)  # a bad value is a ValueError naming the variable
        _state["threads"] = env if env is not None else len(os.sched_getaffinity(0))
    return _state["threads"]


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads from now on (1: everything in the calling thread; None: back to the default)."""
    if n is not None and n < 1:
        raise ValueError(f"need at least 1 thread, got {n}")
    if _state["pool"] is not None:
        _state["pool"].shutdown()
    _state.update(threads=n, pool=None)


def chunks(n_items: int, bytes_per_item: int, chunk_bytes: int) -> list[slice]:
    """Slices of ``range(n_items)`` holding about ``chunk_bytes`` each (at least one item per slice)."""
    step = max(1, chunk_bytes // max(1, bytes_per_item))  # 0 bytes per item (an empty image): one slice
    return [slice(i, min(i + step, n_items)) for i in range(0, n_items, step)]


def map_chunks(fn: Callable, chunks: Sequence) -> list:
    """``[fn(c) for c in chunks]``, computed on ``num_threads()`` threads (one BLAS thread each)."""
    n = min(num_threads(), len(chunks))
    if n <= 1:
        return [fn(c) for c in chunks]
    if _state["pool"] is None:  # set_num_threads drops the pool, so it always has num_threads() workers
        _state["pool"] = ThreadPoolExecutor(num_threads(), thread_name_prefix="dlcore")
    if _state["blas"] is None:
        from threadpoolctl import ThreadpoolController

        _state["blas"] = ThreadpoolController()
    with _state["blas"].limit(limits=1, user_api="blas"):
        return list(_state["pool"].map(fn, chunks))
