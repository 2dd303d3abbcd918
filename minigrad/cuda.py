"""Device queries for CUDA; importing this never initialises a GPU."""

from __future__ import annotations


def is_available() -> bool:
    """True when numba.cuda sees a GPU (or runs under NUMBA_ENABLE_CUDASIM=1)."""
    try:
        from numba import cuda
    except ImportError:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # a broken driver is the same as no GPU here
        return False
