"""The compiled time loops of the fused recurrences (used by cpu_recurrent.py).

Each forward loop does, per step, one GEMM with the recurrent weights and one fused elementwise
pass; each backward loop one fused elementwise pass, the bias-gradient row sums (in float64) and
one GEMM. Nothing is allocated inside a loop.

Batch elements never interact inside a recurrence, so each loop runs over the batch rows lo:hi
only; cpu_recurrent.py gives each thread its own rows for the whole sequence (no per-step
synchronisation). Recurrent weights come packed in column tiles (cpu_blas.pack_column_tiles:
w_hh_t for the forward, w_hh for the backward) and ``row_chunk`` rows go into each per-step
product.

Index convention: ``prev``/``nxt`` are the slots of the state before/after step t in a (T + 1)-long
state buffer (forward: t, t + 1; reverse: t + 1, t). An element past its length (t >= steps[b])
copies its state and gets zero gate gradients. Inner loops index one view per gate (g[b, :H], ...):
LLVM checks the views' ranges at run time and vectorises, while offsets into one row
(row[H + j]) look like a possible overlap to it and stay scalar.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from .cpu_blas import denormals_off, gemm_packed, restore_denormals
from .cpu_kernels import sigmoid_f32, sigmoid_f64, tanh_f32

_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}, "boundscheck": False,
        "nogil": True}


def _tanh(x):
    raise NotImplementedError  # compiled code uses the overload below


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


# ---- small helpers called once per step --------------------------------------------------------


@njit(**_JIT)
def row_norms(a, out):
    """out[b] = ||a[b]||_2, summed in a's dtype."""
    for b in range(a.shape[0]):
        total = a.dtype.type(0.0)
        for j in range(a.shape[1]):
            total += a[b, j] * a[b, j]
        out[b] = np.sqrt(total)


@njit(**_JIT)
def _add_rows(a, total):
    """total += a.sum(axis=0), total in float64 (no-op when total is empty)."""
    if total.shape[0] == 0:
        return
    for b in range(a.shape[0]):
        row = a[b]
        for k in range(total.shape[0]):
            total[k] += row[k]


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


# ---- LSTM --------------------------------------------------------------------------------------


@njit(**_JIT)
def lstm_forward(gates, xh, cs, w_hh_t, bias, steps, reverse, lo, hi, row_chunk):
    """gates[t]: x_t W_ih^T in, [i|f|g|o] activations out; h states go to xh[:, :, I:]."""
    previous_fp = denormals_off()
    T, _, G = gates.shape
    H = G // 4
    I = xh.shape[2] - H
    b_i, b_f, b_z, b_o = bias[:H], bias[H:2 * H], bias[2 * H:3 * H], bias[3 * H:]
    for s in range(T):
        t = T - 1 - s if reverse else s
        prev = t + 1 if reverse else t
        nxt = t if reverse else t + 1
        g = gates[t]
        gemm_packed(xh[prev, lo:hi, I:], w_hh_t, g[lo:hi], 1.0, row_chunk)
        for b in range(lo, hi):
            c_prev, c_new, h_new = cs[prev, b], cs[nxt, b], xh[nxt, b, I:]
            if t >= steps[b]:
                c_new[:] = c_prev
                h_new[:] = xh[prev, b, I:]
                continue
            g_i, g_f, g_z, g_o = g[b, :H], g[b, H:2 * H], g[b, 2 * H:3 * H], g[b, 3 * H:]
            for j in range(H):
                i = _sigmoid(g_i[j] + b_i[j])
                f = _sigmoid(g_f[j] + b_f[j])
                z = _tanh(g_z[j] + b_z[j])
                o = _sigmoid(g_o[j] + b_o[j])
                c = f * c_prev[j] + i * z
                g_i[j] = i
                g_f[j] = f
                g_z[j] = z
                g_o[j] = o
                c_new[j] = c
                h_new[j] = o * _tanh(c)
    restore_denormals(previous_fp)


@njit(**_JIT)
def lstm_backward(gates, cs, w_hh, w_ih_t, dout, dh, dc, work, db, dx, steps, reverse,
                  norms_h, norms_c, lo, hi, row_chunk):
    """gates: activations in, d(pre-activations) out; dh, dc end as dL/dh0, dL/dc0.

    work is (2, B, H) scratch; db (4H or 0) accumulates the bias gradient; dx (T, B, I) is filled
    here when it has T rows (tiny input_size), else left to one GEMM afterwards.
    """
    previous_fp = denormals_off()
    T, _, G = gates.shape
    H = G // 4
    one = gates.dtype.type(1.0)
    zero = gates.dtype.type(0.0)
    want_norms = norms_h.shape[0] > 0
    dh_next, dc_total = work[0], work[1]
    for s in range(T):
        t = s if reverse else T - 1 - s
        prev = t + 1 if reverse else t
        nxt = t if reverse else t + 1
        g = gates[t]
        dout_t = dout[t if dout.shape[0] > 1 else 0]
        for b in range(lo, hi):
            dh_b, dc_b, dc_total_b = dh[b], dc[b], dc_total[b]
            if t >= steps[b]:
                g[b] = zero
                dc_total_b[:] = dc_b
                continue
            g_i, g_f, g_z, g_o = g[b, :H], g[b, H:2 * H], g[b, 2 * H:3 * H], g[b, 3 * H:]
            c_prev, c_new, dout_b = cs[prev, b], cs[nxt, b], dout_t[b]
            for j in range(H):
                dh_t = dh_b[j] + dout_b[j]
                i, f, z, o = g_i[j], g_f[j], g_z[j], g_o[j]
                tanh_c = _tanh(c_new[j])
                dc_t = dc_b[j] + dh_t * o * (one - tanh_c * tanh_c)
                g_i[j] = dc_t * z * i * (one - i)
                g_f[j] = dc_t * c_prev[j] * f * (one - f)
                g_z[j] = dc_t * i * (one - z * z)
                g_o[j] = dh_t * tanh_c * o * (one - o)
                dh_b[j] = dh_t
                dc_total_b[j] = dc_t
                dc_b[j] = dc_t * f
        if want_norms:
            row_norms(dh[lo:hi], norms_h[t, lo:hi])
            row_norms(dc_total[lo:hi], norms_c[t, lo:hi])
        _add_rows(g[lo:hi], db)
        if dx.shape[0] == T:
            project_rows(g[lo:hi], w_ih_t, dx[t, lo:hi])
        gemm_packed(g[lo:hi], w_hh, dh_next[lo:hi], 0.0, row_chunk)
        for b in range(lo, hi):
            if t >= steps[b]:
                dh_next[b] = dh[b]
        dh[lo:hi] = dh_next[lo:hi]
    restore_denormals(previous_fp)


# ---- GRU ---------------------------------------------------------------------------------------
#
# One (T, B, 4H) buffer per sequence with four slots per step, [n | r | z | m] (m = W_hn h + b_hn).
# Forward: slots 0-2 hold x_t W_ih^T (W_ih's rows permuted to n, r, z) and receive n, r, z; slot 3
# receives m. Backward writes [dn | dr | dz | r dn] over them (d of the pre-activations), so
# d(W_ih x + b_ih) = slots 0-2 (rows n, r, z) and d(W_hh h + b_hh) = slots 1-3 (rows r, z, n) are
# both contiguous windows: one GEMM each for dx, dW_ih, dW_hh and the per-step dh.


@njit(**_JIT)
def gru_forward(gates, hs, w_hh_t, b_ih, b_hh, gh, steps, reverse, lo, hi, row_chunk):
    """gates: the 4-slot buffer; gh (B, 3H) scratch for h W_hh^T; states go to hs."""
    previous_fp = denormals_off()
    T, _, G = gates.shape
    H = G // 4
    one = gates.dtype.type(1.0)
    bi_r, bi_z, bi_n = b_ih[:H], b_ih[H:2 * H], b_ih[2 * H:]
    bh_r, bh_z, bh_n = b_hh[:H], b_hh[H:2 * H], b_hh[2 * H:]
    for s in range(T):
        t = T - 1 - s if reverse else s
        prev = t + 1 if reverse else t
        nxt = t if reverse else t + 1
        g = gates[t]
        gemm_packed(hs[prev, lo:hi], w_hh_t, gh[lo:hi], 0.0, row_chunk)
        for b in range(lo, hi):
            h_prev, h_new = hs[prev, b], hs[nxt, b]
            if t >= steps[b]:
                h_new[:] = h_prev
                continue
            g_n, g_r, g_z, g_m = g[b, :H], g[b, H:2 * H], g[b, 2 * H:3 * H], g[b, 3 * H:]
            gh_r, gh_z, gh_n = gh[b, :H], gh[b, H:2 * H], gh[b, 2 * H:]
            for j in range(H):
                r = _sigmoid(g_r[j] + bi_r[j] + gh_r[j] + bh_r[j])
                z = _sigmoid(g_z[j] + bi_z[j] + gh_z[j] + bh_z[j])
                m = gh_n[j] + bh_n[j]
                n = _tanh(g_n[j] + bi_n[j] + r * m)
                g_n[j] = n
                g_r[j] = r
                g_z[j] = z
                g_m[j] = m
                h_new[j] = (one - z) * n + z * h_prev[j]
    restore_denormals(previous_fp)


@njit(**_JIT)
def gru_backward(gates, hs, w_hh, w_ih_t, dout, dh, dh_next, db, dx, steps, reverse, norms_h,
                 lo, hi, row_chunk):
    """gates: [n|r|z|m] in, [dn|dr|dz|r dn] out; dh ends dL/dh0. db (4H or 0) accumulates the
    slot sums (float64); dx as in lstm_backward, w_ih_t being the permuted W_ih^T."""
    previous_fp = denormals_off()
    T, _, G = gates.shape
    H = G // 4
    one = gates.dtype.type(1.0)
    zero = gates.dtype.type(0.0)
    want_norms = norms_h.shape[0] > 0
    for s in range(T):
        t = s if reverse else T - 1 - s
        prev = t + 1 if reverse else t
        g = gates[t]
        dout_t = dout[t if dout.shape[0] > 1 else 0]
        for b in range(lo, hi):
            dh_b, dh_next_b = dh[b], dh_next[b]
            if t >= steps[b]:
                g[b] = zero
                dh_next_b[:] = dh_b
                continue
            g_n, g_r, g_z, g_m = g[b, :H], g[b, H:2 * H], g[b, 2 * H:3 * H], g[b, 3 * H:]
            h_prev, dout_b = hs[prev, b], dout_t[b]
            for j in range(H):
                dh_t = dh_b[j] + dout_b[j]
                n, r, z = g_n[j], g_r[j], g_z[j]
                dn = dh_t * (one - z) * (one - n * n)
                g_n[j] = dn
                g_r[j] = dn * g_m[j] * r * (one - r)
                g_z[j] = dh_t * (h_prev[j] - n) * z * (one - z)
                g_m[j] = dn * r
                dh_b[j] = dh_t
                dh_next_b[j] = dh_t * z
        if want_norms:
            row_norms(dh[lo:hi], norms_h[t, lo:hi])
        _add_rows(g[lo:hi], db)
        if dx.shape[0] == T:
            project_rows(g[lo:hi], w_ih_t, dx[t, lo:hi])
        gemm_packed(g[lo:hi, H:], w_hh, dh_next[lo:hi], 1.0, row_chunk)
        dh[lo:hi] = dh_next[lo:hi]
    restore_denormals(previous_fp)


# ---- vanilla RNN -------------------------------------------------------------------------------


@njit(**_JIT)
def rnn_forward(pre, xh, w_hh_t, bias, relu, steps, reverse, lo, hi, row_chunk):
    """pre[t]: x_t W_ih^T in (then + W_hh h); states act(pre + bias) go to xh[:, :, I:]."""
    previous_fp = denormals_off()
    T, _, H = pre.shape
    I = xh.shape[2] - H
    zero = pre.dtype.type(0.0)
    for s in range(T):
        t = T - 1 - s if reverse else s
        prev = t + 1 if reverse else t
        nxt = t if reverse else t + 1
        p = pre[t]
        gemm_packed(xh[prev, lo:hi, I:], w_hh_t, p[lo:hi], 1.0, row_chunk)
        for b in range(lo, hi):
            h_new, p_b = xh[nxt, b, I:], p[b]
            if t >= steps[b]:
                h_new[:] = xh[prev, b, I:]
            elif relu:
                for j in range(H):
                    h_new[j] = max(p_b[j] + bias[j], zero)
            else:
                for j in range(H):
                    h_new[j] = _tanh(p_b[j] + bias[j])
    restore_denormals(previous_fp)


@njit(**_JIT)
def rnn_backward(dpre, xh, w_hh, w_ih_t, dout, dh, dh_next, relu, db, dx, steps, reverse,
                 norms_h, lo, hi, row_chunk):
    """Fills dpre (T, B, H) with d(pre-activations); dh ends as dL/dh0; db, dx as for the LSTM."""
    previous_fp = denormals_off()
    T, _, H = dpre.shape
    I = xh.shape[2] - H
    one = dpre.dtype.type(1.0)
    zero = dpre.dtype.type(0.0)
    want_norms = norms_h.shape[0] > 0
    for s in range(T):
        t = s if reverse else T - 1 - s
        nxt = t if reverse else t + 1
        d = dpre[t]
        dout_t = dout[t if dout.shape[0] > 1 else 0]
        for b in range(lo, hi):
            d_b, dh_b, h_b, dout_b = d[b], dh[b], xh[nxt, b, I:], dout_t[b]
            if t >= steps[b]:
                d_b[:] = zero
                continue
            for j in range(H):
                dh_b[j] += dout_b[j]
            if relu:
                for j in range(H):
                    d_b[j] = dh_b[j] if h_b[j] > zero else zero
            else:
                for j in range(H):
                    d_b[j] = dh_b[j] * (one - h_b[j] * h_b[j])
        if want_norms:
            row_norms(dh[lo:hi], norms_h[t, lo:hi])
        _add_rows(d[lo:hi], db)
        if dx.shape[0] == T:
            project_rows(d[lo:hi], w_ih_t, dx[t, lo:hi])
        gemm_packed(d[lo:hi], w_hh, dh_next[lo:hi], 0.0, row_chunk)
        for b in range(lo, hi):
            if t >= steps[b]:
                dh_next[b] = dh[b]
        dh[lo:hi] = dh_next[lo:hi]
    restore_denormals(previous_fp)
