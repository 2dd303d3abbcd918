"""The fused cell kernels of the GPU recurrences (``cuda_recurrent`` launches them once per step).

One thread per (batch element b, hidden unit j), grid-stride. Arrays are flat; a step's slice of a
(T, B, G) or (T + 1, B, H) buffer is given by an offset. Each kernel is the CPU loop body of
``cpu_recurrent`` for one step, with the same arithmetic in the same order, and the same float32
tanh (``rational``: the CPU backend's rational tanh; float64 uses libm's), so both backends agree
to rounding. A masked element (``t >= steps[b]``) copies its state; backwards it zeroes its gate
gradients and carries dL/dh into ``dh_next``, to which the following GEMM adds W_hh's term.
"""

from __future__ import annotations

import math

from numba import cuda

from .cuda_kernels import tanh_f32


@cuda.jit(device=True)
def tanh_of(x, rational):
    return tanh_f32(x) if rational else math.tanh(x)


@cuda.jit(device=True)
def sigmoid_of(x, half, rational):
    return half * tanh_of(half * x, rational) + half


@cuda.jit(cache=True)
def lstm_cell_forward(gates, g_off, recurrent, bias, cs, hs, prev, nxt, steps, masked, t, H,
                      rational):
    """c = f c_prev + i g, h = o tanh(c); gates[t] := [i|f|g|o] activations."""
    half = gates.dtype.type(0.5)
    for n in range(cuda.grid(1), recurrent.size // 4, cuda.gridsize(1)):
        b, j = n // H, n % H
        if masked and t >= steps[b]:
            cs[nxt + n] = cs[prev + n]
            hs[nxt + n] = hs[prev + n]
            continue
        row, r = g_off + b * 4 * H + j, b * 4 * H + j
        i = sigmoid_of(gates[row] + recurrent[r] + bias[j], half, rational)
        f = sigmoid_of(gates[row + H] + recurrent[r + H] + bias[H + j], half, rational)
        z = tanh_of(gates[row + 2 * H] + recurrent[r + 2 * H] + bias[2 * H + j], rational)
        o = sigmoid_of(gates[row + 3 * H] + recurrent[r + 3 * H] + bias[3 * H + j], half,
                       rational)
        c = f * cs[prev + n] + i * z
        gates[row], gates[row + H], gates[row + 2 * H], gates[row + 3 * H] = i, f, z, o
        cs[nxt + n] = c
        hs[nxt + n] = o * tanh_of(c, rational)


@cuda.jit(cache=True)
def lstm_cell_backward(gates, g_off, cs, prev, nxt, upstream, has_dout, u_off, dh, dc, dc_total,
                       dh_next, steps, masked, t, H, rational):
    """gates[t] := d(pre-activations); dh := dL/dh_t, dc := dL/dc_{t-1} through f."""
    zero, one = gates.dtype.type(0), gates.dtype.type(1)
    for n in range(cuda.grid(1), dh.size, cuda.gridsize(1)):
        b, j = n // H, n % H
        row = g_off + b * 4 * H + j
        if masked and t >= steps[b]:
            gates[row], gates[row + H], gates[row + 2 * H], gates[row + 3 * H] = (
                zero, zero, zero, zero)
            dc_total[n] = dc[n]
            dh_next[n] = dh[n]
            continue
        dh_t = dh[n] + (upstream[u_off + n] if has_dout else zero)
        i, f, z, o = gates[row], gates[row + H], gates[row + 2 * H], gates[row + 3 * H]
        tanh_c = tanh_of(cs[nxt + n], rational)
        dc_t = dc[n] + dh_t * o * (one - tanh_c * tanh_c)
        gates[row] = dc_t * z * i * (one - i)
        gates[row + H] = dc_t * cs[prev + n] * f * (one - f)
        gates[row + 2 * H] = dc_t * i * (one - z * z)
        gates[row + 3 * H] = dh_t * tanh_c * o * (one - o)
        dh[n] = dh_t
        dc_total[n] = dc_t
        dc[n] = dc_t * f
        dh_next[n] = zero


@cuda.jit(cache=True)
def gru_cell_forward(gates, g_off, recurrent, b_ih, b_hh, hidden_n, hn_off, hs, prev, nxt, steps,
                     masked, t, H, rational):
    """h = (1 - z) n + z h_prev; gates[t] := [r|z|n], hidden_n[t] := W_hn h_prev + b_hn."""
    half, one = gates.dtype.type(0.5), gates.dtype.type(1)
    for n in range(cuda.grid(1), recurrent.size // 3, cuda.gridsize(1)):
        b, j = n // H, n % H
        if masked and t >= steps[b]:
            hs[nxt + n] = hs[prev + n]
            continue
        row, q = g_off + b * 3 * H + j, b * 3 * H + j
        r = sigmoid_of(gates[row] + b_ih[j] + recurrent[q] + b_hh[j], half, rational)
        z = sigmoid_of(gates[row + H] + b_ih[H + j] + recurrent[q + H] + b_hh[H + j], half,
                       rational)
        hn = recurrent[q + 2 * H] + b_hh[2 * H + j]
        cand = tanh_of(gates[row + 2 * H] + b_ih[2 * H + j] + r * hn, rational)
        gates[row], gates[row + H], gates[row + 2 * H] = r, z, cand
        hidden_n[hn_off + n] = hn
        hs[nxt + n] = (one - z) * cand + z * hs[prev + n]


@cuda.jit(cache=True)
def gru_cell_backward(gates, g_off, hidden_n, hn_off, hs, prev, upstream, has_dout, u_off, dh,
                      dh_next, steps, masked, t, H):
    """gates[t] := d(W_hh h + b_hh) = [dr|dz|dn r], hidden_n[t] := dn, dh_next := dh z."""
    zero, one = gates.dtype.type(0), gates.dtype.type(1)
    for n in range(cuda.grid(1), dh.size, cuda.gridsize(1)):
        b, j = n // H, n % H
        row = g_off + b * 3 * H + j
        if masked and t >= steps[b]:
            gates[row], gates[row + H], gates[row + 2 * H] = zero, zero, zero
            hidden_n[hn_off + n] = zero
            dh_next[n] = dh[n]
            continue
        dh_t = dh[n] + (upstream[u_off + n] if has_dout else zero)
        r, z, cand = gates[row], gates[row + H], gates[row + 2 * H]
        dn = dh_t * (one - z) * (one - cand * cand)
        dr = dn * hidden_n[hn_off + n]
        gates[row] = dr * r * (one - r)
        gates[row + H] = dh_t * (hs[prev + n] - cand) * z * (one - z)
        gates[row + 2 * H] = dn * r
        hidden_n[hn_off + n] = dn
        dh[n] = dh_t
        dh_next[n] = dh_t * z


@cuda.jit(cache=True)
def rnn_cell_forward(pre, p_off, recurrent, bias, hs, prev, nxt, relu, steps, masked, t, H,
                     rational):
    """h = tanh or relu of (W_ih x + b_ih + W_hh h_prev + b_hh)."""
    zero = pre.dtype.type(0)
    for n in range(cuda.grid(1), recurrent.size, cuda.gridsize(1)):
        if masked and t >= steps[n // H]:
            hs[nxt + n] = hs[prev + n]
            continue
        v = pre[p_off + n] + recurrent[n] + bias[n % H]
        hs[nxt + n] = max(v, zero) if relu else tanh_of(v, rational)


@cuda.jit(cache=True)
def rnn_cell_backward(dpre, p_off, hs, nxt, upstream, has_dout, u_off, dh, dh_next, relu, steps,
                      masked, t, H):
    """dpre[t] := d(pre-activation) from the saved output h."""
    zero, one = dpre.dtype.type(0), dpre.dtype.type(1)
    for n in range(cuda.grid(1), dh.size, cuda.gridsize(1)):
        if masked and t >= steps[n // H]:
            dpre[p_off + n] = zero
            dh_next[n] = dh[n]
            continue
        dh_t = dh[n] + (upstream[u_off + n] if has_dout else zero)
        h = hs[nxt + n]
        dh[n] = dh_t
        dpre[p_off + n] = (dh_t if h > zero else zero) if relu else dh_t * (one - h * h)
        dh_next[n] = zero


@cuda.jit(cache=True)
def masked_outputs(hs, start, steps, B, H, out):
    """out[t, b] = hs[start + (t, b)] for t < steps[b], else 0."""
    zero = out.dtype.type(0)
    for n in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        t, b = n // (B * H), (n // H) % B
        out[n] = hs[start + n] if t < steps[b] else zero


@cuda.jit(cache=True)
def row_norms(a, c, H, norms_a, norms_c, offset):
    """norms_a[offset + b] = ||a[b, :]||, the same for c; one thread per row, in a's dtype."""
    for b in range(cuda.grid(1), a.size // H, cuda.gridsize(1)):
        sa = a.dtype.type(0)
        sc = a.dtype.type(0)
        for j in range(b * H, (b + 1) * H):
            sa += a[j] * a[j]
            sc += c[j] * c[j]
        norms_a[offset + b] = math.sqrt(sa)
        norms_c[offset + b] = math.sqrt(sc)


def ptx_signatures() -> dict:
    """float32 argument types of each kernel above, for tests/cuda/ptx_check.py."""
    from numba import types

    v, vi = types.float32[::1], types.int64[::1]
    i, b = types.int64, types.boolean
    return {
        "lstm_cell_forward": (lstm_cell_forward, (v, i, v, v, v, v, i, i, vi, b, i, i, b)),
        "lstm_cell_backward": (lstm_cell_backward,
                               (v, i, v, i, i, v, b, i, v, v, v, v, vi, b, i, i, b)),
        "gru_cell_forward": (gru_cell_forward, (v, i, v, v, v, v, i, v, i, i, vi, b, i, i, b)),
        "gru_cell_backward": (gru_cell_backward, (v, i, v, i, v, i, v, b, i, v, v, vi, b, i, i)),
        "rnn_cell_forward": (rnn_cell_forward, (v, i, v, v, v, i, i, b, vi, b, i, i, b)),
        "rnn_cell_backward": (rnn_cell_backward, (v, i, v, i, v, b, i, v, v, b, vi, b, i, i)),
        "masked_outputs": (masked_outputs, (v, i, vi, i, i, v)),
        "row_norms": (row_norms, (v, v, i, v, v, i)),
    }
