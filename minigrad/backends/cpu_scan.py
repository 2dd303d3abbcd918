"""CPU kernels of the linear recurrence h_t = a_t h_{t-1} + b_t along one axis (mg.linear_scan).

Arrays arrive as (P, T, Q) views (the axes before the scan axis, the scan axis, the axes after
it), so no axis is ever moved: the work is cut into jobs of one p and a stripe of contiguous q
(about Q / threads wide, so each thread streams long rows: 64-column stripes ran 2-4x slower,
the rows' 16 KB stride defeating the prefetcher), run in parallel (prange); each job walks T in
order, its inner loop over q contiguous in memory (it vectorises). With the scan axis last (Q = 1)
each job is one row. Each step's stripe is taken as a row of its own (a slice indexed from 0):
indexed as a[p, t, q] for q in q0..q1 the same loops ran 2.0-2.6x slower (T 100 and 1000, B*H
4096: 178 against 68 us, 2.53 against 1.24 ms; np.add over the same arrays 51 us and 1.02 ms;
docs/performance.md, session 12). The CUDA twin is ``cuda_scan`` (same names and signatures).

The log-space form takes log a_t and log b_t (b_t >= 0) and runs the same recurrence on
a_t = exp(log a_t), b_t = exp(log b_t) (numpy's SIMD exp). With a_t, b_t >= 0 every term of h_t
is non-negative (h0 apart), so the recurrence has no cancellation: relative error O(T eps), as a
logaddexp recurrence in log space, and unlike the cumsum/logcumsumexp of Heinsen 2023 it never
forms sums of log a whose difference it then needs (that loses digits when |sum log a| is large
in float32). A logaddexp recurrence (exp, log1p and exp per element, scalar libm calls) took
265 ms against 30 ms for this at T = 1000, B*H = 4096 (loaded 2-core machine, 2026-12-06).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

_JIT = {"cache": True, "error_model": "numpy", "boundscheck": False}
MIN_WIDTH = 64  # columns per job at least


@njit(inline="always", **_JIT)
def stripe(job, n_q, width):
    """Job `job` of (n_p * ceil(n_q / width)) jobs -> (p, q0, q1): one p, a stripe of q."""
    blocks = (n_q + width - 1) // width
    q0 = (job % blocks) * width
    return job // blocks, q0, min(q0 + width, n_q)


@njit(**_JIT)
def _forward_job(a, b, h0, out, p, q0, q1):
    """Steps 0..T - 1 of p's stripe q0:q1, each step's stripe a row of its own indexed from 0."""
    prev = h0[p, q0:q1]
    for t in range(a.shape[1]):
        row, a_t, b_t = out[p, t, q0:q1], a[p, t, q0:q1], b[p, t, q0:q1]
        for q in range(q1 - q0):
            row[q] = a_t[q] * prev[q] + b_t[q]
        prev = row


@njit(**_JIT)
def _backward_job(a, h, h0, g, grad_a, grad_b, grad_h0, p, q0, q1):
    """The reverse pass of p's stripe q0:q1: grad_b_t = dL/dh_t (total) = g_t + a_(t+1)
    grad_b_(t+1), grad_a_t = grad_b_t h_(t-1), grad_h0 = a_0 grad_b_0."""
    last = a.shape[1] - 1
    for t in range(last, -1, -1):
        g_t, gb_t, ga_t = g[p, t, q0:q1], grad_b[p, t, q0:q1], grad_a[p, t, q0:q1]
        prev = h[p, t - 1, q0:q1] if t > 0 else h0[p, q0:q1]
        if t < last:
            a_next, gb_next = a[p, t + 1, q0:q1], grad_b[p, t + 1, q0:q1]
            for q in range(q1 - q0):
                acc = g_t[q] + a_next[q] * gb_next[q]
                gb_t[q] = acc
                ga_t[q] = acc * prev[q]
        else:
            for q in range(q1 - q0):
                gb_t[q] = g_t[q]
                ga_t[q] = g_t[q] * prev[q]
    a_0, gb_0, gh = a[p, 0, q0:q1], grad_b[p, 0, q0:q1], grad_h0[p, q0:q1]
    for q in range(q1 - q0):
        gh[q] = a_0[q] * gb_0[q]


@njit(parallel=True, **_JIT)
def _forward(a, b, h0, out, width):
    n_p, n_q = a.shape[0], a.shape[2]
    for job in prange(n_p * ((n_q + width - 1) // width)):
        p, q0, q1 = stripe(job, n_q, width)
        _forward_job(a, b, h0, out, p, q0, q1)


@njit(**_JIT)
def _forward_serial(a, b, h0, out, width):
    n_p, n_q = a.shape[0], a.shape[2]
    for job in range(n_p * ((n_q + width - 1) // width)):
        p, q0, q1 = stripe(job, n_q, width)
        _forward_job(a, b, h0, out, p, q0, q1)


@njit(parallel=True, **_JIT)
def _backward(a, h, h0, g, grad_a, grad_b, grad_h0, width):
    n_p, n_q = a.shape[0], a.shape[2]
    for job in prange(n_p * ((n_q + width - 1) // width)):
        p, q0, q1 = stripe(job, n_q, width)
        _backward_job(a, h, h0, g, grad_a, grad_b, grad_h0, p, q0, q1)


@njit(**_JIT)
def _backward_serial(a, h, h0, g, grad_a, grad_b, grad_h0, width):
    n_p, n_q = a.shape[0], a.shape[2]
    for job in range(n_p * ((n_q + width - 1) // width)):
        p, q0, q1 = stripe(job, n_q, width)
        _backward_job(a, h, h0, g, grad_a, grad_b, grad_h0, p, q0, q1)


def _pqt(shape, axis):
    """The (P, T, Q) shape that views an array of `shape` around `axis`."""
    before = int(np.prod(shape[:axis], dtype=np.int64))
    after = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return before, shape[axis], after


def _view(x, pqt):
    return np.ascontiguousarray(x).reshape(pqt)


# Below this many elements a scan runs on the calling thread: waking the parallel region's
# threads cost about 35 us (passive OpenMP waiting), more than half the work of a
# (100, 4096) float32 scan (70 us forward, 128 backward on one thread; docs/performance.md,
# session 12).
SERIAL_MAX_ELEMENTS = 1 << 19


def _kernel(parallel, serial, size):
    return serial if size <= SERIAL_MAX_ELEMENTS else parallel


def _width(n_p, n_q):
    """Columns per job: one stripe per thread when P alone cannot keep the threads busy."""
    threads = numba.get_num_threads()
    if n_p >= threads:
        return max(n_q, 1)
    return max(MIN_WIDTH, -(-n_q * n_p // threads))


def linear_scan(a, b, h0, axis, log_space=False):
    """Every h_t = a_t h_{t-1} + b_t along axis (a, b of one shape; h0 that shape without axis);
    with log_space, a and b hold log a_t and log b_t and the result is still h_t."""
    pqt = _pqt(a.shape, axis)
    out = np.empty(a.shape, a.dtype)
    if out.size:
        if log_space:
            a, b = np.exp(a), np.exp(b)
        _kernel(_forward, _forward_serial, out.size)(
            _view(a, pqt), _view(b, pqt), _view(h0, (pqt[0], pqt[2])), out.reshape(pqt),
            _width(pqt[0], pqt[2]))
    return out


def linear_scan_backward(a, b, h, h0, g, axis, log_space=False):
    """(dL/da, dL/db, dL/dh0) of linear_scan's output h for upstream g (in log space: dL/dlog a,
    dL/dlog b); dL/db is every step's total dL/dh_t."""
    pqt = _pqt(a.shape, axis)
    grad_a, grad_b = np.empty(a.shape, a.dtype), np.empty(a.shape, a.dtype)
    grad_h0 = np.zeros(h0.shape, a.dtype)
    if grad_a.size:
        if log_space:
            a, b = np.exp(a), np.exp(b)
        g = _view(np.broadcast_to(g, a.shape).astype(a.dtype, copy=False), pqt)
        _kernel(_backward, _backward_serial, grad_a.size)(
            _view(a, pqt), _view(h, pqt), _view(h0, (pqt[0], pqt[2])), g, grad_a.reshape(pqt),
            grad_b.reshape(pqt), grad_h0.reshape((pqt[0], pqt[2])), _width(pqt[0], pqt[2]))
        if log_space:  # d a / d log a = a, d b / d log b = b
            np.multiply(grad_a, a, out=grad_a)
            np.multiply(grad_b, b, out=grad_b)
    return grad_a, grad_b, grad_h0
