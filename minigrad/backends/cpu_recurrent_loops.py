"""Helpers the generated time loops call once per step (minigrad.compiler.emit_cpu)."""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}, "boundscheck": False,
        "nogil": True}


# ---- small helpers called once per step --------------------------------------------------------


@njit(**_JIT)
def row_norms(a, out):
    """out[b] = ||a[b]||_2, summed in a's dtype."""
    for b in range(a.shape[0]):
        total = a.dtype.type(0.0)
        for j in range(a.shape[1]):
            total += a[b, j] * a[b, j]
        out[b] = np.sqrt(total)


@njit(cache=True, error_model="numpy", fastmath=True, boundscheck=False)
def project_rows(d, w_t, out):
    """out[b, i] = sum_k d[b, k] w_t[i, k] over the first w_t.shape[1] columns of d: d @ w_t.T for
    a handful of columns i, while d's rows are in cache (a BLAS call per step costs more than this
    when input_size is tiny). d must be C-contiguous: a row of a column-sliced view has a run-time
    stride and the dot product would not vectorise (4x slower)."""
    K = w_t.shape[1]
    for b in range(d.shape[0]):
        row = d[b, :K]
        for i in range(w_t.shape[0]):
            w = w_t[i]
            acc = out.dtype.type(0.0)
            for k in range(K):
                acc += row[k] * w[k]
            out[b, i] = acc
