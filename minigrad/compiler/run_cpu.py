"""Run generated kernels on the CPU: buffers, the hoisted and the weight-gradient GEMMs, threads.

Layout (docs/cell_compiler.md): ``buf`` (T, B, n_slots * L) holds the products' slots; the x
window is filled by one GEMM over all steps, the h window by the per-step GEMM inside the loop;
forward overwrites slots with the values backward reads and backward overwrites them with the
products' gradients. ``xh`` (T + 1, B, I + S) keeps each x_t beside the recurrent state before
step t (as the hand-written LSTM did), so when every slot is shared one GEMM gives both weight
gradients. The other states have their own (T + 1, B, S_k) buffers. Threads, the packed per-step
GEMMs and denormal flushing are cpu_runtime's (docs/fused_kernels.md).
"""

from __future__ import annotations

import numpy as np

from ..backends.cpu_blas import single_threaded_blas
from . import cpu_runtime as rt


def _blocks(w, order, L):
    """Rows of w (n * L, k) regrouped by L-row blocks in `order` (w itself if the identity)."""
    if list(order) == list(range(w.shape[0] // L)):
        return np.ascontiguousarray(w)
    return np.ascontiguousarray(np.concatenate([w[p * L:(p + 1) * L] for p in order]))


def _unblocks(w, order, L, rows):
    """Inverse of _blocks into a (rows, k) array (rows of blocks not in order stay 0)."""
    if list(order) == list(range(rows // L)):
        return w
    out = np.zeros((rows, w.shape[1]), w.dtype)
    for s, p in enumerate(order):
        out[p * L:(p + 1) * L] = w[s * L:(s + 1) * L]
    return out


def forward(kernels, plan, x, states, params, steps, reverse):
    """Returns out (T, B, S_0), the final states and what backward needs."""
    T, B, I = x.shape
    dtype = x.dtype
    L = states[0].shape[1] // plan.state_pieces[0]
    k_rec = plan.rec_state
    S = states[k_rec].shape[1]
    w_x = _blocks(params[plan.weight_x], plan.x_rows, L)
    w_h = _blocks(params[plan.weight_h], plan.h_rows, L) if plan.weight_h else None
    first, last = (T, 0) if reverse else (0, T)
    rows = slice(1, T + 1) if reverse else slice(0, T)
    with single_threaded_blas():
        buf = np.empty((T, B, plan.n_slots * L), dtype)
        xh = np.empty((T + 1, B, I + S), dtype)
        xh[rows, :, :I] = x
        xh[last, :, :I] = 0
        xh[first, :, I:] = states[k_rec]
        others = []
        for k, s in enumerate(states):
            if k != k_rec:
                buffer = np.empty((T + 1, B, s.shape[1]), dtype)
                buffer[first] = s
                others.append(buffer)
        w_step = w_h
        if plan.all_shared and I <= rt.FUSED_PROJECTION_MAX_INPUT:
            w_step = np.concatenate([w_x, w_h], axis=1)  # the step's GEMM reads [x_t | h]
        else:
            rt.split_tiles(xh[rows].reshape(T * B, I + S)[:, :I], w_x.T,
                           buf.reshape(T * B, -1)[:, :plan.x_slots * L])
        if plan.x_slots < plan.n_slots:
            buf[:, :, plan.x_slots * L:] = 0  # h-only slots: the per-step GEMM accumulates
        extra = np.empty((T, B, plan.n_extra * L + plan.n_stats), dtype)  # + row scalars
        w_mid = np.ascontiguousarray(params[plan.weight_mid]) if plan.weight_mid else None
        buf2 = np.empty((T, B, plan.mid_pieces * L), dtype)
        mid = np.empty((T, B, len(plan.mid_operand) * L), dtype)
        carry = np.empty((T, B, len(plan.carried) * L), dtype)
        vectors = [np.ascontiguousarray(params[name]) for name in plan.vectors]
        none = np.zeros((1, 1), dtype)
        w1 = w_step.T if w_h is not None else none
        split = rt.choose_split(B, L, w1.nbytes, _units_allowed(plan))
        rt.each_thread(kernels.forward, B, L, w1, w_mid.T if w_mid is not None else none, split,
                       lambda _, w, w2, tail: (buf, buf2, mid, carry, extra, xh, *others, *w,
                                               w2, *vectors, steps, reverse, *tail))
    buffers = _state_buffers(plan, xh, others, I)
    finals = [b[last].copy() for b in buffers]
    saved = (buf, buf2, mid, carry, extra, xh, others, w_x, w_h, w_mid, vectors, steps, reverse,
             I, L)
    return rt.outputs(buffers[0], steps, reverse), finals, saved


def _units_allowed(plan) -> bool:
    """Whether the threads may split this cell's hidden units: its lanes only read their own
    unit (no row reductions) and it has one per-step GEMM (no second stage)."""
    return plan.weight_h is not None and plan.weight_mid is None and not plan.row_scalars


def _state_buffers(plan, xh, others, I):
    buffers, it = [], iter(others)
    for k in range(len(plan.state_pieces)):
        buffers.append(xh[:, :, I:] if k == plan.rec_state else next(it))
    return buffers


def backward(kernels, plan, saved, dout, d_finals, want_norms, param_acc, param_shapes,
             want_dx=True):
    """(dx or None when not want_dx, [dstate0 per state], {param: grad}, norms or None).
    Overwrites the saved slots. Without want_dx (x needs no gradient: a task's data) neither the
    in-loop dx (the kernels skip it for an empty dx) nor the GEMM over all steps runs."""
    buf, buf2, mid, carry, extra, xh, others, w_x, w_h, w_mid, vectors, steps, reverse, I, L = \
        saved
    T, B, _ = buf.shape
    dtype = buf.dtype
    widths = [p * L for p in plan.state_pieces]
    dS = [rt.state_grad(d, B, w, dtype) for d, w in zip(d_finals, widths)]
    dN = [np.empty_like(d) for d in dS]
    dout = rt.dout_array(dout, B, widths[0], dtype)
    n_acc = max([a for columns in param_acc.values() for a in columns] + [-1]) + 1
    dcarry = np.empty((B, carry.shape[2]), dtype)
    dmid = np.empty((B, mid.shape[2]), dtype)
    none = np.zeros((1, 1), dtype)
    acc = np.zeros((rt.get_num_threads(), n_acc * L))
    in_loop_dx = want_dx and I <= rt.FUSED_DX_MAX_INPUT
    dx = np.empty((T, B, I) if in_loop_dx else (0, B, I), dtype)
    # the loop reads W_x^T only for its in-loop dx (the same 2-d array type otherwise: a
    # transposed copy of the character model's 1 MB W_x cost 0.3 ms a step for nothing)
    w_x_t = np.ascontiguousarray(w_x.T) if in_loop_dx else none
    norms = [np.zeros((T, B) if want_norms else (0, B), dtype) for _ in widths]
    rows = slice(1, T + 1) if reverse else slice(0, T)
    grads = {}
    with single_threaded_blas():
        w1 = w_h if w_h is not None else none
        split = rt.choose_split(B, L, w1.nbytes, _units_allowed(plan) and not want_norms)
        rt.each_thread(kernels.backward, B, L, w1, w_mid if w_mid is not None else none, split,
                       lambda k, w, w2, tail: (
                           buf, buf2, mid, carry, extra, xh, *others, *w, w2, w_x_t, dout, *dS,
                           *dN, dcarry, dmid, *vectors, acc[k], dx, steps, reverse, *norms,
                           *tail))
        if w_mid is not None:
            grads[plan.weight_mid] = np.empty(w_mid.shape, dtype)
            rt.weight_gemm(buf2.reshape(T * B, -1), mid.reshape(T * B, -1),
                             grads[plan.weight_mid])
        d2 = buf.reshape(T * B, -1)
        d_x = d2[:, :plan.x_slots * L]
        if want_dx and dx.shape[0] != T:
            dx = np.empty((T * B, I), dtype)
            rt.split_tiles(d_x, w_x, dx)
        inputs = xh[rows].reshape(T * B, -1)
        if plan.all_shared:
            dw = np.empty((plan.n_slots * L, inputs.shape[1]), dtype)
            rt.weight_gemm(d2, inputs, dw)
            dw_x, dw_h = dw[:, :I], dw[:, I:]
        else:
            dw_x = np.empty(w_x.shape, dtype)
            rt.weight_gemm(d_x, inputs[:, :I], dw_x)
            dw_h = None
            if w_h is not None:
                dw_h = np.empty(w_h.shape, dtype)
                rt.weight_gemm(d2[:, plan.h_first * L:], inputs[:, I:], dw_h)
    shape_x = param_shapes[plan.weight_x]
    grads[plan.weight_x] = np.ascontiguousarray(_unblocks(dw_x, plan.x_rows, L, shape_x[0]))
    if w_h is not None:
        shape_h = param_shapes[plan.weight_h]
        grads[plan.weight_h] = np.ascontiguousarray(_unblocks(dw_h, plan.h_rows, L, shape_h[0]))
    sums = acc.sum(axis=0)
    for name, pieces in plan.vectors.items():
        g = np.zeros(pieces * L)
        for p in range(pieces):
            for a in param_acc.get((name, p), []):
                g[p * L:(p + 1) * L] += sums[a * L:(a + 1) * L]
        grads[name] = g.astype(dtype)
    result_norms = [n.astype(np.float64) for n in norms] if want_norms else None
    return (dx.reshape(T, B, I) if want_dx else None), dS, grads, result_norms
