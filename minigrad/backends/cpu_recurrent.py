"""Fused whole-sequence RNN, LSTM and GRU on the CPU: one layer, one direction, raw arrays.

Each ``*_sequence_forward`` computes the input projection of all T steps in one GEMM, then runs
the time loop in compiled code: per step one GEMM with the recurrent weights (accumulated into the
step's slice of the projection) and one fused elementwise kernel. Each ``*_sequence_backward``
runs the reverse loop in compiled code (one fused elementwise backward and one GEMM per step,
writing the pre-activation gradients over the saved gates), then takes the weight gradients as
one GEMM each over all steps. Details and costs: docs/fused_kernels.md.

States live in ``hs`` (and ``cs``), (T + 1, B, H): slot ``t + 1`` (forward) or ``t`` (reverse) is
the state after consuming x[t], the remaining end slot is the initial state. With ``steps`` (the
per-sequence lengths; T when none were given) an element whose step is past its length copies its
state unchanged, which gives PackedSequence semantics in both directions.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from .cpu_blas import gemm
from .cpu_kernels import sigmoid_f32, sigmoid_f64, tanh_f32

_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}, "boundscheck": False}


def _tanh(x):
    raise NotImplementedError  # replaced by the overload inside compiled code


def _sigmoid(x):
    raise NotImplementedError


@overload(_tanh, inline="always")
def _tanh_for(x):
    """float32: the vectorising rational tanh; float64: libm's exact one (gradchecks)."""
    if x == types.float32:
        return lambda x: tanh_f32(x)
    return lambda x: np.tanh(x)


@overload(_sigmoid, inline="always")
def _sigmoid_for(x):
    if x == types.float32:
        return lambda x: sigmoid_f32(x)
    return lambda x: sigmoid_f64(x)


def _slots(reverse: bool, T: int):
    """(index of the initial state, index of the final state) in the (T + 1)-long state buffers."""
    return (T, 0) if reverse else (0, T)


# ---- LSTM --------------------------------------------------------------------------------------


@njit(**_JIT)
def _lstm_forward_loop(gates, hs, cs, w_hh_t, bias, steps, reverse):
    """gates[t] holds x_t W_ih^T on entry and [i|f|g|o] activations on exit; fills hs and cs."""
    T, B, G = gates.shape
    H = G // 4
    for s in range(T):
        t = T - 1 - s if reverse else s
        prev = t + 1 if reverse else t
        nxt = t if reverse else t + 1
        g = gates[t]
        gemm(hs[prev], w_hh_t, g, False, False, 1.0, 1.0)
        c_prev, c_new, h_new = cs[prev], cs[nxt], hs[nxt]
        for b in range(B):
            if t >= steps[b]:
                c_new[b] = c_prev[b]
                h_new[b] = hs[prev, b]
                continue
            row = g[b]
            for j in range(H):
                i = _sigmoid(row[j] + bias[j])
                f = _sigmoid(row[H + j] + bias[H + j])
                z = _tanh(row[2 * H + j] + bias[2 * H + j])
                o = _sigmoid(row[3 * H + j] + bias[3 * H + j])
                c = f * c_prev[b, j] + i * z
                row[j] = i
                row[H + j] = f
                row[2 * H + j] = z
                row[3 * H + j] = o
                c_new[b, j] = c
                h_new[b, j] = o * _tanh(c)


@njit(**_JIT)
def _lstm_backward_loop(gates, hs, cs, w_hh, dout, dh, dc, dh_next, dc_total, steps, reverse,
                        norms_h, norms_c):
    """Overwrites gates with d(pre-activations); dh, dc end as dL/dh0, dL/dc0."""
    T, B, G = gates.shape
    H = G // 4
    one = gates.dtype.type(1.0)
    zero = gates.dtype.type(0.0)
    want_norms = norms_h.shape[0] > 0
    for s in range(T):
        t = s if reverse else T - 1 - s
        prev = t + 1 if reverse else t
        nxt = t if reverse else t + 1
        g = gates[t]
        dout_t = dout[t if dout.shape[0] > 1 else 0]
        c_prev, c_new = cs[prev], cs[nxt]
        for b in range(B):
            if t >= steps[b]:
                g[b] = zero
                dc_total[b] = dc[b]
                continue
            row = g[b]
            for j in range(H):
                dh_t = dh[b, j] + dout_t[b, j]
                i, f, z, o = row[j], row[H + j], row[2 * H + j], row[3 * H + j]
                tanh_c = _tanh(c_new[b, j])
                dc_t = dc[b, j] + dh_t * o * (one - tanh_c * tanh_c)
                row[j] = dc_t * z * i * (one - i)
                row[H + j] = dc_t * c_prev[b, j] * f * (one - f)
                row[2 * H + j] = dc_t * i * (one - z * z)
                row[3 * H + j] = dh_t * tanh_c * o * (one - o)
                dh[b, j] = dh_t
                dc_total[b, j] = dc_t
                dc[b, j] = dc_t * f
        if want_norms:
            _row_norms(dh, norms_h[t])
            _row_norms(dc_total, norms_c[t])
        gemm(g, w_hh, dh_next, False, False, 1.0, 0.0)
        for b in range(B):
            if t >= steps[b]:
                dh_next[b] = dh[b]
        dh, dh_next = dh_next, dh
    if T % 2 == 1:
        dh_next[:] = dh  # the caller's dh buffer ends holding dL/dh0


@njit(**_JIT)
def _row_norms(a, out):
    """out[b] = ||a[b]||_2, summed in a's dtype."""
    for b in range(a.shape[0]):
        total = a.dtype.type(0.0)
        for j in range(a.shape[1]):
            total += a[b, j] * a[b, j]
        out[b] = np.sqrt(total)


def lstm_sequence_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, steps, reverse):
    """Returns out (T, B, H), h_n, c_n and the tuple backward needs."""
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    gates = np.empty((T, B, 4 * H), dtype)
    gemm(x.reshape(T * B, -1), w_ih, gates.reshape(T * B, 4 * H), False, True, 1.0, 0.0)
    bias = _combined_bias(b_ih, b_hh, 4 * H, dtype)
    hs = np.empty((T + 1, B, H), dtype)
    cs = np.empty((T + 1, B, H), dtype)
    first, last = _slots(reverse, T)
    hs[first] = h0
    cs[first] = c0
    _lstm_forward_loop(gates, hs, cs, np.ascontiguousarray(w_hh.T), bias, steps, reverse)
    out = _outputs(hs, steps, reverse)
    saved = (x, w_ih, w_hh, gates, hs, cs, steps, reverse)
    return out, hs[last].copy(), cs[last].copy(), saved


def lstm_sequence_backward(saved, dout, dh_n, dc_n, want_norms):
    """Gradients (dx, dh0, dc0, dw_ih, dw_hh, db) and, if wanted, the norms (T, B) of dL/dh_t
    and dL/dc_t; db is the gradient of both biases. Consumes saved (gates are overwritten)."""
    x, w_ih, w_hh, gates, hs, cs, steps, reverse = saved
    T, B, G = gates.shape
    H = G // 4
    dtype = x.dtype
    dh = _zeros_or(dh_n, (B, H), dtype)
    dc = _zeros_or(dc_n, (B, H), dtype)
    dout = np.zeros((1, B, H), dtype) if dout is None else np.ascontiguousarray(dout, dtype)
    norms_shape = (T, B) if want_norms else (0, B)
    norms_h = np.zeros(norms_shape, dtype)
    norms_c = np.zeros(norms_shape, dtype)
    _lstm_backward_loop(gates, hs, cs, w_hh, dout, dh, dc, np.empty_like(dh), np.empty_like(dc),
                        steps, reverse, norms_h, norms_c)
    dx, dw_ih, dw_hh, db = _weight_gradients(gates, x, w_ih, hs, reverse)
    norms = (norms_h.astype(np.float64), norms_c.astype(np.float64)) if want_norms else None
    return dx, dh, dc, dw_ih, dw_hh, db, norms


# ---- GRU ---------------------------------------------------------------------------------------


@njit(**_JIT)
def _gru_forward_loop(gates, hidden_n, hs, w_hh_t, b_ih, b_hh, gh, steps, reverse):
    """gates[t] holds x_t W_ih^T on entry and [r|z|n] on exit; hidden_n[t] = W_hn h + b_hn."""
    T, B, G = gates.shape
    H = G // 3
    one = gates.dtype.type(1.0)
    for s in range(T):
        t = T - 1 - s if reverse else s
        prev = t + 1 if reverse else t
        nxt = t if reverse else t + 1
        g = gates[t]
        h_prev, h_new, hn_t = hs[prev], hs[nxt], hidden_n[t]
        gemm(h_prev, w_hh_t, gh, False, False, 1.0, 0.0)
        for b in range(B):
            if t >= steps[b]:
                h_new[b] = h_prev[b]
                continue
            row, ghb = g[b], gh[b]
            for j in range(H):
                r = _sigmoid(row[j] + b_ih[j] + ghb[j] + b_hh[j])
                z = _sigmoid(row[H + j] + b_ih[H + j] + ghb[H + j] + b_hh[H + j])
                hn = ghb[2 * H + j] + b_hh[2 * H + j]
                n = _tanh(row[2 * H + j] + b_ih[2 * H + j] + r * hn)
                row[j] = r
                row[H + j] = z
                row[2 * H + j] = n
                hn_t[b, j] = hn
                h_new[b, j] = (one - z) * n + z * h_prev[b, j]


@njit(**_JIT)
def _gru_backward_loop(gates, hidden_n, hs, w_hh, dout, dh, dh_next, steps, reverse, norms_h):
    """Overwrites gates with d(W_hh h + b_hh) and hidden_n with d(W_in x + b_in); dh ends dL/dh0."""
    T, B, G = gates.shape
    H = G // 3
    one = gates.dtype.type(1.0)
    zero = gates.dtype.type(0.0)
    want_norms = norms_h.shape[0] > 0
    for s in range(T):
        t = s if reverse else T - 1 - s
        prev = t + 1 if reverse else t
        g = gates[t]
        h_prev, hn_t = hs[prev], hidden_n[t]
        dout_t = dout[t if dout.shape[0] > 1 else 0]
        for b in range(B):
            if t >= steps[b]:
                g[b] = zero
                hn_t[b] = zero
                dh_next[b] = dh[b]
                continue
            row = g[b]
            for j in range(H):
                dh_t = dh[b, j] + dout_t[b, j]
                r, z, n = row[j], row[H + j], row[2 * H + j]
                dn = dh_t * (one - z) * (one - n * n)
                dr = dn * hn_t[b, j]
                row[j] = dr * r * (one - r)
                row[H + j] = dh_t * (h_prev[b, j] - n) * z * (one - z)
                row[2 * H + j] = dn * r
                hn_t[b, j] = dn
                dh[b, j] = dh_t
                dh_next[b, j] = dh_t * z
        if want_norms:
            _row_norms(dh, norms_h[t])
        gemm(g, w_hh, dh_next, False, False, 1.0, 1.0)
        dh, dh_next = dh_next, dh
    if T % 2 == 1:
        dh_next[:] = dh


def gru_sequence_forward(x, h0, w_ih, w_hh, b_ih, b_hh, steps, reverse):
    """Returns out (T, B, H), h_n and the tuple backward needs."""
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    gates = np.empty((T, B, 3 * H), dtype)
    gemm(x.reshape(T * B, -1), w_ih, gates.reshape(T * B, 3 * H), False, True, 1.0, 0.0)
    hidden_n = np.empty((T, B, H), dtype)
    hs = np.empty((T + 1, B, H), dtype)
    first, last = _slots(reverse, T)
    hs[first] = h0
    _gru_forward_loop(gates, hidden_n, hs, np.ascontiguousarray(w_hh.T), _bias(b_ih, 3 * H, dtype),
                      _bias(b_hh, 3 * H, dtype), np.empty((B, 3 * H), dtype), steps, reverse)
    saved = (x, w_ih, w_hh, gates, hidden_n, hs, steps, reverse)
    return _outputs(hs, steps, reverse), hs[last].copy(), saved


def gru_sequence_backward(saved, dout, dh_n, want_norms):
    """Gradients (dx, dh0, dw_ih, dw_hh, db_ih, db_hh) and, if wanted, the norms (T, B) of
    dL/dh_t. Consumes saved."""
    x, w_ih, w_hh, gates, hidden_n, hs, steps, reverse = saved
    T, B, G = gates.shape
    H = G // 3
    dtype = x.dtype
    dh = _zeros_or(dh_n, (B, H), dtype)
    dout = np.zeros((1, B, H), dtype) if dout is None else np.ascontiguousarray(dout, dtype)
    norms_h = np.zeros((T, B) if want_norms else (0, B), dtype)
    _gru_backward_loop(gates, hidden_n, hs, w_hh, dout, dh, np.empty_like(dh), steps, reverse,
                       norms_h)
    # gates now hold d(W_hh h + b_hh) = [dr|dz|dn * r]; d(W_ih x + b_ih) = [dr|dz|dn]
    d_hidden = gates.reshape(T * B, G)
    d_rz = d_hidden[:, : 2 * H]
    d_n = hidden_n.reshape(T * B, H)
    x2 = x.reshape(T * B, -1)
    hprev = (hs[1:] if reverse else hs[:T]).reshape(T * B, H)
    dx = np.empty(x2.shape, dtype)
    dw_ih = np.empty(w_ih.shape, dtype)
    dw_hh = np.empty(w_hh.shape, dtype)
    gemm(d_rz, w_ih[: 2 * H], dx, False, False, 1.0, 0.0)
    gemm(d_n, w_ih[2 * H:], dx, False, False, 1.0, 1.0)
    gemm(d_rz, x2, dw_ih[: 2 * H], True, False, 1.0, 0.0)
    gemm(d_n, x2, dw_ih[2 * H:], True, False, 1.0, 0.0)
    gemm(d_hidden, hprev, dw_hh, True, False, 1.0, 0.0)
    db_hh = d_hidden.sum(axis=0)
    db_ih = np.concatenate([db_hh[: 2 * H], d_n.sum(axis=0)])
    norms = (norms_h.astype(np.float64),) if want_norms else None
    return dx.reshape(x.shape), dh, dw_ih, dw_hh, db_ih, db_hh, norms


# ---- vanilla RNN -------------------------------------------------------------------------------


@njit(**_JIT)
def _rnn_forward_loop(pre, hs, w_hh_t, bias, relu, steps, reverse):
    """pre[t] holds x_t W_ih^T on entry; fills hs with tanh or relu of the pre-activations."""
    T, B, H = pre.shape
    zero = pre.dtype.type(0.0)
    for s in range(T):
        t = T - 1 - s if reverse else s
        prev = t + 1 if reverse else t
        nxt = t if reverse else t + 1
        p = pre[t]
        h_prev, h_new = hs[prev], hs[nxt]
        gemm(h_prev, w_hh_t, p, False, False, 1.0, 1.0)
        for b in range(B):
            if t >= steps[b]:
                h_new[b] = h_prev[b]
            elif relu:
                for j in range(H):
                    h_new[b, j] = max(p[b, j] + bias[j], zero)
            else:
                for j in range(H):
                    h_new[b, j] = _tanh(p[b, j] + bias[j])


@njit(**_JIT)
def _rnn_backward_loop(dpre, hs, w_hh, dout, dh, dh_next, relu, steps, reverse, norms_h):
    """Fills dpre (T, B, H) with d(pre-activations); dh ends as dL/dh0."""
    T, B, H = dpre.shape
    one = dpre.dtype.type(1.0)
    zero = dpre.dtype.type(0.0)
    want_norms = norms_h.shape[0] > 0
    for s in range(T):
        t = s if reverse else T - 1 - s
        nxt = t if reverse else t + 1
        d, h = dpre[t], hs[nxt]
        dout_t = dout[t if dout.shape[0] > 1 else 0]
        for b in range(B):
            if t >= steps[b]:
                d[b] = zero
                continue
            for j in range(H):
                dh[b, j] += dout_t[b, j]
            if relu:
                for j in range(H):
                    d[b, j] = dh[b, j] if h[b, j] > zero else zero
            else:
                for j in range(H):
                    d[b, j] = dh[b, j] * (one - h[b, j] * h[b, j])
        if want_norms:
            _row_norms(dh, norms_h[t])
        gemm(d, w_hh, dh_next, False, False, 1.0, 0.0)
        for b in range(B):
            if t >= steps[b]:
                dh_next[b] = dh[b]
        dh, dh_next = dh_next, dh
    if T % 2 == 1:
        dh_next[:] = dh


def rnn_sequence_forward(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity, steps, reverse):
    """Returns out (T, B, H), h_n and the tuple backward needs."""
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    pre = np.empty((T, B, H), dtype)
    gemm(x.reshape(T * B, -1), w_ih, pre.reshape(T * B, H), False, True, 1.0, 0.0)
    hs = np.empty((T + 1, B, H), dtype)
    first, last = _slots(reverse, T)
    hs[first] = h0
    relu = nonlinearity == "relu"
    _rnn_forward_loop(pre, hs, np.ascontiguousarray(w_hh.T), _combined_bias(b_ih, b_hh, H, dtype),
                      relu, steps, reverse)
    saved = (x, w_ih, w_hh, hs, relu, steps, reverse)
    return _outputs(hs, steps, reverse), hs[last].copy(), saved


def rnn_sequence_backward(saved, dout, dh_n, want_norms):
    """Gradients (dx, dh0, dw_ih, dw_hh, db) and, if wanted, the norms (T, B) of dL/dh_t;
    db is the gradient of both biases. Consumes saved."""
    x, w_ih, w_hh, hs, relu, steps, reverse = saved
    T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    dtype = x.dtype
    dh = _zeros_or(dh_n, (B, H), dtype)
    dout = np.zeros((1, B, H), dtype) if dout is None else np.ascontiguousarray(dout, dtype)
    norms_h = np.zeros((T, B) if want_norms else (0, B), dtype)
    dpre = np.empty((T, B, H), dtype)
    _rnn_backward_loop(dpre, hs, w_hh, dout, dh, np.empty_like(dh), relu, steps, reverse, norms_h)
    dx, dw_ih, dw_hh, db = _weight_gradients(dpre, x, w_ih, hs, reverse)
    norms = (norms_h.astype(np.float64),) if want_norms else None
    return dx, dh, dw_ih, dw_hh, db, norms


# ---- shared ------------------------------------------------------------------------------------


def _combined_bias(b_ih, b_hh, size, dtype):
    bias = np.zeros(size, dtype)
    if b_ih is not None:
        bias += b_ih
    if b_hh is not None:
        bias += b_hh
    return bias


def _bias(b, size, dtype):
    return np.zeros(size, dtype) if b is None else np.ascontiguousarray(b, dtype)


def _zeros_or(a, shape, dtype):
    return np.zeros(shape, dtype) if a is None else np.array(a, dtype=dtype, order="C")


def _outputs(hs, steps, reverse):
    """The states after each step, zero where a step is past its sequence's length."""
    T = hs.shape[0] - 1
    out = hs[:T] if reverse else hs[1:]
    if np.all(steps >= T):
        return out
    valid = np.arange(T)[:, None] < steps[None, :]
    return out * valid[:, :, None].astype(out.dtype)


def _weight_gradients(dgates, x, w_ih, hs, reverse):
    """dx, dW_ih, dW_hh and the bias gradient from d(pre-activations) (T, B, G) over all steps."""
    T, B, G = dgates.shape
    d2 = dgates.reshape(T * B, G)
    x2 = x.reshape(T * B, -1)
    hprev = (hs[1:] if reverse else hs[:T]).reshape(T * B, -1)
    dx = np.empty(x2.shape, x.dtype)
    dw_ih = np.empty(w_ih.shape, x.dtype)
    dw_hh = np.empty((G, hs.shape[2]), x.dtype)
    gemm(d2, w_ih, dx, False, False, 1.0, 0.0)
    gemm(d2, x2, dw_ih, True, False, 1.0, 0.0)
    gemm(d2, hprev, dw_hh, True, False, 1.0, 0.0)
    return dx.reshape(x.shape), dw_ih, dw_hh, d2.sum(axis=0)
