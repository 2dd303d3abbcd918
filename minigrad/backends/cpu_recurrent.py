"""Fused whole-sequence RNN, LSTM and GRU on the CPU: one layer, one direction, raw arrays.

``*_sequence_forward`` computes the input projection of all T steps in one GEMM, then runs the
time loop in compiled code (cpu_recurrent_loops.py): per step one GEMM with the recurrent weights,
accumulated into the step's slice of the projection, and one fused elementwise pass.
``*_sequence_backward`` runs the reverse loop in compiled code (per step one fused elementwise
backward, which overwrites the saved gates with the pre-activation gradients, and one GEMM), then
takes the weight gradients in one GEMM each over all steps. Costs and layout:
docs/fused_kernels.md.

Threads: batch elements never interact, so each thread runs the whole time loop over its own
batch rows, and the big GEMMs are split by rows; scipy's OpenBLAS runs single-threaded meanwhile.

The LSTM and RNN keep their states in ``xh`` (T + 1, B, I + H): row ``prev(t)`` holds
[x_t | state before step t], so dW_ih and dW_hh come out of one GEMM d(gates)^T @ xh. ``steps`` is
the int64 per-sequence length (T when none was given); ``reverse`` runs t from T - 1 down to 0.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import cpu_recurrent_loops as loops
from .cpu_blas import gemm_rows, pack_column_tiles, single_threaded_blas, step_tiling

# Below this input size dx is computed step by step while the gate gradients are in cache; above
# it one GEMM over all steps is faster.
FUSED_DX_MAX_INPUT = 16
MIN_ROWS_PER_THREAD = 4



def _default_threads() -> int:
    """MINIGRAD_NUM_THREADS, else NUMBA_NUM_THREADS, else the CPUs this process may run on: a
    process pool that gives each worker one core sets the variables, so the workers' fused loops
    do not oversubscribe the machine."""
    for name in ("MINIGRAD_NUM_THREADS", "NUMBA_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value:
            try:
                n = int(value)
            except ValueError:
                raise ValueError(f"{name} must be a positive integer, got {value!r}") from None
            if n < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            return n
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


_threads = _default_threads()
_pool, _pool_owner, _pool_size = None, None, 0


def set_num_threads(n: int) -> None:
    """Threads the fused recurrences use (default: the CPUs this process may run on)."""
    global _threads
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _threads = int(n)


def get_num_threads() -> int:
    return _threads


# ---- LSTM --------------------------------------------------------------------------------------


def lstm_sequence_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, steps, reverse):
    """Returns out (T, B, H), h_n, c_n and the tuple backward needs."""
    w_ih, w_hh = _contiguous(w_ih, w_hh)
    T, B, I = x.shape
    H = w_hh.shape[1]
    with single_threaded_blas():
        xh, gates, first, last = _project(x, h0, w_ih, 4 * H, reverse)
        cs = np.empty((T + 1, B, H), x.dtype)
        cs[first] = c0
        bias = _combined_bias(b_ih, b_hh, 4 * H, x.dtype)
        _each_rows(loops.lstm_forward, B, w_hh.T,
                   lambda lo, hi, _, w, rc: (gates, xh, cs, w, bias, steps, reverse, lo, hi, rc))
    hs = xh[:, :, I:]
    saved = (xh, gates, cs, w_ih, w_hh, b_ih is not None or b_hh is not None, steps, reverse)
    return _outputs(hs, steps, reverse), hs[last].copy(), cs[last].copy(), saved


def lstm_sequence_backward(saved, dout, dh_n, dc_n, want_norms):
    """(dx, dh0, dc0, dw_ih, dw_hh, db, norms): db is both biases' gradient (None without
    biases); norms is None or the float64 (T, B) norms of dL/dh_t and dL/dc_t. Overwrites the
    saved gates."""
    xh, gates, cs, w_ih, w_hh, has_bias, steps, reverse = saved
    T, B, G = gates.shape
    H = G // 4
    dtype = gates.dtype
    dh, dc = _state_grad(dh_n, B, H, dtype), _state_grad(dc_n, B, H, dtype)
    dout, db, dx, w_ih_t, norms_h, norms_c = _backward_buffers(
        dout, has_bias, G, w_ih, T, B, H, dtype, want_norms, 2)
    work = np.empty((2, B, H), dtype)
    with single_threaded_blas():
        _each_rows(loops.lstm_backward, B, w_hh,
                   lambda lo, hi, k, w, rc: (gates, cs, w, w_ih_t, dout, dh, dc, work, db[k], dx,
                                             steps, reverse, norms_h, norms_c, lo, hi, rc))
        dx, dw_ih, dw_hh = _input_and_weight_grads(gates, xh, w_ih, dx, reverse)
    norms = (norms_h.astype(np.float64), norms_c.astype(np.float64)) if want_norms else None
    return dx, dh, dc, dw_ih, dw_hh, _bias_grad(db, dtype), norms


# ---- GRU ---------------------------------------------------------------------------------------


def gru_sequence_forward(x, h0, w_ih, w_hh, b_ih, b_hh, steps, reverse):
    """Returns out (T, B, H), h_n and the tuple backward needs."""
    x, w_ih, w_hh = _contiguous(x, w_ih, w_hh)
    T, B, I = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    with single_threaded_blas():
        # the 4-slot buffer [n|r|z|m] of cpu_recurrent_loops; slots 0-2 get x W_ih^T, rows n, r, z
        gates = np.empty((T, B, 4 * H), dtype)
        projection = gates.reshape(T * B, 4 * H)[:, :3 * H]
        _split_gemm(x.reshape(T * B, I), _gru_input_rows(w_ih, H), projection, False, True, 0.0)
        hs = np.empty((T + 1, B, H), dtype)
        first, last = (T, 0) if reverse else (0, T)
        hs[first] = h0
        b_i, b_h = _bias(b_ih, 3 * H, dtype), _bias(b_hh, 3 * H, dtype)
        gh = np.empty((B, 3 * H), dtype)
        _each_rows(loops.gru_forward, B, w_hh.T,
                   lambda lo, hi, _, w, rc: (gates, hs, w, b_i, b_h, gh, steps, reverse, lo, hi,
                                             rc))
    saved = (x, gates, hs, w_ih, w_hh, (b_ih is not None, b_hh is not None), steps, reverse)
    return _outputs(hs, steps, reverse), hs[last].copy(), saved


def gru_sequence_backward(saved, dout, dh_n, want_norms):
    """(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, norms); norms is None or ((T, B) norms of dL/dh_t,).
    Overwrites the saved gates."""
    x, gates, hs, w_ih, w_hh, has_bias, steps, reverse = saved
    T, B, G = gates.shape
    H, I = G // 4, x.shape[2]
    dtype = x.dtype
    dh = _state_grad(dh_n, B, H, dtype)
    w_ih_rows = _gru_input_rows(w_ih, H)
    dout, db, dx, w_ih_t, norms_h, _ = _backward_buffers(
        dout, any(has_bias), G, w_ih_rows, T, B, H, dtype, want_norms, 1)
    dh_next = np.empty_like(dh)
    with single_threaded_blas():
        _each_rows(loops.gru_backward, B, w_hh,
                   lambda lo, hi, k, w, rc: (gates, hs, w, w_ih_t, dout, dh, dh_next, db[k], dx,
                                             steps, reverse, norms_h, lo, hi, rc))
        d2 = gates.reshape(T * B, G)
        d_input, d_hidden = d2[:, :3 * H], d2[:, H:]  # rows n, r, z and r, z, n
        if dx.shape[0] != T:
            dx = np.empty((T * B, I), dtype)
            _split_gemm(d_input, w_ih_rows, dx, False, False, 0.0)
        dw_ih = np.empty((3 * H, I), dtype)
        _weight_gemm(d_input, x.reshape(T * B, I), dw_ih)
        dw_hh = np.empty(w_hh.shape, dtype)
        h_prev = (hs[1:] if reverse else hs[:T]).reshape(T * B, H)
        _weight_gemm(d_hidden, h_prev, dw_hh)
    sums = db.sum(axis=0)
    db_ih = _gru_input_rows(sums[:3 * H], H, inverse=True).astype(dtype) if has_bias[0] else None
    db_hh = sums[H:].astype(dtype) if has_bias[1] else None
    norms = (norms_h.astype(np.float64),) if want_norms else None
    return (dx.reshape(x.shape), dh, _gru_input_rows(dw_ih, H, inverse=True), dw_hh, db_ih, db_hh,
            norms)


def _gru_input_rows(a, H, inverse=False):
    """Rows (or entries) of a W_ih-shaped array reordered r, z, n -> n, r, z (inverse: back)."""
    order = [1, 2, 0] if inverse else [2, 0, 1]
    return np.ascontiguousarray(np.concatenate([a[k * H:(k + 1) * H] for k in order]))


# ---- vanilla RNN -------------------------------------------------------------------------------


def rnn_sequence_forward(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity, steps, reverse):
    """Returns out (T, B, H), h_n and the tuple backward needs; nonlinearity 'tanh' or 'relu'."""
    w_ih, w_hh = _contiguous(w_ih, w_hh)
    _, B, I = x.shape
    H = w_hh.shape[1]
    relu = nonlinearity == "relu"
    with single_threaded_blas():
        xh, pre, first, last = _project(x, h0, w_ih, H, reverse)
        bias = _combined_bias(b_ih, b_hh, H, x.dtype)
        _each_rows(loops.rnn_forward, B, w_hh.T,
                   lambda lo, hi, _, w, rc: (pre, xh, w, bias, relu, steps, reverse, lo, hi, rc))
    hs = xh[:, :, I:]
    # the pre-activations are not kept: backward needs only the states
    saved = (xh, w_ih, w_hh, b_ih is not None or b_hh is not None, relu, steps, reverse)
    return _outputs(hs, steps, reverse), hs[last].copy(), saved


def rnn_sequence_backward(saved, dout, dh_n, want_norms):
    """(dx, dh0, dw_ih, dw_hh, db, norms) as for the LSTM, without dc."""
    xh, w_ih, w_hh, has_bias, relu, steps, reverse = saved
    T, B, H = xh.shape[0] - 1, xh.shape[1], w_hh.shape[1]
    dtype = xh.dtype
    dh = _state_grad(dh_n, B, H, dtype)
    dout, db, dx, w_ih_t, norms_h, _ = _backward_buffers(
        dout, has_bias, H, w_ih, T, B, H, dtype, want_norms, 1)
    dpre, dh_next = np.empty((T, B, H), dtype), np.empty_like(dh)
    with single_threaded_blas():
        _each_rows(loops.rnn_backward, B, w_hh,
                   lambda lo, hi, k, w, rc: (dpre, xh, w, w_ih_t, dout, dh, dh_next, relu, db[k],
                                             dx, steps, reverse, norms_h, lo, hi, rc))
        dx, dw_ih, dw_hh = _input_and_weight_grads(dpre, xh, w_ih, dx, reverse)
    norms = (norms_h.astype(np.float64),) if want_norms else None
    return dx, dh, dw_ih, dw_hh, _bias_grad(db, dtype), norms


# ---- threads -----------------------------------------------------------------------------------


def _run(fn, calls):
    """fn(*args) for each args in calls: the first here, the rest on pool threads (fn releases
    the GIL). The pool is made per process, so a forked child starts its own."""
    global _pool, _pool_owner, _pool_size
    if len(calls) > 1 and (_pool_owner != os.getpid() or _pool_size < len(calls) - 1):
        _pool = ThreadPoolExecutor(max_workers=len(calls) - 1,
                                   thread_name_prefix="minigrad-recurrent")
        _pool_owner, _pool_size = os.getpid(), len(calls) - 1
    futures = [_pool.submit(fn, *args) for args in calls[1:]]
    fn(*calls[0])
    for future in futures:
        future.result()


def _parts(n, min_rows=MIN_ROWS_PER_THREAD):
    """Row bounds splitting n rows over the threads (fewer parts if rows are few)."""
    parts = max(1, min(_threads, n // min_rows))
    return [(n * k // parts, n * (k + 1) // parts) for k in range(parts)]


def _each_rows(loop, B, weights, arguments):
    """Run a time loop on each thread's batch rows lo:hi. weights (K, N) is the right operand of
    the per-step GEMM, packed here in column tiles; arguments(lo, hi, k, packed, row_chunk)
    builds the call (k: the thread's index, for its own accumulators)."""
    parts = _parts(B)
    row_chunk, tile = step_tiling(max(hi - lo for lo, hi in parts), *weights.shape)
    packed = pack_column_tiles(weights, tile)
    _run(loop, [arguments(lo, hi, k, packed, row_chunk) for k, (lo, hi) in enumerate(parts)])


def _split_gemm(a, b, c, transpose_a, transpose_b, beta):
    """c = op(a) @ op(b) + beta c with c's rows split over the threads."""
    _run(gemm_rows, [(a, b, c, transpose_a, transpose_b, 1.0, beta, lo, hi)
                     for lo, hi in _parts(c.shape[0], 64)])


def _weight_gemm(d, inputs, out):
    """out = d^T @ inputs summed over all T*B rows: each thread takes a share of the rows (the
    long inner dimension) into its own partial product, then the partials are added. Measured
    5-20% faster than splitting the output, and each thread reads only its share."""
    parts = _parts(d.shape[0], 256)
    if len(parts) == 1:
        _run(gemm_rows, [(d, inputs, out, True, False, 1.0, 0.0, 0, out.shape[0])])
        return
    partial = np.empty((len(parts),) + out.shape, out.dtype)
    _run(gemm_rows, [(d[lo:hi], inputs[lo:hi], partial[k], True, False, 1.0, 0.0, 0, out.shape[0])
                     for k, (lo, hi) in enumerate(parts)])
    np.sum(partial, axis=0, out=out)


# ---- shared ------------------------------------------------------------------------------------


def _project(x, h0, w_ih, G, reverse):
    """xh (T + 1, B, I + H) holding each x_t beside the slot of the state before step t, h0 in
    its slot, and x W_ih^T (T, B, G) from one GEMM. Returns xh, the projection, and the slots of
    the initial and the final state."""
    T, B, I = x.shape
    H = h0.shape[1]
    first, last = (T, 0) if reverse else (0, T)
    rows = slice(1, T + 1) if reverse else slice(0, T)
    xh = np.empty((T + 1, B, I + H), x.dtype)
    xh[rows, :, :I] = x
    xh[last, :, :I] = 0  # never read; keeps the buffer free of garbage
    xh[first, :, I:] = h0
    projection = np.empty((T, B, G), x.dtype)
    _split_gemm(xh[rows].reshape(T * B, I + H)[:, :I], w_ih, projection.reshape(T * B, G), False,
                True, 0.0)
    return xh, projection, first, last


def _backward_buffers(dout, has_bias, G, w_ih, T, B, H, dtype, want_norms, n_norms):
    """dout (or a zero row), per-thread float64 bias-gradient accumulators (empty without
    biases), dx (T, B, I) when computed in the loop (else empty), W_ih^T and the norm buffers."""
    I = w_ih.shape[1]
    db = np.zeros((_threads, G if has_bias else 0))
    dx = np.empty((T, B, I) if I <= FUSED_DX_MAX_INPUT else (0, B, I), dtype)
    norms = [np.zeros((T, B) if want_norms else (0, B), dtype) for _ in range(n_norms)]
    return (_dout(dout, B, H, dtype), db, dx, np.ascontiguousarray(w_ih.T), *norms,
            *([None] * (2 - n_norms)))


def _input_and_weight_grads(dgates, xh, w_ih, dx, reverse):
    """dx (unless the loop filled it), dW_ih and dW_hh from d(pre-activations) (T, B, G): one
    GEMM d^T @ [x | h_prev] over all steps gives both weight gradients."""
    T, B, G = dgates.shape
    I = w_ih.shape[1]
    d2 = dgates.reshape(T * B, G)
    if dx.shape[0] != T:
        dx = np.empty((T * B, I), dgates.dtype)
        _split_gemm(d2, w_ih, dx, False, False, 0.0)
    rows = slice(1, T + 1) if reverse else slice(0, T)
    dw = np.empty((G, xh.shape[2]), dgates.dtype)
    _weight_gemm(d2, xh[rows].reshape(T * B, -1), dw)
    return dx.reshape(T, B, I), np.ascontiguousarray(dw[:, :I]), np.ascontiguousarray(dw[:, I:])


def _outputs(hs, steps, reverse):
    """The states after each step (a view of the state buffer), zero where a step is past its
    sequence's length (then a new array)."""
    T = hs.shape[0] - 1
    out = hs[:T] if reverse else hs[1:]
    if np.all(steps >= T):
        return out
    valid = np.arange(T)[:, None] < steps[None, :]
    return out * valid[:, :, None].astype(out.dtype)


def _contiguous(*arrays):
    """C-contiguous versions (the same arrays when they already are): BLAS wants unit strides."""
    return tuple(np.ascontiguousarray(a) for a in arrays)


def _combined_bias(b_ih, b_hh, size, dtype):
    bias = np.zeros(size, dtype)
    if b_ih is not None:
        bias += b_ih
    if b_hh is not None:
        bias += b_hh
    return bias


def _bias(b, size, dtype):
    return np.zeros(size, dtype) if b is None else np.ascontiguousarray(b, dtype)


def _state_grad(g, B, H, dtype):
    return np.zeros((B, H), dtype) if g is None else np.array(g, dtype=dtype, order="C")


def _dout(dout, B, H, dtype):
    return np.zeros((1, B, H), dtype) if dout is None else np.ascontiguousarray(dout, dtype)


def _bias_grad(per_thread, dtype):
    """The per-thread float64 accumulators summed, in the data's dtype (None without a bias)."""
    return per_thread.sum(axis=0).astype(dtype) if per_thread.shape[1] else None
