"""Index arithmetic shared by CPU and CUDA kernels, written once and compiled for both targets.

``strided_offset`` maps a C-order position within a shape to an element offset under per-axis
strides (0 on a broadcast axis). Every gather, transpose, broadcast, strided reduction and batched
GEMM of the CUDA backend reduces to it. Like minitorch's index helpers, the one Python definition
is compiled with ``njit(inline="always")`` for CPU kernels (``strided_offset_cpu``) and with
``cuda.jit(device=True)`` for CUDA kernels (in ``cuda_kernels``; this module never imports
numba.cuda, so a CPU-only process does not load it).

The host helpers compute, from shapes and a numpy index, the element strides those kernels take.
Shapes and strides travel to kernels as tuples (passed by value: no host-to-device copy).
"""

from __future__ import annotations

import numpy as np
from numba import njit


def strided_offset(position, shape, strides):
    """Element offset of C-order `position` in `shape` under `strides` (all integer tuples)."""
    offset = 0
    for axis in range(len(shape) - 1, -1, -1):
        extent = shape[axis]
        offset += (position % extent) * strides[axis]
        position //= extent
    return offset


strided_offset_cpu = njit(inline="always", cache=True)(strided_offset)


def contiguous_strides(shape) -> tuple:
    """Element strides of a C-contiguous array of `shape`."""
    strides, step = [], 1
    for extent in reversed(tuple(shape)):
        strides.append(step)
        step *= extent
    return tuple(reversed(strides))


def broadcast_strides(shape, target) -> tuple:
    """Element strides reading a C-contiguous `shape` as if broadcast to `target` (numpy rules)."""
    shape, target = tuple(shape), tuple(target)
    lead = len(target) - len(shape)
    own = contiguous_strides(shape)
    out = [0] * lead
    for i, extent in enumerate(shape):
        if extent != 1 and extent != target[lead + i]:
            raise ValueError(f"shape {shape} does not broadcast to {target}")
        out.append(own[i] if extent == target[lead + i] and extent != 1 else 0)
    return tuple(out)


def at_least_1d(shape, strides) -> tuple[tuple, tuple]:
    """Kernels index with non-empty tuples: a 0-d shape becomes (1,) with stride 0."""
    return (tuple(shape), tuple(strides)) if len(shape) else ((1,), (0,))


_SLOT = np.dtype(np.int64).itemsize


def basic_view(shape, index) -> tuple[tuple, int, tuple]:
    """(shape, element offset, element strides) of a C-contiguous array of `shape` indexed by a
    basic index (ints, slices, None, Ellipsis), with numpy's rules and errors.

    numpy does the work on a stand-in array that owns one element: indexing a view reads no memory.
    The stand-in has one extra trailing axis so even an all-integer index yields a view, not a read.
    """
    parts = index if isinstance(index, tuple) else (index,)
    used = sum(1 for p in parts if p is not None and p is not Ellipsis)
    if used > len(shape):
        raise IndexError(f"too many indices: array is {len(shape)}-dimensional, but {used} were "
                         "indexed")
    ellipses = sum(1 for p in parts if p is Ellipsis)
    if ellipses > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    full = (slice(None),) * (len(shape) - used)
    if ellipses:
        at = next(i for i, p in enumerate(parts) if p is Ellipsis)
        parts = parts[:at] + full + parts[at + 1:]
    else:
        parts = parts + full
    base = np.zeros(1, np.int64)
    strides = tuple(s * _SLOT for s in contiguous_strides(tuple(shape) + (1,)))
    stand_in = np.lib.stride_tricks.as_strided(base, tuple(shape) + (1,), strides)
    view = stand_in[parts + (slice(None),)]
    offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return view.shape[:-1], offset // _SLOT, tuple(s // _SLOT for s in view.strides[:-1])
