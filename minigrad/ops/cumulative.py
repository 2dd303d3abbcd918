"""Scans with torch's edge semantics (cummax, cummin, logcumsumexp) and std_mean.

cummax/cummin return (values, int64 indices) as torch's: ties take the later index, a NaN is the
running extreme from where it appears (its index, updated by each later NaN); values are gathered
at the indices, so their gradient scatters back there (torch's). logcumsumexp is a running
logaddexp (no underflow far below the running maximum); its gradient is torch's log-domain form,
finite where the plain exp(x - out) form overflows. The axis is required for the scans (torch's
``dim``); a 0-d tensor scans as one element.
"""

from __future__ import annotations

import numpy as np

from ..autograd import record
from ..backends import backend_of
from ..tensor import Tensor
from .reduce import mean
from .reductions import axis_index, std, var
from .selection import take_along_axis


def _scan_operand(name: str, a, axis):
    if not isinstance(a, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(a).__name__}")
    if axis is None:
        raise TypeError(f"{name}: axis is required (torch's dim), got None")
    return axis_index(name, axis, a.ndim)


def _cumextreme(name: str, a: Tensor, axis: int, largest: bool):
    ax = _scan_operand(name, a, axis)
    if a.ndim == 0:
        return a, Tensor._wrap(backend_of(a.data).zeros((), np.int64))
    be = backend_of(a.data)
    index = Tensor._wrap(be.cumextreme_index(a.data, ax, largest))
    return take_along_axis(a, index, ax), index


def cummax(a: Tensor, axis: int) -> tuple[Tensor, Tensor]:
    """(running maximum, its int64 index) along axis; the gradient goes to the indices."""
    return _cumextreme("cummax", a, axis, True)


def cummin(a: Tensor, axis: int) -> tuple[Tensor, Tensor]:
    """(running minimum, its int64 index) along axis; the gradient goes to the indices."""
    return _cumextreme("cummin", a, axis, False)


def logcumsumexp(a: Tensor, axis: int) -> Tensor:
    """out_j = log(sum_{i <= j} exp(a_i)) along axis; d/da_i = sum_{j >= i} g_j exp(a_i - out_j),
    summed in the log domain per sign of g (torch's)."""
    ax = _scan_operand("logcumsumexp", a, axis)
    if a.dtype.kind != "f":
        raise TypeError(f"logcumsumexp: needs a float32 or float64 tensor, got {a.dtype}")
    if a.ndim == 0:
        return a * 1.0
    be = backend_of(a.data)
    x = a.data
    out = be.logcumsumexp(x, ax)
    reverse = (slice(None),) * ax + (slice(None, None, -1),)
    t = x.dtype.type

    def reverse_scan(v):
        return be.getitem(be.logcumsumexp(be.getitem(v, reverse), ax), reverse)

    def backward(g):
        lowest = t(np.finfo(x.dtype).min)
        magnitude = be.absolute(g)
        log_abs = be.log(be.where(be.compare("gt", magnitude, t(0)), magnitude, t(1)))
        parts = []
        for op in ("gt", "lt"):
            log_part = be.where(be.compare(op, g, t(0)), log_abs, lowest)
            with np.errstate(invalid="ignore", over="ignore"):
                parts.append(be.exp(be.add(reverse_scan(be.sub(log_part, out)), x)))
        return (be.sub(parts[0], parts[1]),)

    return record("logcumsumexp", out, (a,), backward)


def std_mean(a: Tensor, axis=None, correction: int = 0, keepdims=False) -> tuple[Tensor, Tensor]:
    """(std, mean) over axis; correction=0 by default as minigrad's std (torch's is 1)."""
    return std(a, axis, correction, keepdims), mean(a, axis, keepdims)


def var_mean(a: Tensor, axis=None, correction: int = 0, keepdims=False) -> tuple[Tensor, Tensor]:
    """(var, mean) over axis; correction=0 by default as minigrad's var (torch's is 1)."""
    return var(a, axis, correction, keepdims), mean(a, axis, keepdims)
