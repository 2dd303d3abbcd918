"""CUDA backend: device arrays, creation, casts and the host <-> device moves.

The only host <-> device copies of the whole backend go through ``from_host`` (``cuda.to_device``)
and ``to_host`` (``copy_to_host``), so a test can count them by patching those two.
"""

from __future__ import annotations

import numbers

import numpy as np
from numba import cuda

from . import cuda_kernels as k

try:
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
except ImportError:  # the simulator's stand-in
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray as DeviceNDArray

ndarray = DeviceNDArray


def is_device_array(a) -> bool:
    return getattr(a, "__cuda_ndarray__", False) is True


def is_scalar(x) -> bool:
    return isinstance(x, numbers.Number | np.generic)


def check_device(*arrays) -> None:
    """Raise ValueError on anything that is neither a device array nor a scalar (a host array)."""
    for a in arrays:
        if not is_scalar(a) and not is_device_array(a):
            raise ValueError(f"cuda backend: expected a device array or a scalar, got "
                             f"{type(a).__name__} (move it with from_host)")


def flat(a):
    """A 1-d view of a C-contiguous device array (0-d arrays become 1 element)."""
    if not a.is_c_contiguous():
        raise ValueError(f"cuda backend: expected a C-contiguous device array, got strides "
                         f"{a.strides} for shape {a.shape}")
    return a.reshape((a.size,))


def to_host(a) -> np.ndarray:
    return a.copy_to_host()


def from_host(a):
    if is_device_array(a):
        return a
    return cuda.to_device(np.asarray(a, order="C"))


def asarray(x, dtype=None):
    if is_device_array(x):
        return x if dtype is None or x.dtype == np.dtype(dtype) else astype(x, dtype)
    return from_host(np.asarray(x, dtype=dtype))


def empty(shape, dtype):
    return cuda.device_array(tuple(shape), dtype=np.dtype(dtype))


def full(shape, value, dtype):
    out = empty(shape, dtype)
    if out.size:
        k.fill[k.launch(out.size)](flat(out), out.dtype.type(value))
    return out


def zeros(shape, dtype):
    return full(shape, 0, dtype)


def ones(shape, dtype):
    return full(shape, 1, dtype)


def copy(a):
    out = empty(a.shape, a.dtype)
    if out.size:
        out.copy_to_device(a)  # device to device
    return out


def astype(a, dtype):
    dtype = np.dtype(dtype)
    out = empty(a.shape, dtype)
    if out.size:
        k.cast[k.launch(out.size)](flat(a), flat(out))
    return out


def all_finite(a) -> bool:
    """True when no element is inf or NaN: 0 * x sums to NaN otherwise. One scalar to the host."""
    from .cuda_reduce import sum as reduce_sum

    if not a.size or not np.issubdtype(a.dtype, np.floating):
        return True
    zeros_or_nan = empty(a.shape, a.dtype)
    k.binary_scalar[k.launch(a.size)](k.MUL, flat(a), a.dtype.type(0), False, flat(zeros_or_nan))
    return bool(np.isfinite(to_host(reduce_sum(zeros_or_nan))))
