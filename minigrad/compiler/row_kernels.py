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
STACK = 64  # frames: the halves shrink by 2 per level, so 2^64 terms at the most
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
def new_stack():
    """The scratch row_sum walks numpy's recursion in: one per kernel call, reused by every
    row (frames of start, size, right half pending, left half's sum; float64 holds each exactly)."""
    return np.empty((STACK, 4))


@njit(**_OPTIONS)
def row_sum(a, stack):
    """The sum of the 1-d array a in numpy's pairwise order (0 + the pairwise sum, as np.sum).
    Longer than 128 terms: numpy's recursion (left half, right half, their sum) walked with the
    explicit stack `stack` (new_stack(); Numba's disk cache does not keep recursive functions)."""
    n = a.shape[0]
    zero = a.dtype.type(0)
    if n <= BLOCK:
        return zero + _block(a, 0, n)
    top, total = 0, zero
    stack[0, 0], stack[0, 1], stack[0, 2] = 0, n, 0
    while top >= 0:
        size = int(stack[top, 1])
        if size > BLOCK:  # split: the left half first
            stack[top + 1, 0], stack[top + 1, 1], stack[top + 1, 2] = stack[top, 0], \
                _half(size), 0
            top += 1
            continue
        v = _block(a, int(stack[top, 0]), size)
        top -= 1
        while top >= 0 and stack[top, 2]:  # both halves done: the frame's sum goes up
            v = a.dtype.type(stack[top, 3]) + v
            top -= 1
        if top < 0:
            total = v
            break
        stack[top, 2], stack[top, 3] = 1, v  # the right half next
        half = _half(int(stack[top, 1]))
        stack[top + 1, 0], stack[top + 1, 1], stack[top + 1, 2] = stack[top, 0] + half, \
            stack[top, 1] - half, 0
        top += 1
    return zero + total


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
