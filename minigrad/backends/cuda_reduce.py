"""CUDA backend: reductions (sum, amax, sum_to) and the batched GEMMs (matmul, matmul_nt,
matmul_tn), hosts of the shared-memory kernels in ``cuda_block_kernels``.

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
from .cuda_base import check_device, empty, flat, full
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


# ---- batched GEMM ------------------------------------------------------------------------------


def _gemm(a, b, transpose_a, transpose_b):
    """a @ b over the last two axes with either operand read transposed; batch axes broadcast."""
    check_device(a, b)
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise ValueError(f"matmul: operands need 2 or more dims, got {a.shape} and {b.shape}")
    if a.dtype != b.dtype:
        raise ValueError(f"matmul: dtypes differ: {a.dtype} and {b.dtype}")
    rows_a, cols_a = a.shape[-2:]
    rows_b, cols_b = b.shape[-2:]
    m, inner_a = (cols_a, rows_a) if transpose_a else (rows_a, cols_a)
    inner_b, n = (cols_b, rows_b) if transpose_b else (rows_b, cols_b)
    if inner_a != inner_b:
        raise ValueError(f"matmul: inner dimensions differ: {inner_a} != {inner_b} "
                         f"(shapes {a.shape} and {b.shape})")
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    out = empty(batch + (m, n), a.dtype)
    if not out.size:
        return out
    if inner_a == 0:
        return full(out.shape, 0, a.dtype)
    a_strides = contiguous_strides(a.shape)
    b_strides = contiguous_strides(b.shape)
    a_row, a_col = (a_strides[-1], a_strides[-2]) if transpose_a else a_strides[-2:]
    b_row, b_col = (b_strides[-1], b_strides[-2]) if transpose_b else b_strides[-2:]
    batch_shape, a_batch = at_least_1d(batch, _batch_strides(a.shape, a_strides, batch))
    b_batch = at_least_1d(batch, _batch_strides(b.shape, b_strides, batch))[1]
    gemm_into(flat(a), 0, a_row, a_col, a_batch, flat(b), 0, b_row, b_col, b_batch, batch_shape,
              m, n, inner_a, flat(out), 0, False)
    return out


def gemm_into(a, a_offset, a_row, a_col, a_batch, b, b_offset, b_row, b_col, b_batch,
              batch_shape, m, n, k, out, out_offset, accumulate, out_row=None):
    """Launch the tiled GEMM on flat arrays with explicit offsets and strides (see
    ``cuda_block_kernels.matmul_tiled``); out (+)= A @ B for each batch, out's rows out_row
    apart (n when None)."""
    batches = math.prod(batch_shape)
    grid = ((n + bk.TILE - 1) // bk.TILE, (m + bk.TILE - 1) // bk.TILE, min(batches, 65535))
    bk.matmul_tiled[out.dtype.name][grid, (bk.TILE, bk.TILE)](
        a, a_offset, a_row, a_col, a_batch, b, b_offset, b_row, b_col, b_batch, batch_shape, m, n,
        k, out, out_offset, n if out_row is None else out_row, accumulate)


def _batch_strides(shape, strides, batch):
    """Strides of shape's batch axes broadcast to `batch` (0 where an axis is broadcast)."""
    lead = len(batch) - (len(shape) - 2)
    out = [0] * lead
    for i, extent in enumerate(shape[:-2]):
        out.append(strides[i] if extent == batch[lead + i] and extent != 1 else 0)
    return tuple(out)


def matmul(a, b):
    return _gemm(a, b, False, False)


def matmul_nt(a, b):
    """a @ b^T over the last two axes."""
    return _gemm(a, b, False, True)


def matmul_tn(a, b):
    """a^T @ b over the last two axes."""
    return _gemm(a, b, True, False)
