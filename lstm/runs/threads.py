"""`--threads N`, one meaning for every `lstm` command: the threads this process computes with
(minigrad's fused recurrences, Numba's parallel loops, numpy's BLAS), and each of a sweep's
worker processes in place of its share of the cores."""

from __future__ import annotations

import contextlib

import minigrad as mg

_chosen: int | None = None  # --threads of the command running in this process


def chosen_threads() -> int | None:
    """The command's --threads (None: not given; a sweep splits the cores between workers)."""
    return _chosen


@contextlib.contextmanager
def threads_used(n: int | None):
    """Inside the block this process computes with `n` threads (None: as it was); the previous
    settings back after it (a caller in the same process, such as a test, keeps its own)."""
    global _chosen
    if n is None:
        yield
        return
    import numba

    saved = _chosen, mg.get_num_threads(), numba.get_num_threads()
    limits = _blas_limits(n)
    _chosen = n
    mg.set_num_threads(n)
    # Numba's pool was sized when it started (NUMBA_NUM_THREADS): it can use fewer, not more
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        _chosen = saved[0]
        mg.set_num_threads(saved[1])
        numba.set_num_threads(saved[2])
        if limits is not None:
            limits.restore_original_limits()


def _blas_limits(n: int):
    """numpy's BLAS held to `n` threads (threadpoolctl, when installed: numpy reads its
    OPENBLAS_NUM_THREADS only when imported, before any option is parsed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(n, user_api="blas")
