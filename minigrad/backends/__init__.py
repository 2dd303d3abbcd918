"""Backends: one module per device, each satisfying the contract ``interface.Backend`` (every
function with one line of docs; tests hold both modules to it).

``backend_of(array)`` picks the backend that owns a raw array; ``get(device)`` picks one by name.
The CUDA backend is imported on first use so a CPU-only process never loads numba.cuda.
"""

from __future__ import annotations

import numpy as np

from . import cpu
from .interface import Backend  # noqa: F401 - the contract, for type hints and documentation

_cuda = None


def _cuda_backend():
    global _cuda
    if _cuda is None:
        from . import cuda as module

        _cuda = module
    return _cuda


def backend_of(array):
    """The backend owning `array` (numpy -> cpu, numba device array -> cuda)."""
    if type(array) is np.ndarray:  # the hot path: one type check
        return cpu
    if isinstance(array, np.ndarray | np.generic):  # ufuncs turn 0-d arrays into numpy scalars
        return cpu
    if hasattr(array, "__cuda_array_interface__") or hasattr(array, "__cuda_ndarray__"):
        return _cuda_backend()  # __cuda_ndarray__: numba's device arrays, also the simulator's
    raise TypeError(f"no backend holds arrays of type {type(array).__name__}")


def get(device: str):
    """The backend for a device name: 'cpu' or 'cuda' (also 'cuda:0')."""
    if device == "cpu":
        return cpu
    if device == "cuda" or device.startswith("cuda:"):
        return _cuda_backend()
    raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
