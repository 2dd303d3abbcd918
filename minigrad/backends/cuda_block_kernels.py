"""numba.cuda kernels whose threads cooperate through shared memory: reductions, the row-wise
softmax family and cross-entropy, and the tiled GEMM.

Barriers: every ``cuda.syncthreads()`` is reached by every thread of the block. Loops that contain
one iterate over work assigned to the whole block (``range(cuda.blockIdx.x, ..., cuda.gridDim.x)``
or over K tiles), so all threads of a block take the same trip count; threads outside the data
only skip loads and stores, never a barrier. Each reduction ends with a barrier after the result
is read, so the next use of the same shared array cannot overwrite it early.

A shared array's dtype must be a compile-time constant, so each kernel is built per dtype by a
small factory (float32 and float64); blocks are 1-d with ``THREADS`` threads (a power of two) for
the reductions, 2-d ``TILE`` x ``TILE`` for the GEMM.
"""

from __future__ import annotations

import math

import numba
from numba import cuda

from .cuda_kernels import SIMULATOR, THREADS, strided_offset

TILE = 4 if SIMULATOR else 16
SUM, MAX = 0, 1


@cuda.jit(device=True)
def combine(op, x, y):
    if op == SUM:
        return x + y
    return x if (x > y or x != x) else y  # MAX propagates NaN, as np.max


@cuda.jit(device=True)
def block_reduce(shared, value, op):
    """Combine one value from each thread of the block; every thread gets the result.

    Called by every thread of the block (it contains barriers).
    """
    tid = cuda.threadIdx.x
    shared[tid] = value
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if tid < step:
            shared[tid] = combine(op, shared[tid], shared[tid + step])
        cuda.syncthreads()
        step //= 2
    result = shared[0]
    cuda.syncthreads()
    return result


@cuda.jit(device=True)
def row_max_and_exp_sum(shared, x, base, classes):
    """(m, sum_j exp(x[base + j] - m)) over one row of `classes` values, m the row's max (NaN if
    the row has one); every thread gets both. Called by every thread of the block (barriers)."""
    tid = cuda.threadIdx.x
    m = -x.dtype.type(math.inf)
    for j in range(tid, classes, THREADS):
        m = combine(MAX, m, x[base + j])
    m = block_reduce(shared, m, MAX)
    s = x.dtype.type(0)
    for j in range(tid, classes, THREADS):
        s += math.exp(x[base + j] - m)
    return m, block_reduce(shared, s, SUM)


def _reduce_kernel(dtype):
    @cuda.jit
    def reduce_rows(op, src, outer_shape, outer_strides, inner_shape, inner_strides, length,
                    chunks, identity, out):
        """out[row * chunks + c] = op over chunk c of row `row`'s `length` elements."""
        shared = cuda.shared.array(THREADS, dtype)
        per_chunk = (length + chunks - 1) // chunks
        for task in range(cuda.blockIdx.x, out.size, cuda.gridDim.x):
            row = task // chunks
            start = (task % chunks) * per_chunk
            stop = min(start + per_chunk, length)
            base = strided_offset(row, outer_shape, outer_strides)
            acc = identity
            for j in range(start + cuda.threadIdx.x, stop, THREADS):
                acc = combine(op, acc, src[base + strided_offset(j, inner_shape, inner_strides)])
            total = block_reduce(shared, acc, op)
            if cuda.threadIdx.x == 0:
                out[task] = total

    return reduce_rows


def _softmax_kernels(dtype):
    @cuda.jit
    def softmax_rows(x, classes, log, out):
        """Row-wise softmax (or log-softmax when log) of x viewed as (rows, classes)."""
        shared = cuda.shared.array(THREADS, dtype)
        tid = cuda.threadIdx.x
        for row in range(cuda.blockIdx.x, x.size // classes, cuda.gridDim.x):
            base = row * classes
            m, s = row_max_and_exp_sum(shared, x, base, classes)
            log_s = math.log(s)
            for j in range(tid, classes, THREADS):  # (x - m) - log s, as the CPU: m + log s
                # would round away the small log-probabilities of large logits
                out[base + j] = (x[base + j] - m) - log_s if log else math.exp(x[base + j] - m) / s

    @cuda.jit
    def softmax_backward_rows(y, g, classes, log, out):
        """softmax: dx = y (g - sum(g y)); log-softmax: dx = g - exp(y) sum(g); per row."""
        shared = cuda.shared.array(THREADS, dtype)
        tid = cuda.threadIdx.x
        zero = dtype(0)
        for row in range(cuda.blockIdx.x, y.size // classes, cuda.gridDim.x):
            base = row * classes
            s = zero
            for j in range(tid, classes, THREADS):
                s += g[base + j] if log else g[base + j] * y[base + j]
            s = block_reduce(shared, s, SUM)
            for j in range(tid, classes, THREADS):
                k = base + j
                out[k] = g[k] - math.exp(y[k]) * s if log else y[k] * (g[k] - s)

    @cuda.jit
    def cross_entropy_rows(logits, targets, ignore_index, classes, log_probs, row_loss,
                           row_count):
        """Per row: log_probs = log_softmax(logits), row_loss = -log_probs[target] and
        row_count = 1, or both 0 on an ignored row. A target outside [0, classes) gives NaN
        (checking it on the host would cost a device-to-host copy)."""
        shared = cuda.shared.array(THREADS, dtype)
        tid = cuda.threadIdx.x
        zero = dtype(0)
        for row in range(cuda.blockIdx.x, targets.size, cuda.gridDim.x):
            base = row * classes
            m, s = row_max_and_exp_sum(shared, logits, base, classes)
            log_s = math.log(s)
            for j in range(tid, classes, THREADS):
                log_probs[base + j] = (logits[base + j] - m) - log_s
            if tid == 0:
                t = targets[row]
                if t == ignore_index:
                    row_loss[row] = zero
                    row_count[row] = zero
                else:
                    inside = t >= 0 and t < classes
                    row_loss[row] = log_s - (logits[base + t] - m) if inside else dtype(math.nan)
                    row_count[row] = dtype(1)

    return softmax_rows, softmax_backward_rows, cross_entropy_rows


def _matmul_kernel(dtype):
    @cuda.jit
    def matmul_tiled(a, a_offset, a_row, a_col, a_batch, b, b_offset, b_row, b_col, b_batch,
                     batch_shape, m, n, k, out, out_offset, out_row, accumulate):
        """out[z] (+)= A[z] @ B[z] for every batch z, A[z][i, p] = a[a_offset + a_base(z) +
        i a_row + p a_col] (strides let one kernel read either operand transposed or a column
        block in place); out[z] is (m, n) with row stride out_row (n: C-contiguous; more: a
        column window of a wider array) at out_offset + z m out_row. TILE x TILE blocks cover
        out; accumulate adds to out instead of overwriting it."""
        a_tile = cuda.shared.array((TILE, TILE), dtype)
        b_tile = cuda.shared.array((TILE, TILE), dtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        zero = dtype(0)
        batches = 1
        for extent in batch_shape:
            batches *= extent
        for z in range(cuda.blockIdx.z, batches, cuda.gridDim.z):
            a_base = a_offset + strided_offset(z, batch_shape, a_batch)
            b_base = b_offset + strided_offset(z, batch_shape, b_batch)
            acc = zero
            for k0 in range(0, k, TILE):
                p = k0 + tx
                a_tile[ty, tx] = a[a_base + row * a_row + p * a_col] if row < m and p < k else zero
                p = k0 + ty
                b_tile[ty, tx] = b[b_base + p * b_row + col * b_col] if p < k and col < n else zero
                cuda.syncthreads()
                for q in range(TILE):
                    acc += a_tile[ty, q] * b_tile[q, tx]
                cuda.syncthreads()
            if row < m and col < n:
                at = out_offset + (z * m + row) * out_row + col
                out[at] = out[at] + acc if accumulate else acc

    return matmul_tiled


_DTYPES = {"float32": numba.float32, "float64": numba.float64}
reduce_rows = {name: _reduce_kernel(t) for name, t in _DTYPES.items()}
softmax_rows, softmax_backward_rows, cross_entropy_rows = {}, {}, {}
for _name, _type in _DTYPES.items():
    softmax_rows[_name], softmax_backward_rows[_name], cross_entropy_rows[_name] = (
        _softmax_kernels(_type)
    )
matmul_tiled = {name: _matmul_kernel(t) for name, t in _DTYPES.items()}
