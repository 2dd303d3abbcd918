"""CUDA backend: reductions (sum, amax, sum_to), hosts of the shared-memory reduction kernels in
``cuda_block_kernels`` (the batched GEMMs are in ``cuda_gemm``).

A reduction reads its input in place through strides: the kept axes index rows, the reduced axes
a row's elements, and one block reduces one row. When there are too few rows to fill the GPU (a
full sum), each row is cut into chunks reduced by separate blocks, and a second launch reduces the
chunk results.
"""

from __future__ import annotations

import math

import numpy as np

from . import cuda_block_kernels as bk
from . import cuda_kernels as k
from .cuda_base import empty, flat, full
from .indexing import at_least_1d, contiguous_strides

# Below this many rows a row is split over several blocks (each >= 8 elements per thread).
_FEW_ROWS = 2 * k.MAX_BLOCKS
_MAX_CHUNKS = 8 * k.THREADS


def _axes(axis, ndim) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = set()
    for ax in axes:
        if not -ndim <= ax < max(ndim, 1):
            raise ValueError(f"axis {ax} is out of bounds for an array of {ndim} dims")
        out.add(int(ax) % max(ndim, 1))
    return tuple(sorted(out))


def _launch_reduce(op, src, outer_shape, outer_strides, inner_shape, inner_strides, rows, length,
                   chunks, identity, out):
    kernel = bk.reduce_rows[src.dtype.name]
    blocks = max(1, min(rows * chunks, k.MAX_ROW_BLOCKS))
    kernel[blocks, k.THREADS](op, src, outer_shape, outer_strides, inner_shape, inner_strides,
                              length, chunks, identity, out)


def _reduce(op, a, axis, keepdims, identity):
    if a.dtype.name not in bk.reduce_rows:
        raise ValueError(f"cuda reductions support float32 and float64, got {a.dtype}")
    shape = tuple(a.shape)
    axes = _axes(axis, len(shape))
    kept = [d for d in range(len(shape)) if d not in axes]
    out_shape = tuple(1 if d in axes else n for d, n in enumerate(shape)) if keepdims else tuple(
        shape[d] for d in kept)
    if not axes:
        out = empty(out_shape, a.dtype)
        if out.size:
            out.copy_to_device(a)
        return out
    strides = contiguous_strides(shape)
    rows = math.prod(shape[d] for d in kept)
    length = math.prod(shape[d] for d in axes)
    if length == 0:
        if op == bk.MAX:
            raise ValueError("zero-size array to reduction operation maximum which has no identity")
        return full(out_shape, identity, a.dtype)
    out = empty(out_shape, a.dtype)
    if rows == 0:
        return out
    outer_shape, outer_strides = at_least_1d(tuple(shape[d] for d in kept),
                                             tuple(strides[d] for d in kept))
    inner_shape = tuple(shape[d] for d in axes)
    inner_strides = tuple(strides[d] for d in axes)
    identity = a.dtype.type(identity)
    chunks = 1
    if rows < _FEW_ROWS:
        chunks = min(_MAX_CHUNKS, max(1, length // (8 * k.THREADS)))
    if chunks == 1:
        _launch_reduce(op, flat(a), outer_shape, outer_strides, inner_shape, inner_strides, rows,
                       length, 1, identity, flat(out))
        return out
    partial = empty((rows * chunks,), a.dtype)
    _launch_reduce(op, flat(a), outer_shape, outer_strides, inner_shape, inner_strides, rows,
                   length, chunks, identity, partial)
    _launch_reduce(op, partial, (rows,), (chunks,), (chunks,), (1,), rows, chunks, 1, identity,
                   flat(out))
    return out


def sum(a, axis=None, keepdims=False):  # noqa: A001 - the backend's name for the op
    return _reduce(bk.SUM, a, axis, keepdims, 0.0)


def amax(a, axis=None, keepdims=False):
    return _reduce(bk.MAX, a, axis, keepdims, -np.inf)


def amin(a, axis=None, keepdims=False):
    """-max(-a): exact for floats (the only dtypes the reduction kernels take)."""
    if a.dtype.name not in bk.reduce_rows:
        raise ValueError(f"cuda reductions support float32 and float64, got {a.dtype}")
    return _neg(amax(_neg(a), axis, keepdims))


def _neg(a):
    out = empty(tuple(a.shape), a.dtype)
    if out.size:
        k.unary[k.launch(out.size)](k.NEG, flat(a), flat(out))
    return out


def sum_to(g, shape):
    """Sum g over the axes numpy broadcast to reach g.shape from shape (the unbroadcast)."""
    shape = tuple(shape)
    lead = len(g.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
    )
    if not axes:
        return g
    return sum(g, axis=axes, keepdims=True).reshape(shape)
