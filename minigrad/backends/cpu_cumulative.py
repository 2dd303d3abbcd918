"""CPU scans with torch's edge semantics: cummax/cummin indices and logcumsumexp, plus the
integer bitwise ops (numpy's ufuncs, shifts past the width defined).

The CUDA twin is ``cuda_cumulative`` (same names and signatures). ``axis`` is already normalised to
0 <= axis < ndim by the ops; the axis is moved last and each row walked by one loop.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_JIT = {"cache": True, "error_model": "numpy", "boundscheck": False}


@njit(**_JIT)
def _extreme_rows(x, largest, out):
    """out[r, j] = index of the running max (min) of x[r, :j+1]; ties and NaNs take the later
    index, a NaN stays the extreme once seen (torch's cummax/cummin)."""
    for r in range(x.shape[0]):
        best = x[r, 0]
        at = 0
        for j in range(x.shape[1]):
            v = x[r, j]
            if v != v or (best == best and (v >= best if largest else v <= best)):
                best = v
                at = j
            out[r, j] = at


@njit(**_JIT)
def _logcumsumexp_rows(x, out):
    """out[r, j] = log(sum(exp(x[r, :j+1]))) as a running logaddexp (no underflow far below the
    running maximum); +-inf and NaN as torch's."""
    for r in range(x.shape[0]):
        acc = -np.inf
        for j in range(x.shape[1]):
            v = x[r, j]
            if v != v or acc != acc:
                acc = v + acc
            else:
                hi = max(acc, v)
                lo = min(acc, v)
                if hi == -np.inf or hi == np.inf:
                    acc = hi
                else:
                    acc = hi + math.log1p(math.exp(lo - hi))
            out[r, j] = acc


def _rows(a, axis):
    moved = np.ascontiguousarray(np.moveaxis(a, axis, -1))
    n = moved.shape[-1]
    return moved.reshape(-1, n), moved.shape


def cumextreme_index(a, axis, largest):
    """int64 index of the running maximum (largest) or minimum along axis."""
    if not a.size:
        return np.zeros(a.shape, np.int64)
    rows, shape = _rows(a, axis)
    out = np.zeros(rows.shape, np.int64)
    _extreme_rows(rows, bool(largest), out)
    return np.moveaxis(out.reshape(shape), -1, axis)


def logcumsumexp(a, axis):
    """Running log-sum-exp along axis (float a)."""
    if not a.size:
        return np.empty_like(a)
    rows, shape = _rows(a, axis)
    out = np.empty_like(rows)
    _logcumsumexp_rows(rows, out)
    return np.moveaxis(out.reshape(shape), -1, axis)


_BITWISE = {"and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor}


def bitwise(op, a, b):
    """a <op> b bitwise, op in and or xor lshift rshift (integers; and/or/xor also bools). A
    shift by the width or more gives 0 (lshift) or the sign fill (rshift), as torch."""
    if op in _BITWISE:
        return np.asarray(_BITWISE[op](a, b))
    dtype = np.result_type(a, b)
    bits = dtype.itemsize * 8
    b = np.asarray(b)
    wide = (b >= bits) | (b < 0)
    safe = np.where(wide, 0, b).astype(dtype)
    if op == "lshift":
        out = np.left_shift(a, safe)
        return np.asarray(np.where(wide, dtype.type(0), out).astype(dtype, copy=False))
    out = np.right_shift(a, safe)
    fill = np.where(np.asarray(a) < 0, dtype.type(-1) if dtype.kind == "i" else 0, 0)
    return np.asarray(np.where(wide, fill, out).astype(dtype, copy=False))


def bitwise_not(a):
    """~a bitwise (not for bools)."""
    return np.asarray(np.invert(a))
