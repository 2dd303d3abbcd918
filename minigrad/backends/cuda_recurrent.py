"""Fused whole-sequence RNN, LSTM and GRU on the GPU: the CPU backend's ``*_sequence_forward`` /
``*_sequence_backward`` over device arrays (``cpu_recurrent`` documents the layouts and saved
state; this module keeps them, so the two backends are read the same way).

Forward: one GEMM for the input projection of all T steps, then a host loop launching per step
the GEMM with W_hh (into a (B, G) scratch) and one fused cell kernel that adds projection, recurrent
term and bias, applies the gates, writes the new states and overwrites the step's projection with
the activations backward needs. Backward: per step one fused cell-backward kernel (writes
d(pre-activations) over the saved gates) and one GEMM accumulating W_hh's contribution into the
next dL/dh; then dx and the weight gradients as one GEMM each over all steps. Every buffer stays on
the device; arrays enter kernels flat with integer offsets, so a step creates no array views.

Padded steps (``steps[b] <= t``) copy the state forward and, backwards, carry dL/dh past the step:
the cell-backward kernel writes the carried rows (0 elsewhere) and the GEMM adds to them.
"""

from __future__ import annotations

import numpy as np

from . import cuda_kernels as k
from .cuda_base import empty, flat, from_host, to_host, zeros
from .cuda_gemm import gemm_into
from .cuda_gemm import matmul as _matmul
from .cuda_recurrent_kernels import (
    gru_cell_backward,
    gru_cell_forward,
    lstm_cell_backward,
    lstm_cell_forward,
    masked_outputs,
    rnn_cell_backward,
    rnn_cell_forward,
    row_norms,
)
from .cuda_reduce import sum

_ONE_BATCH = ((1,), (0,))


def _gemm(a, a_offset, a_row, a_col, b, b_offset, b_row, b_col, out, out_offset, m, n, inner,
          accumulate=False):
    gemm_into(a, a_offset, a_row, a_col, _ONE_BATCH[1], b, b_offset, b_row, b_col, _ONE_BATCH[1],
              _ONE_BATCH[0], m, n, inner, out, out_offset, accumulate)


class _Loop:
    """Sizes, step order, masking and launch shapes shared by the forward and backward loops."""

    def __init__(self, x, hidden, gates_per_unit, steps, reverse):
        self.T, self.B, self.I = (int(n) for n in x.shape)
        self.H, self.G = hidden, gates_per_unit * hidden
        self.reverse = bool(reverse)
        self.masked = bool(np.any(steps < self.T))
        # steps go up only when some sequence is shorter than T (a mask to read)
        self.steps = from_host(np.ascontiguousarray(steps, np.int64)) if self.masked else empty(
            (1,), np.int64)
        self.rational = x.dtype == np.float32  # the CPU backend's float32 tanh, for equal results
        self.cells = k.launch(self.B * self.H)

    def order(self, backward=False):
        """(t, slot of the state before step t, slot after) in processing order."""
        forward_order = range(self.T - 1, -1, -1) if self.reverse else range(self.T)
        for t in (reversed(forward_order) if backward else forward_order):
            yield (t, t + 1, t) if self.reverse else (t, t, t + 1)

    def slots(self):
        """(slot of the initial state, slot of the final state) in the (T + 1)-long buffers."""
        return (self.T, 0) if self.reverse else (0, self.T)


def _bias_sum(b_ih, b_hh, size, dtype):
    from .cuda import add

    if b_ih is None and b_hh is None:
        return zeros((size,), dtype)
    if b_ih is None or b_hh is None:
        return flat(b_hh if b_ih is None else b_ih)
    return add(b_ih, b_hh)


def _input_projection(x, w_ih, loop):
    """(T*B, G) = x (T*B, I) @ W_ih^T, flat."""
    x2 = flat(x).reshape((loop.T * loop.B, loop.I))
    return flat(_matmul(x2, _transpose_view(w_ih)))


def _transpose_view(w):
    from .cuda_array_ops import transpose

    return transpose(w, (1, 0))


def _states(loop, dtype, first_values):
    """(T + 1, B, H) buffers flat, with the initial state copied into its slot."""
    size = loop.B * loop.H
    buffers = []
    for value in first_values:
        buf = empty(((loop.T + 1) * size,), dtype)
        start = loop.slots()[0] * size
        buf[start:start + size].copy_to_device(flat(value))
        buffers.append(buf)
    return buffers


def _outputs(hs, loop, dtype):
    """(T, B, H): states after each step, 0 past a sequence's length (a view when none is)."""
    size = loop.B * loop.H
    start = 0 if loop.reverse else size
    if not loop.masked:
        return hs[start:start + loop.T * size].reshape((loop.T, loop.B, loop.H))
    out = empty((loop.T, loop.B, loop.H), dtype)
    masked_outputs[k.launch(out.size)](hs, start, loop.steps, loop.B, loop.H, flat(out))
    return out


def _final(buf, loop):
    size = loop.B * loop.H
    start = loop.slots()[1] * size
    out = empty((loop.B, loop.H), buf.dtype)
    out.copy_to_device(buf[start:start + size].reshape((loop.B, loop.H)))
    return out


def _upstream(dout, loop, dtype):
    """(flat dout or a placeholder, whether there is one)."""
    if dout is None:
        return empty((1,), dtype), False
    from .cuda_base import astype

    return flat(dout if dout.dtype == dtype else astype(dout, dtype)), True


def _state_grad(d, loop, dtype):
    from .cuda_base import copy

    return zeros((loop.B * loop.H,), dtype) if d is None else flat(copy(d)).reshape(
        (loop.B * loop.H,))


def _norms(loop, dtype, want):
    return zeros((loop.T * loop.B if want else 1,), dtype)


def _host_norms(norms, loop, want):
    if not want:
        return None
    return to_host(norms).reshape(loop.T, loop.B).astype(np.float64)


def _weight_gradients(dgates, x, w_ih, hs, loop):
    """dx, dW_ih, dW_hh and the summed bias gradient from d(pre-activations) (T*B, G), flat."""
    rows, size = loop.T * loop.B, loop.B * loop.H
    dtype = dgates.dtype
    dx = empty((loop.T, loop.B, loop.I), dtype)
    dw_ih = empty((loop.G, loop.I), dtype)
    dw_hh = empty((loop.G, loop.H), dtype)
    hprev = size if loop.reverse else 0
    _gemm(dgates, 0, loop.G, 1, flat(w_ih), 0, loop.I, 1, flat(dx), 0, rows, loop.I, loop.G)
    _gemm(dgates, 0, 1, loop.G, flat(x), 0, loop.I, 1, flat(dw_ih), 0, loop.G, loop.I, rows)
    _gemm(dgates, 0, 1, loop.G, hs, hprev, loop.H, 1, flat(dw_hh), 0, loop.G, loop.H, rows)
    return dx, dw_ih, dw_hh, sum(dgates.reshape((rows, loop.G)), axis=0)


# ---- LSTM --------------------------------------------------------------------------------------


def lstm_sequence_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, steps, reverse):
    """Returns out (T, B, H), h_n, c_n and the tuple backward needs."""
    loop = _Loop(x, int(w_hh.shape[1]), 4, steps, reverse)
    dtype = x.dtype
    gates = _input_projection(x, w_ih, loop)
    bias = _bias_sum(b_ih, b_hh, loop.G, dtype)
    hs, cs = _states(loop, dtype, (h0, c0))
    recurrent = empty((loop.B * loop.G,), dtype)
    w = flat(w_hh)
    cell = lstm_cell_forward[loop.cells]
    size, step_gates = loop.B * loop.H, loop.B * loop.G
    for t, prev, nxt in loop.order():
        _gemm(hs, prev * size, loop.H, 1, w, 0, 1, loop.H, recurrent, 0, loop.B, loop.G, loop.H)
        cell(gates, t * step_gates, recurrent, bias, cs, hs, prev * size, nxt * size, loop.steps,
             loop.masked, t, loop.H, loop.rational)
    saved = (x, w_ih, w_hh, gates, hs, cs, loop)
    return _outputs(hs, loop, dtype), _final(hs, loop), _final(cs, loop), saved


def lstm_sequence_backward(saved, dout, dh_n, dc_n, want_norms):
    """(dx, dh0, dc0, dw_ih, dw_hh, db, norms); norms are host float64 (T, B) arrays of the
    norms of dL/dh_t and dL/dc_t (copied to the host only when wanted). Consumes saved."""
    x, w_ih, w_hh, gates, hs, cs, loop = saved
    dtype = x.dtype
    upstream, has_dout = _upstream(dout, loop, dtype)
    dh, dh_next = _state_grad(dh_n, loop, dtype), empty((loop.B * loop.H,), dtype)
    dc, dc_total = _state_grad(dc_n, loop, dtype), empty((loop.B * loop.H,), dtype)
    norms_h, norms_c = _norms(loop, dtype, want_norms), _norms(loop, dtype, want_norms)
    w = flat(w_hh)
    cell = lstm_cell_backward[loop.cells]
    norms = row_norms[k.launch(loop.B)]
    size, step_gates = loop.B * loop.H, loop.B * loop.G
    for t, prev, nxt in loop.order(backward=True):
        cell(gates, t * step_gates, cs, prev * size, nxt * size, upstream, has_dout, t * size,
             dh, dc, dc_total, dh_next, loop.steps, loop.masked, t, loop.H, loop.rational)
        if want_norms:
            norms(dh, dc_total, loop.H, norms_h, norms_c, t * loop.B)
        _gemm(gates, t * step_gates, loop.G, 1, w, 0, loop.H, 1, dh_next, 0, loop.B, loop.H,
              loop.G, accumulate=True)
        dh, dh_next = dh_next, dh
    dx, dw_ih, dw_hh, db = _weight_gradients(gates, x, w_ih, hs, loop)
    norms_out = (_host_norms(norms_h, loop, want_norms), _host_norms(norms_c, loop, want_norms))
    shape = (loop.B, loop.H)
    return (dx, dh.reshape(shape), dc.reshape(shape), dw_ih, dw_hh, db,
            norms_out if want_norms else None)


# ---- GRU ---------------------------------------------------------------------------------------


def gru_sequence_forward(x, h0, w_ih, w_hh, b_ih, b_hh, steps, reverse):
    """Returns out (T, B, H), h_n and the tuple backward needs."""
    loop = _Loop(x, int(w_hh.shape[1]), 3, steps, reverse)
    dtype = x.dtype
    gates = _input_projection(x, w_ih, loop)
    bias_ih = zeros((loop.G,), dtype) if b_ih is None else flat(b_ih)
    bias_hh = zeros((loop.G,), dtype) if b_hh is None else flat(b_hh)
    (hs,) = _states(loop, dtype, (h0,))
    hidden_n = empty((loop.T * loop.B * loop.H,), dtype)
    recurrent = empty((loop.B * loop.G,), dtype)
    w = flat(w_hh)
    cell = gru_cell_forward[loop.cells]
    size, step_gates = loop.B * loop.H, loop.B * loop.G
    for t, prev, nxt in loop.order():
        _gemm(hs, prev * size, loop.H, 1, w, 0, 1, loop.H, recurrent, 0, loop.B, loop.G, loop.H)
        cell(gates, t * step_gates, recurrent, bias_ih, bias_hh, hidden_n, t * size, hs,
             prev * size, nxt * size, loop.steps, loop.masked, t, loop.H, loop.rational)
    saved = (x, w_ih, w_hh, gates, hidden_n, hs, loop)
    return _outputs(hs, loop, dtype), _final(hs, loop), saved


def gru_sequence_backward(saved, dout, dh_n, want_norms):
    """(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, norms); norms as in lstm_sequence_backward."""
    from .cuda_array_ops import concat

    x, w_ih, w_hh, gates, hidden_n, hs, loop = saved
    dtype = x.dtype
    upstream, has_dout = _upstream(dout, loop, dtype)
    dh, dh_next = _state_grad(dh_n, loop, dtype), empty((loop.B * loop.H,), dtype)
    norms_h = _norms(loop, dtype, want_norms)
    w = flat(w_hh)
    cell = gru_cell_backward[loop.cells]
    norms = row_norms[k.launch(loop.B)]
    size, step_gates = loop.B * loop.H, loop.B * loop.G
    for t, prev, _ in loop.order(backward=True):
        cell(gates, t * step_gates, hidden_n, t * size, hs, prev * size, upstream, has_dout,
             t * size, dh, dh_next, loop.steps, loop.masked, t, loop.H)
        if want_norms:
            norms(dh, dh, loop.H, norms_h, norms_h, t * loop.B)
        _gemm(gates, t * step_gates, loop.G, 1, w, 0, loop.H, 1, dh_next, 0, loop.B, loop.H,
              loop.G, accumulate=True)
        dh, dh_next = dh_next, dh
    # gates hold d(W_hh h + b_hh) = [dr|dz|dn*r]; d(W_ih x + b_ih) = [dr|dz|dn], dn in hidden_n
    rows, H, G, I = loop.T * loop.B, loop.H, loop.G, loop.I
    dx = empty((loop.T, loop.B, I), dtype)
    dw_ih = empty((G, I), dtype)
    dw_hh = empty((G, H), dtype)
    wi, xs = flat(w_ih), flat(x)
    _gemm(gates, 0, G, 1, wi, 0, I, 1, flat(dx), 0, rows, I, 2 * H)
    _gemm(hidden_n, 0, H, 1, wi, 2 * H * I, I, 1, flat(dx), 0, rows, I, H, accumulate=True)
    _gemm(gates, 0, 1, G, xs, 0, I, 1, flat(dw_ih), 0, 2 * H, I, rows)
    _gemm(hidden_n, 0, 1, H, xs, 0, I, 1, flat(dw_ih), 2 * H * I, H, I, rows)
    hprev = loop.B * H if loop.reverse else 0
    _gemm(gates, 0, 1, G, hs, hprev, H, 1, flat(dw_hh), 0, G, H, rows)
    db_hh = sum(gates.reshape((rows, G)), axis=0)
    db_ih = concat([db_hh[: 2 * H], sum(hidden_n.reshape((rows, H)), axis=0)], 0)
    return (dx, dh.reshape((loop.B, H)), dw_ih, dw_hh, db_ih, db_hh,
            (_host_norms(norms_h, loop, True),) if want_norms else None)


# ---- vanilla RNN -------------------------------------------------------------------------------


def rnn_sequence_forward(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity, steps, reverse):
    """Returns out (T, B, H), h_n and the tuple backward needs."""
    loop = _Loop(x, int(w_hh.shape[1]), 1, steps, reverse)
    dtype = x.dtype
    pre = _input_projection(x, w_ih, loop)
    bias = _bias_sum(b_ih, b_hh, loop.H, dtype)
    (hs,) = _states(loop, dtype, (h0,))
    recurrent = empty((loop.B * loop.H,), dtype)
    w = flat(w_hh)
    relu = nonlinearity == "relu"
    cell = rnn_cell_forward[loop.cells]
    size = loop.B * loop.H
    for t, prev, nxt in loop.order():
        _gemm(hs, prev * size, loop.H, 1, w, 0, 1, loop.H, recurrent, 0, loop.B, loop.H, loop.H)
        cell(pre, t * size, recurrent, bias, hs, prev * size, nxt * size, relu, loop.steps,
             loop.masked, t, loop.H, loop.rational)
    saved = (x, w_ih, w_hh, hs, relu, loop)
    return _outputs(hs, loop, dtype), _final(hs, loop), saved


def rnn_sequence_backward(saved, dout, dh_n, want_norms):
    """(dx, dh0, dw_ih, dw_hh, db, norms); norms as in lstm_sequence_backward."""
    x, w_ih, w_hh, hs, relu, loop = saved
    dtype = x.dtype
    upstream, has_dout = _upstream(dout, loop, dtype)
    dh, dh_next = _state_grad(dh_n, loop, dtype), empty((loop.B * loop.H,), dtype)
    norms_h = _norms(loop, dtype, want_norms)
    dpre = empty((loop.T * loop.B * loop.H,), dtype)
    w = flat(w_hh)
    cell = rnn_cell_backward[loop.cells]
    norms = row_norms[k.launch(loop.B)]
    size = loop.B * loop.H
    for t, _, nxt in loop.order(backward=True):
        cell(dpre, t * size, hs, nxt * size, upstream, has_dout, t * size, dh, dh_next, relu,
             loop.steps, loop.masked, t, loop.H)
        if want_norms:
            norms(dh, dh, loop.H, norms_h, norms_h, t * loop.B)
        _gemm(dpre, t * size, loop.H, 1, w, 0, loop.H, 1, dh_next, 0, loop.B, loop.H, loop.H,
              accumulate=True)
        dh, dh_next = dh_next, dh
    dx, dw_ih, dw_hh, db = _weight_gradients(dpre, x, w_ih, hs, loop)
    return (dx, dh.reshape((loop.B, loop.H)), dw_ih, dw_hh, db,
            (_host_norms(norms_h, loop, True),) if want_norms else None)


