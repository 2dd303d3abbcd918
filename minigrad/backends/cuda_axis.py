"""CUDA kernels along one axis: arg-reductions, scans and sorting, one thread per row.

The axis is moved last (a gather when it is not already), each row of the resulting (rows, n)
array is walked by one thread, and the result is moved back. Rows are independent, so this
scales with the number of rows; a long single row runs serially (fine for the sizes these ops
see in models: class counts, sequence lengths).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .cuda_array_ops import broadcast_to, reshape, transpose
from .cuda_base import check_device, empty, flat
from .cuda_kernels import launch

__all__ = [  # the backend's along-axis functions (interface.Backend)
    "argmax", "argmin", "argsort", "cumprod", "cumprod_backward", "cumsum",
    "scatter_add_along_axis", "take_along_axis",
]

ARGMAX, ARGMIN, CUMSUM, CUMPROD = 0, 1, 2, 3


@cuda.jit(cache=True)
def _arg_rows(op, x, n, out):
    for r in range(cuda.grid(1), x.size // n, cuda.gridsize(1)):
        base = r * n
        best, at = x[base], 0
        for j in range(1, n):
            v = x[base + j]
            if best != best:
                break  # a NaN wins, as in numpy
            if v != v or (v > best if op == ARGMAX else v < best):
                best, at = v, j
        out[r] = at


@cuda.jit(cache=True)
def _scan_rows(op, x, n, out):
    for r in range(cuda.grid(1), x.size // n, cuda.gridsize(1)):
        base = r * n
        total = out.dtype.type(0) if op == CUMSUM else out.dtype.type(1)
        for j in range(n):
            if op == CUMSUM:
                total += x[base + j]
            else:
                total *= x[base + j]
            out[base + j] = total


@cuda.jit(cache=True)
def _cumprod_backward_rows(x, g, n, out):
    for r in range(cuda.grid(1), x.size // n, cuda.gridsize(1)):
        base = r * n
        s = out.dtype.type(0)
        for i in range(n - 1, -1, -1):
            s = g[base + i] + (x[base + i + 1] * s if i + 1 < n else s)
            out[base + i] = s
        p = out.dtype.type(1)
        for i in range(n):
            out[base + i] *= p
            p *= x[base + i]


@cuda.jit(cache=True)
def _argsort_rows(x, n, descending, out):
    """Stable insertion sort of each row's indices (rows are short)."""
    for r in range(cuda.grid(1), x.size // n, cuda.gridsize(1)):
        base = r * n
        for j in range(n):
            out[base + j] = j
        for j in range(1, n):
            idx = out[base + j]
            v = x[base + idx]
            k = j - 1
            while k >= 0:
                w = x[base + out[base + k]]
                # NaN is the largest (numpy's and torch's order): first when descending
                if descending:
                    after = w < v or (v != v and w == w)
                else:
                    after = w > v or (w != w and v == v)
                if not after:
                    break
                out[base + k + 1] = out[base + k]
                k -= 1
            out[base + k + 1] = idx


def _last(a, axis):
    """a with `axis` moved last, C-contiguous, and the permutation that moves it back."""
    perm = [i for i in range(a.ndim) if i != axis] + [axis]
    inverse = tuple(int(i) for i in np.argsort(perm))
    return (a if axis == a.ndim - 1 else transpose(a, tuple(perm))), inverse


def _row_op(op, a, axis, out_dtype, keep_axis):
    check_device(a)
    if a.ndim == 0:
        a, axis = reshape(a, (1,)), 0
    moved, inverse = _last(a, axis)
    n = tuple(moved.shape)[-1]
    shape = tuple(moved.shape) if keep_axis else tuple(moved.shape)[:-1]
    out = empty(shape, out_dtype)
    if out.size and n:
        kernel = _scan_rows if keep_axis else _arg_rows
        kernel[launch(max(1, moved.size // n))](op, flat(moved), n, flat(out))
    if not keep_axis:
        return out
    return out if axis == a.ndim - 1 else transpose(out, inverse)


def argmax(a, axis):
    return _row_op(ARGMAX, a, axis, np.int64, False)


def argmin(a, axis):
    return _row_op(ARGMIN, a, axis, np.int64, False)


def cumsum(a, axis):
    return _row_op(CUMSUM, a, axis, a.dtype, True)


def cumprod(a, axis):
    return _row_op(CUMPROD, a, axis, a.dtype, True)


def argsort(a, axis, descending=False, stable=False):
    check_device(a)  # insertion sort: always stable
    moved, inverse = _last(a, axis)
    n = tuple(moved.shape)[-1]
    out = empty(tuple(moved.shape), np.int64)
    if out.size:
        _argsort_rows[launch(max(1, moved.size // n))](flat(moved), n, bool(descending),
                                                       flat(out))
    return out if axis == a.ndim - 1 else transpose(out, inverse)


def cumprod_backward(x, g, axis):
    check_device(x, g)
    if tuple(g.shape) != tuple(x.shape):
        g = broadcast_to(g, x.shape)
    moved_x, inverse = _last(x, axis)
    moved_g, _ = _last(g, axis)
    n = tuple(moved_x.shape)[-1]
    out = empty(tuple(moved_x.shape), x.dtype)
    if out.size:
        _cumprod_backward_rows[launch(max(1, out.size // n))](flat(moved_x), flat(moved_g), n,
                                                              flat(out))
    return out if axis == x.ndim - 1 else transpose(out, inverse)


def _full_index(shape, indices, axis):
    """The host advanced index that picks indices along axis, other axes by position."""
    index = []
    for d in range(len(shape)):
        if d == axis:
            index.append(indices)
        else:
            view = [1] * len(shape)
            view[d] = indices.shape[d]
            index.append(np.arange(indices.shape[d]).reshape(view))
    return tuple(index)


def take_along_axis(a, indices, axis):
    from .cuda_array_ops import getitem

    return getitem(a, _full_index(tuple(a.shape), indices, axis))


def scatter_add_along_axis(shape, indices, src, axis, dtype):
    from .cuda_array_ops import index_add

    return index_add(tuple(shape), _full_index(tuple(shape), indices, axis), src, dtype)


def ptx_signatures() -> dict:
    """float32 argument types of the kernels above, for tests/cuda/ptx_check.py."""
    from numba import types

    v, vi, i, b = types.float32[::1], types.int64[::1], types.int64, types.boolean
    return {
        "axis_arg_rows": (_arg_rows, (i, v, i, vi)),
        "axis_scan_rows": (_scan_rows, (i, v, i, v)),
        "axis_cumprod_backward_rows": (_cumprod_backward_rows, (v, v, i, v)),
        "axis_argsort_rows": (_argsort_rows, (v, i, b, vi)),
    }
