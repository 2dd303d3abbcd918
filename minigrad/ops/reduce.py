"""Reductions: sum, mean, max over axes; backward broadcasts the gradient back."""

from __future__ import annotations

import warnings

import numpy as np

from .. import autograd
from ..autograd import record
from ..backends import backend_of
from ..tensor import Tensor
from .axes import reduction_axes as _normalize_axes
from .elementwise import as_floating, astype


def _expand(be, g, axes, shape, keepdims):
    """g reshaped to keep the reduced axes, then broadcast to `shape`."""
    if not keepdims:
        kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
        g = be.reshape(g, kept)
    return be.broadcast_to(g, shape)


def accumulating(a: Tensor) -> Tensor:
    """Bool and integer sums and products accumulate in int64 (uint64 for unsigned), as numpy's
    do (torch: int64 for both): an int8 or bool running total would wrap or saturate silently."""
    if a.dtype.kind == "b" or (a.dtype.kind in "iu" and a.dtype.itemsize < 8):
        return astype(a, np.uint64 if a.dtype.kind == "u" else np.int64)
    return a


def sum(a: Tensor, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """sum of a over axis; d/da = g broadcast to a's shape."""
    a = accumulating(a)
    be = backend_of(a.data)
    axes = _normalize_axes("sum", axis, a.ndim)
    shape = a.shape
    out = be.sum(a.data, axis=axes, keepdims=keepdims)
    return record("sum", out, (a,), lambda g: (_expand(be, g, axes, shape, keepdims),))


def mean(a: Tensor, axis=None, keepdims=False) -> Tensor:
    """mean of a over axis; d/da = g / n broadcast to a's shape."""
    a = as_floating(a, np.float64)
    be = backend_of(a.data)
    axes = _normalize_axes("mean", axis, a.ndim)
    shape = a.shape
    count = 1
    for ax in axes:
        count *= shape[ax]
    if count == 0:  # NaN, as numpy (with its warning) and torch
        warnings.warn("mean: mean of empty slice", RuntimeWarning, stacklevel=2)
    scale = a.dtype.type(1.0 / count if count else np.nan)
    out = be.mul(be.sum(a.data, axis=axes, keepdims=keepdims), scale)
    return record(
        "mean", out, (a,), lambda g: (_expand(be, be.mul(g, scale), axes, shape, keepdims),)
    )


def empty_axes_error(name, shape, axes):
    """A ValueError when a reduced axis has no elements (numpy and torch refuse those too)."""
    for ax in axes:
        if shape[ax] == 0:
            return ValueError(f"{name}: cannot reduce axis {ax} of size 0 (shape {shape}): the "
                              "reduction has no identity")
    return None


def max(a: Tensor, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """max of a over axis; the gradient is shared equally among tied maxima (as torch.amax), among
    the NaNs where the maximum is NaN (torch's rule for max: NaN is the largest)."""
    be = backend_of(a.data)
    axes = _normalize_axes("max", axis, a.ndim)
    error = empty_axes_error("max", a.shape, axes)
    if error is not None:
        raise error
    x = a.data
    shape = a.shape
    out_kept = be.amax(x, axis=axes, keepdims=True)
    out = out_kept if keepdims else be.reshape(out_kept, tuple(
        n for i, n in enumerate(shape) if i not in axes))

    def backward(g):
        hit = be.equal(x, out_kept)
        # a NaN maximum: its gradient goes to the NaNs (always on a device and inside
        # mg.compile: asking whether there is one would copy to the host, or freeze the answer)
        if be.name != "cpu" or autograd.state.compiling or not be.all_finite(out_kept):
            hit = be.logical("or", hit, be.logical(
                "and", be.compare("ne", x, x), be.compare("ne", out_kept, out_kept)))
        mask = be.astype(hit, x.dtype)
        count = be.sum(mask, axis=axes, keepdims=True)
        g = _expand(be, g, axes, shape, keepdims)
        return (be.div(be.mul(g, mask), count),)

    return record("max", out, (a,), backward)
