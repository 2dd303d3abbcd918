"""The row reductions of fused kernels (compiler/fuse_rows.py): numpy's own summation order, so a
fused row sum equals eager's ``np.sum(x, axis=-1)`` of a contiguous row bit for bit.

``row_sum`` is numpy's pairwise summation (``pairwise_sum`` in numpy's ``loops_utils.h``): fewer
than 8 terms added in order from 0; up to 128 terms in eight interleaved partial sums, combined as
((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the remainder in order; more than that
split in two at half the length rounded down to a multiple of 8, each half summed so and the two
added. Its error grows as log(n), not n, and the partial sums are in the array's own dtype, as
numpy's are (tests/compiler/test_fuse_rows.py checks it against np.sum bit for bit). ``row_max``
propagates NaN as ``np.max`` does.
"""

from __future__ import annotations

import numpy as np
from numba import njit

BLOCK = 128  # numpy's PW_BLOCKSIZE
_OPTIONS = {"cache": True, "error_model": "numpy", "boundscheck": False}


@njit(**_OPTIONS)
def _block(a, lo, n):
    """numpy's pairwise sum of a[lo:lo + n] for n <= 128 (no split)."""
    if n < 8:
        res = a.dtype.type(0)
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    end = n - n % 8
    while i < end:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(**_OPTIONS)
def _half(n):
    half = n // 2
    return half - half % 8


@njit(**_OPTIONS)
def _split1(a, lo, n):
    """numpy's pairwise sum of a[lo:lo + n], its recursion's first levels written out (rows up
    to a few thousand terms allocate nothing); deeper, the explicit stack of _stacked."""
    if n <= BLOCK:
        return _block(a, lo, n)
    half = _half(n)
    return _stacked(a, lo, half) + _stacked(a, lo + half, n - half)


@njit(**_OPTIONS)
def _split2(a, lo, n):
    if n <= BLOCK:
        return _block(a, lo, n)
    half = _half(n)
    return _split1(a, lo, half) + _split1(a, lo + half, n - half)


@njit(**_OPTIONS)
def _split3(a, lo, n):
    if n <= BLOCK:
        return _block(a, lo, n)
    half = _half(n)
    return _split2(a, lo, half) + _split2(a, lo + half, n - half)


@njit(**_OPTIONS)
def _split4(a, lo, n):
    if n <= BLOCK:
        return _block(a, lo, n)
    half = _half(n)
    return _split3(a, lo, half) + _split3(a, lo + half, n - half)


@njit(**_OPTIONS)
def row_sum(a):
    """The sum of the 1-d array a, in numpy's pairwise order (0 + the pairwise sum, as np.sum).
    Numba's disk cache does not keep recursive functions: numpy's recursion is written out four
    levels deep (_split4 .. _split1), then walked with an explicit stack (_stacked)."""
    return a.dtype.type(0) + _split4(a, 0, a.shape[0])


@njit(**_OPTIONS)
def _stacked(a, lo, n):
    """numpy's pairwise sum of a[lo:lo + n], its recursion (left half, right half, their sum)
    walked with an explicit stack."""
    zero = a.dtype.type(0)
    if n <= BLOCK:
        return _block(a, lo, n)
    starts = np.empty(64, np.int64)
    sizes = np.empty(64, np.int64)
    right = np.zeros(64, np.bool_)  # the frame's left half is summed (into lefts)
    lefts = np.empty(64, a.dtype)
    top, starts[0], sizes[0], total = 0, lo, n, zero
    while top >= 0:
        if sizes[top] > BLOCK:  # split: the left half first
            starts[top + 1], sizes[top + 1], right[top + 1] = starts[top], _half(sizes[top]), False
            top += 1
            continue
        v = _block(a, starts[top], sizes[top])
        top -= 1
        while top >= 0 and right[top]:  # both halves done: the frame's sum goes up
            v = lefts[top] + v
            top -= 1
        if top < 0:
            total = v
            break
        lefts[top], right[top] = v, True  # the right half next
        half = _half(sizes[top])
        starts[top + 1], sizes[top + 1], right[top + 1] = starts[top] + half, sizes[top] - half, \
            False
        top += 1
    return total


@njit(**_OPTIONS)
def row_max(a):
    """The largest element of the 1-d array a (NaN if any is NaN, as np.max); a is not empty."""
    m = a[0]
    for i in range(1, a.shape[0]):
        v = a[i]
        if v > m or v != v:
            m = v
            if v != v:
                return v
    return m
