"""CUDA backend: the batched GEMMs (matmul, matmul_nt, matmul_tn) and ``gemm_into``, hosts of the
tiled shared-memory kernel ``cuda_block_kernels.matmul_tiled``. Operands are read in place through
strides, so a transposed operand or a column block of a larger matrix needs no copy.
"""

from __future__ import annotations

import math

import numpy as np

from . import cuda_block_kernels as bk
from .cuda_base import check_device, empty, flat, full
from .indexing import at_least_1d, contiguous_strides


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
