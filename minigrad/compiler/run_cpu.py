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


class Buffers:
    """One layer's buffers and weights for its time loops (forward fills them, backward reads
    and overwrites them): the slots, the [x | state] buffer, the other states' buffers, the
    weights regrouped as the slots are and the step's weight w_step ([W_x | W_h] when the input
    projection is folded into the per-step product)."""

    def __init__(self, plan, T, B, I, states, params, dtype, reverse):
        L = states[0].shape[1] // plan.state_pieces[0]
        k_rec = plan.rec_state
        S = states[k_rec].shape[1]
        self.I, self.L = I, L
        self.w_x = _blocks(params[plan.weight_x], plan.x_rows, L)
        self.w_h = _blocks(params[plan.weight_h], plan.h_rows, L) if plan.weight_h else None
        first, self.last = (T, 0) if reverse else (0, T)
        self.buf = np.empty((T, B, plan.n_slots * L), dtype)
        self.xh = np.empty((T + 1, B, I + S), dtype)
        self.xh[self.last, :, :I] = 0
        self.xh[first, :, I:] = states[k_rec]
        self.others = []
        for k, s in enumerate(states):
            if k != k_rec:
                buffer = np.empty((T + 1, B, s.shape[1]), dtype)
                buffer[first] = s
                self.others.append(buffer)
        self.fold = plan.all_shared and I <= rt.FUSED_PROJECTION_MAX_INPUT
        self.w_step = np.concatenate([self.w_x, self.w_h], axis=1) if self.fold else self.w_h
        self.extra = np.empty((T, B, plan.n_extra * L + plan.n_stats), dtype)  # + row scalars
        self.w_mid = np.ascontiguousarray(params[plan.weight_mid]) if plan.weight_mid else None
        self.buf2 = np.empty((T, B, plan.mid_pieces * L), dtype)
        self.mid = np.empty((T, B, len(plan.mid_operand) * L), dtype)
        self.carry = np.empty((T, B, len(plan.carried) * L), dtype)
        self.vectors = [np.ascontiguousarray(params[name]) for name in plan.vectors]

    @classmethod
    def restore(cls, saved: dict) -> Buffers:
        """The Buffers whose vars() forward saved (a dict of arrays: mg.compile's trace names
        every array in a runner's result, and a plain object would be a constant there)."""
        b = cls.__new__(cls)
        b.__dict__.update(saved)
        return b

    def project(self, plan, t0, t1, offset=0, gemm=rt.split_gemm):
        """The input projection of steps t0:t1 (x_t in row t + offset of xh) into their x slots
        (nothing when it is folded into the per-step product) by gemm(a, b, c, transpose_a,
        transpose_b, beta); zeros in the h-only slots, where that product accumulates."""
        n = (t1 - t0) * self.buf.shape[1]
        if not self.fold:
            gemm(self.xh[t0 + offset:t1 + offset].reshape(n, -1)[:, :self.I], self.w_x,
                          self.buf[t0:t1].reshape(n, -1)[:, :plan.x_slots * self.L],
                          False, True, 0.0)
        if plan.x_slots < plan.n_slots:
            self.buf[t0:t1, :, plan.x_slots * self.L:] = 0

    def forward_args(self, t0, t1, w, w2, steps, reverse, tail):
        """The generated forward loop's arguments for steps t0:t1 (views of the buffers)."""
        return (self.buf[t0:t1], self.buf2[t0:t1], self.mid[t0:t1], self.carry[t0:t1],
                self.extra[t0:t1], self.xh[t0:t1 + 1], *[o[t0:t1 + 1] for o in self.others],
                *w, w2, *self.vectors, steps, reverse, *tail)

    def state_buffers(self, plan):
        buffers, it = [], iter(self.others)
        for k in range(len(plan.state_pieces)):
            buffers.append(self.xh[:, :, self.I:] if k == plan.rec_state else next(it))
        return buffers


def forward(kernels, plan, x, states, params, steps, reverse):
    """Returns out (T, B, S_0), the final states and what backward needs."""
    T, B, I = x.shape
    with single_threaded_blas():
        b = Buffers(plan, T, B, I, states, params, x.dtype, reverse)
        rows = slice(1, T + 1) if reverse else slice(0, T)
        b.xh[rows, :, :I] = x
        b.project(plan, 0, T, rows.start)
        none = np.zeros((1, 1), x.dtype)
        w1 = b.w_step.T if b.w_h is not None else none
        split = rt.choose_split(B, b.L, w1.nbytes, _units_allowed(plan))
        rt.each_thread(kernels.forward, B, b.L, w1,
                       b.w_mid.T if b.w_mid is not None else none, split,
                       lambda _, w, w2, tail: b.forward_args(0, T, w, w2, steps, reverse, tail))
    buffers = b.state_buffers(plan)
    finals = [s[b.last].copy() for s in buffers]
    saved = (vars(b), steps, reverse)
    return rt.outputs(buffers[0], steps, reverse), finals, saved


def _units_allowed(plan) -> bool:
    """Whether the threads may split this cell's hidden units: its lanes only read their own
    unit (no row reductions) and it has one per-step GEMM (no second stage)."""
    return plan.weight_h is not None and plan.weight_mid is None and not plan.row_scalars


def backward(kernels, plan, saved, dout, d_finals, want_norms, param_acc, param_shapes):
    """(dx, [dstate0 per state], {param: grad}, norms or None). Overwrites the saved slots."""
    fields, steps, reverse = saved
    b = Buffers.restore(fields)
    T, B, _ = b.buf.shape
    I, L, dtype = b.I, b.L, b.buf.dtype
    g = Gradients(plan, b, dout, d_finals, param_acc, rt.get_num_threads(), want_norms)
    rows = slice(1, T + 1) if reverse else slice(0, T)
    grads = {}
    with single_threaded_blas():
        none = np.zeros((1, 1), dtype)
        w1 = b.w_h if b.w_h is not None else none
        split = rt.choose_split(B, L, w1.nbytes, _units_allowed(plan) and not want_norms)
        rt.each_thread(kernels.backward, B, L, w1, b.w_mid if b.w_mid is not None else none,
                       split, lambda k, w, w2, tail: g.backward_args(
                           b, 0, T, w, w2, k, steps, reverse, tail))
        if b.w_mid is not None:
            grads[plan.weight_mid] = np.empty(b.w_mid.shape, dtype)
            rt.weight_gemm(b.buf2.reshape(T * B, -1), b.mid.reshape(T * B, -1),
                           grads[plan.weight_mid])
        d2 = b.buf.reshape(T * B, -1)
        d_x = d2[:, :plan.x_slots * L]
        dx = g.dx
        if dx.shape[0] != T:
            dx = np.empty((T * B, I), dtype)
            rt.split_gemm(d_x, b.w_x, dx, False, False, 0.0)
        inputs = b.xh[rows].reshape(T * B, -1)
        if plan.all_shared:
            dw = np.empty((plan.n_slots * L, inputs.shape[1]), dtype)
            rt.weight_gemm(d2, inputs, dw)
            dw_x, dw_h = dw[:, :I], dw[:, I:]
        else:
            dw_x = np.empty(b.w_x.shape, dtype)
            rt.weight_gemm(d_x, inputs[:, :I], dw_x)
            dw_h = None
            if b.w_h is not None:
                dw_h = np.empty(b.w_h.shape, dtype)
                rt.weight_gemm(d2[:, plan.h_first * L:], inputs[:, I:], dw_h)
    grads.update(param_grads(plan, b, dw_x, dw_h, g.acc.sum(axis=0), param_acc, param_shapes))
    result_norms = [n.astype(np.float64) for n in g.norms] if want_norms else None
    return dx.reshape(T, B, I), g.dS, grads, result_norms


class Gradients:
    """The backward loop's own arrays for one layer: the state gradients carried from step to
    step (dS: after the loop, the initial states' gradients), the upstream gradient of the
    outputs, float64 bias-gradient accumulators (one row per thread), dx when the loop computes
    it (input size <= FUSED_DX_MAX_INPUT), the state-gradient norms when asked for."""

    def __init__(self, plan, b, dout, d_finals, param_acc, threads, want_norms):
        T, B, _ = b.buf.shape
        dtype, L = b.buf.dtype, b.L
        widths = [p * L for p in plan.state_pieces]
        self.dS = [rt.state_grad(d, B, w, dtype) for d, w in zip(d_finals, widths)]
        self.dN = [np.empty_like(d) for d in self.dS]
        self.dout = rt.dout_array(dout, B, widths[0], dtype)
        n_acc = max([a for columns in param_acc.values() for a in columns] + [-1]) + 1
        self.dcarry = np.empty((B, b.carry.shape[2]), dtype)
        self.dmid = np.empty((B, b.mid.shape[2]), dtype)
        self.acc = np.zeros((threads, n_acc * L))
        in_loop_dx = b.I <= rt.FUSED_DX_MAX_INPUT
        self.dx = np.empty((T, B, b.I) if in_loop_dx else (0, B, b.I), dtype)
        # the loop reads W_x^T only for its in-loop dx (the same 2-d array type otherwise: a
        # transposed copy of the character model's 1 MB W_x cost 0.3 ms a step for nothing)
        self.w_x_t = np.ascontiguousarray(b.w_x.T) if in_loop_dx else np.zeros((1, 1), dtype)
        self.norms = [np.zeros((T, B) if want_norms else (0, B), dtype) for _ in widths]

    def backward_args(self, b, t0, t1, w, w2, k, steps, reverse, tail):
        """The generated backward loop's arguments for steps t0:t1, thread k's accumulators."""
        dout = self.dout if self.dout.shape[0] == 1 else self.dout[t0:t1]
        dx = self.dx[t0:t1] if self.dx.shape[0] else self.dx
        norms = [n[t0:t1] if n.shape[0] else n for n in self.norms]
        return (b.buf[t0:t1], b.buf2[t0:t1], b.mid[t0:t1], b.carry[t0:t1], b.extra[t0:t1],
                b.xh[t0:t1 + 1], *[o[t0:t1 + 1] for o in b.others], *w, w2, self.w_x_t, dout,
                *self.dS, *self.dN, self.dcarry, self.dmid, *b.vectors, self.acc[k], dx, steps,
                reverse, *norms, *tail)


def param_grads(plan, b, dw_x, dw_h, sums, param_acc, param_shapes) -> dict:
    """{name: gradient} of the weights (rows back in the parameters' order) and of the vectors
    (from the summed float64 accumulators)."""
    L, dtype = b.L, b.buf.dtype
    grads = {}
    shape_x = param_shapes[plan.weight_x]
    grads[plan.weight_x] = np.ascontiguousarray(_unblocks(dw_x, plan.x_rows, L, shape_x[0]))
    if b.w_h is not None:
        shape_h = param_shapes[plan.weight_h]
        grads[plan.weight_h] = np.ascontiguousarray(_unblocks(dw_h, plan.h_rows, L, shape_h[0]))
    for name, pieces in plan.vectors.items():
        g = np.zeros(pieces * L)
        for p in range(pieces):
            for a in param_acc.get((name, p), []):
                g[p * L:(p + 1) * L] += sums[a * L:(a + 1) * L]
        grads[name] = g.astype(dtype)
    return grads
