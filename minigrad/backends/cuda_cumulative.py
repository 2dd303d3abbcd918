"""CUDA twins of ``cpu_cumulative``: cummax/cummin indices and logcumsumexp (one thread per row, the
axis moved last, as ``cuda_axis``) and the kernels of the integer bitwise ops.

The bitwise kernels take the op code and the operand width in bits in one integer
(``op + 8 * bits``), so a shift past the width gives 0 or the sign fill as on the CPU (C leaves
it undefined).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .cuda_array_ops import transpose
from .cuda_base import check_device, empty, flat
from .cuda_kernels import launch, strided_offset

AND, OR, XOR, LSHIFT, RSHIFT = 0, 1, 2, 3, 4


@cuda.jit(cache=True)
def _extreme_rows(x, n, largest, out):
    for r in range(cuda.grid(1), x.size // n, cuda.gridsize(1)):
        base = r * n
        best, at = x[base], 0
        for j in range(n):
            v = x[base + j]
            if v != v or (best == best and (v >= best if largest else v <= best)):
                best, at = v, j
            out[base + j] = at


@cuda.jit(cache=True)
def _logcumsumexp_rows(x, n, out):
    for r in range(cuda.grid(1), x.size // n, cuda.gridsize(1)):
        base = r * n
        inf = out.dtype.type(math.inf)
        acc = -inf
        for j in range(n):
            v = x[base + j]
            if v != v or acc != acc:
                acc = v + acc
            else:
                hi = max(acc, v)
                lo = min(acc, v)
                if hi == -inf or hi == inf:
                    acc = hi
                else:
                    acc = hi + math.log1p(math.exp(lo - hi))
            out[base + j] = acc


def _last(a, axis):
    perm = [i for i in range(a.ndim) if i != axis] + [axis]
    inverse = tuple(int(i) for i in np.argsort(perm))
    return (a if axis == a.ndim - 1 else transpose(a, tuple(perm))), inverse


def _rows(kernel, a, axis, out_dtype, *args):
    check_device(a)
    moved, inverse = _last(a, axis)
    n = tuple(moved.shape)[-1]
    out = empty(tuple(moved.shape), out_dtype)
    if out.size:
        kernel[launch(max(1, moved.size // n))](flat(moved), n, *args, flat(out))
    return out if axis == a.ndim - 1 else transpose(out, inverse)


def cumextreme_index(a, axis, largest):
    return _rows(_extreme_rows, a, axis, np.int64, bool(largest))


def logcumsumexp(a, axis):
    return _rows(_logcumsumexp_rows, a, axis, a.dtype)


@cuda.jit(device=True)
def bitwise_op(code, x, y):
    op, bits = code % 8, code // 8
    if op == AND:
        return x & y
    if op == OR:
        return x | y
    if op == XOR:
        return x ^ y
    wide = y >= bits or y < 0
    if op == LSHIFT:
        return x - x if wide else x << y
    if wide:
        return x - x - 1 if x < 0 else x - x
    return x >> y


@cuda.jit(cache=True)
def bitwise_same(op, a, b, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = bitwise_op(op, a[i], b[i])


@cuda.jit(cache=True)
def bitwise_scalar(op, a, s, scalar_first, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = bitwise_op(op, s, a[i]) if scalar_first else bitwise_op(op, a[i], s)


@cuda.jit(cache=True)
def bitwise_broadcast(op, a, a_strides, b, b_strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        x = a[strided_offset(i, shape, a_strides)]
        out[i] = bitwise_op(op, x, b[strided_offset(i, shape, b_strides)])


@cuda.jit(cache=True)
def bitwise_invert(x, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = ~x[i]


def ptx_signatures() -> dict:
    """float32 argument types of the float kernels above, for tests/cuda/ptx_check.py."""
    from numba import types

    v, vi, i, b = types.float32[::1], types.int64[::1], types.int64, types.boolean
    return {
        "scan_extreme_rows": (_extreme_rows, (v, i, b, vi)),
        "scan_logcumsumexp_rows": (_logcumsumexp_rows, (v, i, v)),
    }
