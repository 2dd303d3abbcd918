"""Run generated kernels on CUDA: device buffers, the tiled GEMMs and the per-step launches.

The same layout as run_cpu.py (docs/cell_compiler.md): ``buf`` (T, B, n_slots * L) holds the
products' slots (x window filled by one GEMM over all steps, h window accumulated per step),
forward overwrites them with what backward reads and backward with the products' gradients;
``buf2``, ``mid``, ``carry`` and ``extra`` as on the CPU. The states have one (T + 1, B, S_k)
buffer each (on the CPU x_t sits beside the recurrent state; here x stays where it is). Per step
the host launches what the hand-written CUDA loops launched: one tiled GEMM with the recurrent
weight and one elementwise kernel (two of each for a two-stage step). Weight gradients are one
GEMM each after the loop; the vector parameters' gradients accumulate per (batch row, lane) in
``acc`` and are summed over the batch after it (or, when equal to a slot's gradient, are that
slot's column sum). Nothing is copied between host and device but
the step counts when lengths are given (one upload) and the gradient norms when asked for.
"""

from __future__ import annotations

import numpy as np

from ..backends import get
from .cuda_runtime import grid, masked_outputs, row_norms

# Everything device-side goes through the backend Protocol (backends/interface.py), the kernels
# this compiler generates (emit_cuda) and those it owns (cuda_runtime).
be = get("cuda")


def _gemm(*args, **kwargs):
    """out[m, n] (+)= A @ B on flat device arrays with offsets and strides (the Protocol's)."""
    be.gemm_strided(*args, **kwargs)


def flat(a):
    """a (C-contiguous) as a flat device view."""
    return be.reshape(a, (a.size,))


def _blocks(w, order, L):
    """Rows of w regrouped by L-row blocks in `order` (w itself if the identity)."""
    if list(order) == list(range(w.shape[0] // L)):
        return w
    return be.concat([w[p * L:(p + 1) * L] for p in order], 0)


def _unblocks(w, order, L, rows):
    """Inverse of _blocks into a (rows, k) device array (blocks not in order stay 0)."""
    if list(order) == list(range(rows // L)):
        return w
    out = be.zeros((rows, w.shape[1]), w.dtype)
    for s, p in enumerate(order):
        out[p * L:(p + 1) * L].copy_to_device(w[s * L:(s + 1) * L])
    return out


def _order(T, reverse, backward=False):
    forward = range(T - 1, -1, -1) if reverse else range(T)
    for t in (reversed(forward) if backward else forward):
        yield (t, t + 1, t) if reverse else (t, t, t + 1)


def _step_launch(kernels, stage, plan, B, widths, two_stage):
    """The kernels `stage`1 and `stage`2 (only for a two-stage step) configured for B * L
    threads, the recurrent state's index and width, and the width of the slots' h window."""
    launch = grid(B * plan.lane_width)
    rec = plan.rec_state
    second = getattr(kernels, f"{stage}2")[launch] if two_stage else None
    return (getattr(kernels, f"{stage}1")[launch], second, rec, widths[rec],
            (plan.n_slots - plan.h_first) * plan.lane_width)


def forward(kernels, plan, x, states, params, steps, reverse):
    """Returns out (T, B, S_0), the final states and what backward needs (device arrays)."""
    T, B, I = (int(n) for n in x.shape)
    dtype = x.dtype
    L = plan.lane_width
    widths = [p * L for p in plan.state_pieces]
    ns = plan.n_slots * L
    w_x = _blocks(params[plan.weight_x], plan.x_rows, L)
    w_h = _blocks(params[plan.weight_h], plan.h_rows, L) if plan.weight_h else None
    first, last = (T, 0) if reverse else (0, T)
    buf = (be.zeros if plan.x_slots < plan.n_slots else be.empty)((T, B, ns), dtype)
    _gemm(flat(x), 0, I, 1, flat(w_x), 0, 1, I, flat(buf), 0, T * B, plan.x_slots * L, I,
          out_row=ns)
    sts = []
    for s, width in zip(states, widths):
        st = be.empty((T + 1, B, width), dtype)
        st[first].copy_to_device(s)
        sts.append(st)
    one = (1, 1, 1)
    M, K = plan.mid_pieces * L, len(plan.mid_operand) * L
    buf2 = be.empty((T, B, M) if M else one, dtype)
    mid = be.empty((T, B, K) if K else one, dtype)
    carry = be.empty((T, B, len(plan.carried) * L) if plan.carried else one, dtype)
    extra = be.empty((T, B, plan.n_extra * L) if plan.n_extra else one, dtype)
    w_mid = params[plan.weight_mid] if plan.weight_mid else None
    vectors = [params[name] for name in plan.vectors]
    masked = bool(np.any(steps < T))  # the step counts go up only when there is a mask
    steps_d = be.from_host(np.ascontiguousarray(steps, np.int64)) if masked else be.full((B,), T,
                                                                                   np.int64)
    kernel1, kernel2, rec, S, nh = _step_launch(kernels, "forward", plan, B, widths,
                                                w_mid is not None)
    f_state, f_w, f_buf = flat(sts[rec]), flat(w_h) if w_h is not None else None, flat(buf)
    f_mid, f_w2, f_buf2 = flat(mid), flat(w_mid) if w_mid is not None else None, flat(buf2)
    for t, prev, nxt in _order(T, reverse):  # flat views made once: a step creates no array
        if w_h is not None:
            _gemm(f_state, prev * B * S, S, 1, f_w, 0, 1, S, f_buf, t * B * ns + plan.h_first * L,
                  B, nh, S, accumulate=True, out_row=ns)
        kernel1(buf, buf2, mid, carry, extra, *sts, *vectors, steps_d, t, prev, nxt)
        if kernel2 is not None:
            _gemm(f_mid, t * B * K, K, 1, f_w2, 0, 1, K, f_buf2, t * B * M, B, M, K)
            kernel2(buf, buf2, mid, carry, extra, *sts, *vectors, steps_d, t, prev, nxt)
    finals = []
    for st in sts:
        final = be.empty(st.shape[1:], dtype)
        final.copy_to_device(st[last])
        finals.append(final)
    saved = (x, buf, buf2, mid, carry, extra, sts, w_x, w_h, w_mid, vectors, steps, steps_d,
             reverse)
    return _outputs(sts[0], steps_d, masked, reverse), finals, saved


def _outputs(st, steps_d, masked, reverse):
    """(T, B, S): states after each step, 0 past a sequence's length."""
    T1, B, S = st.shape
    T = T1 - 1
    out = be.empty((T, B, S), st.dtype)
    if not masked:
        out.copy_to_device(st[1:] if not reverse else st[:T])
        return out
    start = 0 if reverse else B * S
    masked_outputs[grid(out.size)](flat(st), start, steps_d, B, S, flat(out))
    return out


def _vector_grads(plan, columns_of, param_acc, L, dtype):
    """Each vector parameter's gradient from its accumulator columns; columns_of(a) is column a
    summed over the steps and the batch (L values on the device)."""
    grads = {}
    for name, pieces in plan.vectors.items():
        parts = []
        for p in range(pieces):
            columns = param_acc.get((name, p), [])
            part = be.zeros((L,), dtype) if not columns else be.copy(columns_of(columns[0]))
            for a in columns[1:]:
                part = be.add(part, columns_of(a))
            parts.append(part)
        grads[name] = parts[0] if pieces == 1 else be.concat(parts, 0)
    return grads


def _column_sums(kernels, acc, buf, buf2, L):
    """columns_of(a) for _vector_grads: from acc, or from a slot's column when FROM_SLOT says."""
    sums = {}

    def total(array):
        if id(array) not in sums:
            width = array.shape[len(array.shape) - 1]  # the simulator's shapes take no -1
            sums[id(array)] = be.sum(array.reshape((array.size // width, width)), axis=0)
        return sums[id(array)]

    def columns_of(a):
        where, s = kernels.FROM_SLOT.get(a, ("acc", a))
        array = {"acc": acc, "buf": buf, "buf2": buf2}[where]
        return total(array)[s * L:(s + 1) * L]

    return columns_of


def _state_grad(d, B, width, dtype):
    if d is None:
        return be.zeros((B, width), dtype)
    out = be.empty((B, width), dtype)
    out.copy_to_device(d)
    return out


def backward(kernels, plan, saved, dout, d_finals, want_norms, param_acc, param_shapes,
             want_dx=True):
    """(dx or None when not want_dx, [dstate0 per state], {param: grad}, norms or None).
    Overwrites the saved slots."""
    x, buf, buf2, mid, carry, extra, sts, w_x, w_h, w_mid, vectors, steps, steps_d, reverse = \
        saved
    T, B, I = (int(n) for n in x.shape)
    dtype = buf.dtype
    L = plan.lane_width
    ns = plan.n_slots * L
    widths = [p * L for p in plan.state_pieces]
    dS = [_state_grad(d, B, w, dtype) for d, w in zip(d_finals, widths)]
    dN = [be.empty((B, w), dtype) for w in widths]
    dout = be.zeros((1, B, widths[0]), dtype) if dout is None else dout
    n_acc = max([a for columns in param_acc.values() for a in columns] + [-1]) + 1
    accumulated = n_acc > len(kernels.FROM_SLOT)  # a column the kernels accumulate in acc
    acc = be.zeros((B, n_acc * L) if accumulated else (1, 1), dtype)
    M, K = plan.mid_pieces * L, len(plan.mid_operand) * L
    dcarry = be.empty((B, max(len(plan.carried), 1) * L), dtype)
    dmid = be.empty((B, max(K, 1)), dtype)
    norms = [be.zeros((T * B if want_norms else 1,), dtype) for _ in widths]
    kernel1, kernel2, rec, S, nh = _step_launch(kernels, "backward", plan, B, widths,
                                                w_mid is not None)
    norm_kernel = row_norms[grid(B)]
    f_buf, f_buf2, f_dmid = flat(buf), flat(buf2), flat(dmid)
    f_w, f_w2 = (flat(w) if w is not None else None for w in (w_h, w_mid))
    f_dS, f_dN = [flat(d) for d in dS], [flat(d) for d in dN]
    for t, prev, nxt in _order(T, reverse, backward=True):
        if kernel2 is not None:
            kernel2(buf, buf2, mid, carry, extra, *sts, dout, *dS, *dN, dcarry, dmid, *vectors,
                    acc, steps_d, t, prev, nxt)
            _gemm(f_buf2, t * B * M, M, 1, f_w2, 0, K, 1, f_dmid, 0, B, K, M)
        kernel1(buf, buf2, mid, carry, extra, *sts, dout, *dS, *dN, dcarry, dmid, *vectors, acc,
                steps_d, t, prev, nxt)
        if want_norms:
            for d, width, n in zip(f_dS, widths, norms):
                norm_kernel(d, d, width, n, n, t * B)
        if w_h is not None:
            _gemm(f_buf, t * B * ns + plan.h_first * L, ns, 1, f_w, 0, S, 1, f_dN[rec], 0, B, S,
                  nh, accumulate=True)
        dS, dN, f_dS, f_dN = dN, dS, f_dN, f_dS
    grads = {}
    if w_mid is not None:
        grads[plan.weight_mid] = be.empty((M, K), dtype)
        _gemm(flat(buf2), 0, 1, M, flat(mid), 0, K, 1, flat(grads[plan.weight_mid]), 0, M, K,
              T * B)
    xs = plan.x_slots * L
    dx = None
    if want_dx:
        dx = be.empty((T, B, I), dtype)
        _gemm(flat(buf), 0, ns, 1, flat(w_x), 0, I, 1, flat(dx), 0, T * B, I, xs)
    dw_x = be.empty((xs, I), dtype)
    _gemm(flat(buf), 0, 1, ns, flat(x), 0, I, 1, flat(dw_x), 0, xs, I, T * B)
    grads[plan.weight_x] = _unblocks(dw_x, plan.x_rows, L, param_shapes[plan.weight_x][0])
    if w_h is not None:
        dw_h = be.empty((nh, S), dtype)
        _gemm(flat(buf), plan.h_first * L, 1, ns, flat(sts[rec]), B * S if reverse else 0, S, 1,
              flat(dw_h), 0, nh, S, T * B)
        grads[plan.weight_h] = _unblocks(dw_h, plan.h_rows, L, param_shapes[plan.weight_h][0])
    grads.update(_vector_grads(plan, _column_sums(kernels, acc, buf, buf2, L), param_acc, L,
                               dtype))
    result = [be.to_host(n).reshape(T, B).astype(np.float64) for n in norms] if want_norms else None
    return dx, dS, grads, result
