"""CPU kernels of the linear recurrence h_t = a_t h_{t-1} + b_t along one axis (mg.linear_scan).

Arrays arrive as (P, T, Q) views (the axes before the scan axis, the scan axis, the axes after
it), so no axis is ever moved: the work is cut into jobs of one p and a block of up to BLOCK
contiguous q, run in parallel (prange); each job walks T in order, its inner loop over q
contiguous in memory (it vectorises). With the scan axis last (Q = 1) each job is one row.
The CUDA twin is ``cuda_scan`` (same names and signatures).

The log-space form takes log a_t and log b_t (b_t >= 0) and keeps, per column, u_t = log of the
b-part (u_t = logaddexp(log a_t + u_{t-1}, log b_t), u_{-1} = -inf) and s_t = sum of log a up to
t, so h_t = exp(u_t) + exp(s_t) h0: every step is a stable logaddexp, and nothing is divided by a
cumulative product (the cumsum/logcumsumexp of Heinsen 2023 loses the difference s_t - s_k when
|s_t| is large in float32; this recurrence never forms it).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_JIT = {"cache": True, "error_model": "numpy", "boundscheck": False}
BLOCK = 64  # columns per job: one row of a job is 256 bytes in float32


@njit(inline="always")
def _logaddexp(x, y):
    m = max(x, y)
    if m == -np.inf:
        return m
    return m + np.log1p(np.exp(-abs(x - y)))


@njit(parallel=True, **_JIT)
def _forward(a, b, h0, out):
    n_p, n_t, n_q = a.shape
    blocks = (n_q + BLOCK - 1) // BLOCK
    for job in prange(n_p * blocks):
        p = job // blocks
        q0 = (job % blocks) * BLOCK
        q1 = min(q0 + BLOCK, n_q)
        for q in range(q0, q1):
            out[p, 0, q] = a[p, 0, q] * h0[p, q] + b[p, 0, q]
        for t in range(1, n_t):
            for q in range(q0, q1):
                out[p, t, q] = a[p, t, q] * out[p, t - 1, q] + b[p, t, q]


@njit(parallel=True, **_JIT)
def _forward_log(log_a, log_b, h0, out):
    n_p, n_t, n_q = log_a.shape
    blocks = (n_q + BLOCK - 1) // BLOCK
    for job in prange(n_p * blocks):
        p = job // blocks
        q0 = (job % blocks) * BLOCK
        width = min(q0 + BLOCK, n_q) - q0
        u = np.full(width, -np.inf, log_a.dtype)  # log of the b-part
        s = np.zeros(width, log_a.dtype)  # log of the product of a
        for t in range(n_t):
            for j in range(width):
                q = q0 + j
                la = log_a[p, t, q]
                u[j] = _logaddexp(la + u[j], log_b[p, t, q])
                s[j] += la
                out[p, t, q] = np.exp(u[j]) + np.exp(s[j]) * h0[p, q]


@njit(parallel=True, **_JIT)
def _backward(a, h, h0, g, grad_a, grad_b, grad_h0):
    # grad_b_t = dL/dh_t (total) = g_t + a_{t+1} grad_b_{t+1}; grad_a_t = grad_b_t h_{t-1};
    # grad_h0 = a_0 grad_b_0
    n_p, n_t, n_q = a.shape
    blocks = (n_q + BLOCK - 1) // BLOCK
    for job in prange(n_p * blocks):
        p = job // blocks
        q0 = (job % blocks) * BLOCK
        q1 = min(q0 + BLOCK, n_q)
        last = n_t - 1
        for q in range(q0, q1):
            grad_b[p, last, q] = g[p, last, q]
        for t in range(last - 1, -1, -1):
            for q in range(q0, q1):
                grad_b[p, t, q] = g[p, t, q] + a[p, t + 1, q] * grad_b[p, t + 1, q]
        for t in range(1, n_t):
            for q in range(q0, q1):
                grad_a[p, t, q] = grad_b[p, t, q] * h[p, t - 1, q]
        for q in range(q0, q1):
            grad_a[p, 0, q] = grad_b[p, 0, q] * h0[p, q]
            grad_h0[p, q] = a[p, 0, q] * grad_b[p, 0, q]


@njit(parallel=True, **_JIT)
def _backward_log(log_a, log_b, h, h0, g, grad_a, grad_b, grad_h0):
    # the linear form's gradients times d a / d log a = a and d b / d log b = b
    n_p, n_t, n_q = log_a.shape
    blocks = (n_q + BLOCK - 1) // BLOCK
    for job in prange(n_p * blocks):
        p = job // blocks
        q0 = (job % blocks) * BLOCK
        width = min(q0 + BLOCK, n_q) - q0
        acc = np.zeros(width, log_a.dtype)  # dL/dh_t
        for t in range(n_t - 1, -1, -1):
            for j in range(width):
                q = q0 + j
                if t + 1 < n_t:
                    acc[j] = g[p, t, q] + np.exp(log_a[p, t + 1, q]) * acc[j]
                else:
                    acc[j] = g[p, t, q]
                previous = h[p, t - 1, q] if t > 0 else h0[p, q]
                grad_a[p, t, q] = acc[j] * np.exp(log_a[p, t, q]) * previous
                grad_b[p, t, q] = acc[j] * np.exp(log_b[p, t, q])
        for j in range(width):
            grad_h0[p, q0 + j] = np.exp(log_a[p, 0, q0 + j]) * acc[j]


def _pqt(shape, axis):
    """The (P, T, Q) shape that views an array of `shape` around `axis`."""
    before = int(np.prod(shape[:axis], dtype=np.int64))
    after = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return before, shape[axis], after


def _view(x, pqt):
    return np.ascontiguousarray(x).reshape(pqt)


def linear_scan(a, b, h0, axis, log_space=False):
    """Every h_t = a_t h_{t-1} + b_t along axis (a, b of one shape; h0 that shape without axis);
    with log_space, a and b hold log a_t and log b_t and the result is still h_t."""
    pqt = _pqt(a.shape, axis)
    out = np.empty(a.shape, a.dtype)
    if out.size:
        kernel = _forward_log if log_space else _forward
        kernel(_view(a, pqt), _view(b, pqt), _view(h0, (pqt[0], pqt[2])), out.reshape(pqt))
    return out


def linear_scan_backward(a, b, h, h0, g, axis, log_space=False):
    """(dL/da, dL/db, dL/dh0) of linear_scan's output h for upstream g (in log space: dL/dlog a,
    dL/dlog b); dL/db is every step's total dL/dh_t."""
    pqt = _pqt(a.shape, axis)
    grad_a, grad_b = np.empty(a.shape, a.dtype), np.empty(a.shape, a.dtype)
    grad_h0 = np.zeros(h0.shape, a.dtype)
    if grad_a.size:
        g = _view(np.broadcast_to(g, a.shape).astype(a.dtype, copy=False), pqt)
        views = (_view(h, pqt), _view(h0, (pqt[0], pqt[2])), g, grad_a.reshape(pqt),
                 grad_b.reshape(pqt), grad_h0.reshape((pqt[0], pqt[2])))
        if log_space:
            _backward_log(_view(a, pqt), _view(b, pqt), *views)
        else:
            _backward(_view(a, pqt), *views)
    return grad_a, grad_b, grad_h0
