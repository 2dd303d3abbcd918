"""CPU kernels along one axis: arg-reductions, scans and sorting (numpy, plus one Numba scan).

The CUDA twin is ``cuda_axis`` (same names and signatures). ``axis`` is already normalised to
0 <= axis < ndim by the ops.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [  # the backend's along-axis functions (interface.Backend)
    "argmax", "argmin", "argsort", "cumprod", "cumprod_backward", "cumsum",
    "scatter_add_along_axis", "take_along_axis",
]

_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}, "boundscheck": False}


def argmax(a, axis):
    """Index of the first largest value along axis (NaN counts as largest, as numpy)."""
    return np.asarray(np.argmax(a, axis=axis))


def argmin(a, axis):
    """Index of the first smallest value along axis."""
    return np.asarray(np.argmin(a, axis=axis))


def cumsum(a, axis):
    return np.cumsum(a, axis=axis, dtype=a.dtype)


def cumprod(a, axis):
    return np.cumprod(a, axis=axis, dtype=a.dtype)


def argsort(a, axis, descending=False, stable=False):
    """Sort order along axis (int64); stable keeps ties in order. NaN is the largest value (last
    ascending, first descending), as numpy's sort and torch's sort and topk."""
    if not stable:
        if descending and a.dtype.kind == "f" and not np.isnan(a).any():
            return np.argsort(np.negative(a), axis=axis).astype(np.int64, copy=False)
        if not descending:
            return np.argsort(a, axis=axis).astype(np.int64, copy=False)
    if descending:  # stable descending: reverse, sort stably, map back and reverse again
        n = a.shape[axis]
        order = np.argsort(np.flip(a, axis), axis=axis, kind="stable")
        return np.flip(n - 1 - order, axis).astype(np.int64)
    return np.argsort(a, axis=axis, kind="stable").astype(np.int64, copy=False)


@njit(**_JIT)
def _cumprod_backward_rows(x, g, out):
    # d/dx_i of sum_k g_k prod_{j<=k} x_j = P_i S_i with P_i = prod_{j<i} x_j (exclusive) and
    # S_i = g_i + x_{i+1} S_{i+1}: no division, so zeros in x are exact
    one = x.dtype.type(1.0)
    for r in range(x.shape[0]):
        n = x.shape[1]
        s = x.dtype.type(0.0)
        for i in range(n - 1, -1, -1):
            s = g[r, i] + (x[r, i + 1] * s if i + 1 < n else s)
            out[r, i] = s
        p = one
        for i in range(n):
            out[r, i] *= p
            p *= x[r, i]


def cumprod_backward(x, g, axis):
    """The input gradient of cumprod along axis for upstream g, exact at zeros."""
    moved_x = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    moved_g = np.ascontiguousarray(np.moveaxis(np.broadcast_to(g, x.shape), axis, -1),
                                   dtype=x.dtype)
    n = moved_x.shape[-1] if moved_x.ndim else 1
    out = np.empty_like(moved_x)
    if out.size:
        _cumprod_backward_rows(moved_x.reshape(-1, n), moved_g.reshape(-1, n), out.reshape(-1, n))
    return np.moveaxis(out, -1, axis)


def _leading(shape, indices_shape, axis):
    """The slice of a tensor of `shape` that indices of `indices_shape` address (torch's gather
    lets the index be smaller than the input on the other axes)."""
    return tuple(slice(None) if d == axis else slice(0, indices_shape[d])
                 for d in range(len(shape)))


def take_along_axis(a, indices, axis):
    """out[..., i, ...] = a[..., indices[..., i, ...], ...] (indices in [0, n), int64)."""
    return np.take_along_axis(a[_leading(a.shape, indices.shape, axis)], indices, axis)


@njit(**_JIT)
def _scatter_add_rows(indices, src, out):
    for r in range(indices.shape[0]):
        for j in range(indices.shape[1]):
            out[r, indices[r, j]] += src[r, j]


def scatter_add_along_axis(shape, indices, src, axis, dtype):
    """Zeros of `shape` with src[..., i, ...] added at [..., indices[..., i, ...], ...]."""
    out = np.zeros(shape, dtype=dtype)
    if not indices.size:  # nothing to add (an empty axis, or empty rows)
        return out
    view = np.moveaxis(out[_leading(shape, indices.shape, axis)], axis, -1)
    moved_idx = np.ascontiguousarray(np.moveaxis(indices, axis, -1))
    moved_src = np.ascontiguousarray(np.moveaxis(np.broadcast_to(src, indices.shape), axis, -1),
                                     dtype=dtype)
    if view.flags.c_contiguous:
        n, k = view.shape[-1], moved_idx.shape[-1]
        _scatter_add_rows(moved_idx.reshape(-1, k), moved_src.reshape(-1, k), view.reshape(-1, n))
    else:  # a strided view: let numpy accumulate
        rows = np.indices(moved_idx.shape[:-1] + (1,), sparse=True)[:-1]
        np.add.at(view, (*rows, moved_idx), moved_src)
    return out
