"""CUDA kernels of mg.linear_scan: a chunked parallel scan, parallel over the scan axis too.

Arrays are viewed as (P, T, Q) (axes before the scan axis, the scan axis, axes after it), flat and
C-contiguous as every array of this backend. The scan axis is cut into C chunks of L steps and the
scan runs in three launches (a chunked scan, as in Blelloch 1990): (1) one thread per
(p, chunk, q) composes its chunk into one affine map h -> A h + B; (2) one thread per (p, q) walks
the C maps to each chunk's incoming state; (3) one thread per (p, chunk, q) rescans its chunk from
that state and writes h. Threads of a warp take neighbouring q, so every load is coalesced. Work:
about 2T reads of a and b per column; depth L + C instead of T.

The same kernels run the VJP's reverse scan (g_t = up_t + a_{t+1} g_{t+1}: ``reverse`` walks t
downwards and takes the coefficient one step ahead). The log-space form composes pairs (u, s),
u the log of the b-part and s the sum of log a, with logaddexp, so h_t = exp(u_t) + exp(s_t) h0
(the CPU kernel exps log a and log b and runs the linear recurrence instead: libm's scalar calls
made the logaddexp form 9x slower there; on the device transcendentals are cheap).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .cuda_array_ops import broadcast_to
from .cuda_base import check_device, empty, flat, zeros
from .cuda_kernels import launch

TARGET_THREADS = 1 << 16  # enough (p, chunk, q) threads to fill a GPU
MIN_CHUNK = 8


@cuda.jit(device=True, inline=True)
def _logaddexp(x, y):
    m = max(x, y)
    if m == -math.inf:
        return m
    return m + math.log1p(math.exp(-abs(x - y)))


@cuda.jit(device=True, inline=True)
def place(k, n_q, n_c):
    """Thread k of a (P, C, Q) launch -> (p, chunk, q), q fastest (neighbouring threads take
    neighbouring q, so loads coalesce)."""
    return k // (n_q * n_c), (k // n_q) % n_c, k % n_q


@cuda.jit(device=True, inline=True)
def _time(n_t, position, reverse):
    return n_t - 1 - position if reverse else position


@cuda.jit(device=True, inline=True)
def _coef(a, row, t, n_t, n_q, reverse, log_coef):
    """a_t (forward) or a_{t+1} (reverse; 0 past the end), exp'd when given as log a."""
    if reverse:
        t += 1
        if t >= n_t:
            return a.dtype.type(0)
    v = a[row + t * n_q]
    return math.exp(v) if log_coef else v


@cuda.jit(cache=True)
def _chunk_maps(a, b, n_p, n_t, n_q, length, n_c, reverse, log_coef, map_a, map_b):
    for k in range(cuda.grid(1), n_p * n_c * n_q, cuda.gridsize(1)):
        p, c, q = place(k, n_q, n_c)
        row = p * n_t * n_q + q
        acc_a, acc_b = map_a.dtype.type(1), map_b.dtype.type(0)
        for position in range(c * length, min((c + 1) * length, n_t)):
            t = _time(n_t, position, reverse)
            coef = _coef(a, row, t, n_t, n_q, reverse, log_coef)
            acc_b = coef * acc_b + b[row + t * n_q]
            acc_a = coef * acc_a
        map_a[k], map_b[k] = acc_a, acc_b


@cuda.jit(cache=True)
def carries(map_a, map_b, h0, n_p, n_q, n_c, carry):
    for k in range(cuda.grid(1), n_p * n_q, cuda.gridsize(1)):
        q = k % n_q
        p = k // n_q
        h = h0[k]
        for c in range(n_c):
            j = (p * n_c + c) * n_q + q
            carry[j] = h
            h = map_a[j] * h + map_b[j]


@cuda.jit(cache=True)
def _chunk_apply(a, b, carry, n_p, n_t, n_q, length, n_c, reverse, log_coef, out):
    for k in range(cuda.grid(1), n_p * n_c * n_q, cuda.gridsize(1)):
        p, c, q = place(k, n_q, n_c)
        row = p * n_t * n_q + q
        h = carry[k]
        for position in range(c * length, min((c + 1) * length, n_t)):
            t = _time(n_t, position, reverse)
            h = _coef(a, row, t, n_t, n_q, reverse, log_coef) * h + b[row + t * n_q]
            out[row + t * n_q] = h


@cuda.jit(cache=True)
def _log_chunk_maps(log_a, log_b, n_p, n_t, n_q, length, n_c, map_u, map_s):
    for k in range(cuda.grid(1), n_p * n_c * n_q, cuda.gridsize(1)):
        p, c, q = place(k, n_q, n_c)
        row = p * n_t * n_q + q
        u, s = map_u.dtype.type(-math.inf), map_s.dtype.type(0)
        for t in range(c * length, min((c + 1) * length, n_t)):
            la = log_a[row + t * n_q]
            u = _logaddexp(la + u, log_b[row + t * n_q])
            s += la
        map_u[k], map_s[k] = u, s


@cuda.jit(cache=True)
def _log_carries(map_u, map_s, n_p, n_q, n_c, carry_u, carry_s):
    for k in range(cuda.grid(1), n_p * n_q, cuda.gridsize(1)):
        q = k % n_q
        p = k // n_q
        u, s = carry_u.dtype.type(-math.inf), carry_s.dtype.type(0)
        for c in range(n_c):
            j = (p * n_c + c) * n_q + q
            carry_u[j], carry_s[j] = u, s
            u = _logaddexp(map_s[j] + u, map_u[j])
            s += map_s[j]


@cuda.jit(cache=True)
def _log_chunk_apply(log_a, log_b, h0, carry_u, carry_s, n_p, n_t, n_q, length, n_c, out):
    for k in range(cuda.grid(1), n_p * n_c * n_q, cuda.gridsize(1)):
        p, c, q = place(k, n_q, n_c)
        row = p * n_t * n_q + q
        u, s, start = carry_u[k], carry_s[k], h0[p * n_q + q]
        for t in range(c * length, min((c + 1) * length, n_t)):
            la = log_a[row + t * n_q]
            u = _logaddexp(la + u, log_b[row + t * n_q])
            s += la
            out[row + t * n_q] = math.exp(u) + math.exp(s) * start


@cuda.jit(cache=True)
def _grads(a, b, h, h0, acc, n_p, n_t, n_q, log_space, grad_a, grad_b, grad_h0):
    # from dL/dh_t (acc): d b_t = acc_t (times b_t in log space), d a_t = acc_t h_{t-1}
    # (times a_t), d h0 = a_0 acc_0
    for k in range(cuda.grid(1), n_p * n_t * n_q, cuda.gridsize(1)):
        q = k % n_q
        t = (k // n_q) % n_t
        p = k // (n_q * n_t)
        previous = h[k - n_q] if t > 0 else h0[p * n_q + q]
        coef = math.exp(a[k]) if log_space else a[k]
        if log_space:
            grad_a[k] = acc[k] * previous * coef
            grad_b[k] = acc[k] * math.exp(b[k])
        else:
            grad_a[k] = acc[k] * previous
            grad_b[k] = acc[k]
        if t == 0:
            grad_h0[p * n_q + q] = coef * acc[k]


def _pqt(shape, axis):
    before = int(np.prod(shape[:axis], dtype=np.int64))
    after = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return before, int(shape[axis]), after


def chunks(n_p, n_t, n_q):
    """(chunk length L, chunk count C): enough threads, chunks of at least MIN_CHUNK steps."""
    count = max(1, min(-(-TARGET_THREADS // max(1, n_p * n_q)), -(-n_t // MIN_CHUNK)))
    length = -(-n_t // count)
    return length, -(-n_t // length)


def _scan(a, b, h0, n_p, n_t, n_q, reverse, log_coef):
    """The (optionally reversed) linear scan of flat (P, T, Q) arrays from h0 (P*Q,)."""
    length, n_c = chunks(n_p, n_t, n_q)
    map_a, map_b = empty((n_p * n_c * n_q,), a.dtype), empty((n_p * n_c * n_q,), a.dtype)
    carry = empty((n_p * n_c * n_q,), a.dtype)
    out = empty((n_p * n_t * n_q,), a.dtype)
    grid = launch(n_p * n_c * n_q)
    _chunk_maps[grid](a, b, n_p, n_t, n_q, length, n_c, reverse, log_coef, map_a, map_b)
    carries[launch(n_p * n_q)](map_a, map_b, h0, n_p, n_q, n_c, carry)
    _chunk_apply[grid](a, b, carry, n_p, n_t, n_q, length, n_c, reverse, log_coef, out)
    return out


def linear_scan(a, b, h0, axis, log_space=False):
    check_device(a, b, h0)
    shape = tuple(a.shape)
    n_p, n_t, n_q = _pqt(shape, axis)
    if not a.size:
        return empty(shape, a.dtype)
    a, b, h0 = flat(a), flat(b), flat(h0 if tuple(h0.shape) == shape[:axis] + shape[axis + 1:]
                                      else broadcast_to(h0, shape[:axis] + shape[axis + 1:]))
    if not log_space:
        return _scan(a, b, h0, n_p, n_t, n_q, False, False).reshape(shape)
    length, n_c = chunks(n_p, n_t, n_q)
    size = n_p * n_c * n_q
    map_u, map_s, carry_u, carry_s = (empty((size,), a.dtype) for _ in range(4))
    out = empty((a.size,), a.dtype)
    grid = launch(size)
    _log_chunk_maps[grid](a, b, n_p, n_t, n_q, length, n_c, map_u, map_s)
    _log_carries[launch(n_p * n_q)](map_u, map_s, n_p, n_q, n_c, carry_u, carry_s)
    _log_chunk_apply[grid](a, b, h0, carry_u, carry_s, n_p, n_t, n_q, length, n_c, out)
    return out.reshape(shape)


def linear_scan_backward(a, b, h, h0, g, axis, log_space=False):
    check_device(a, b, h, h0, g)
    shape = tuple(a.shape)
    state = shape[:axis] + shape[axis + 1:]
    n_p, n_t, n_q = _pqt(shape, axis)
    grad_a, grad_b = empty(shape, a.dtype), empty(shape, a.dtype)
    grad_h0 = zeros(state, a.dtype)
    if not a.size:
        return grad_a, grad_b, grad_h0
    if tuple(g.shape) != shape:
        g = broadcast_to(g, shape)
    start = zeros((n_p * n_q,), a.dtype)
    acc = _scan(flat(a), flat(g), start, n_p, n_t, n_q, True, bool(log_space))
    _grads[launch(a.size)](flat(a), flat(b), flat(h), flat(h0), acc, n_p, n_t, n_q,
                           bool(log_space), flat(grad_a), flat(grad_b), flat(grad_h0))
    return grad_a, grad_b, grad_h0


def ptx_signatures() -> dict:
    """float32 argument types of the linear-scan kernels, for tests/cuda/ptx_check.py."""
    from numba import types

    v, i, b = types.float32[::1], types.int64, types.boolean
    return {
        "linear_scan_chunk_maps": (_chunk_maps, (v, v, i, i, i, i, i, b, b, v, v)),
        "linear_scan_carries": (carries, (v, v, v, i, i, i, v)),
        "linear_scan_chunk_apply": (_chunk_apply, (v, v, v, i, i, i, i, i, b, b, v)),
        "linear_scan_log_chunk_maps": (_log_chunk_maps, (v, v, i, i, i, i, i, v, v)),
        "linear_scan_log_carries": (_log_carries, (v, v, i, i, i, v, v)),
        "linear_scan_log_chunk_apply": (_log_chunk_apply, (v, v, v, v, v, i, i, i, i, i, v)),
        "linear_scan_grads": (_grads, (v, v, v, v, v, i, i, i, b, v, v, v)),
    }
