"""A stack of one-direction fused recurrences run as a wavefront over chunks of time on the CPU
threads (docs/fused_kernels.md, "The layers pipelined over the threads").

Layer l's step t needs layer l-1's output at step t and its own state after step t-1, so with
the steps cut into chunks, layer l can run chunk k while layer l-1 runs chunk k + 1. Each task
below runs on one thread over all batch rows (the generated loops get rows 0:B, every unit and
one party, so their per-step products have all B rows and no barrier), and a thread takes the
most urgent task whose inputs are ready (a small dependency graph, `Tasks`):

- forward: P(l, k) copies layer l-1's outputs of chunk k into layer l's x window and projects
  them (run_cpu.Buffers.project); F(l, k) runs layer l's forward loop over chunk k;
- backward, from the last chunk down: B(l, k) runs layer l's reverse loop over chunk k (its
  state gradients carried from chunk k + 1; its upstream gradient the dx of layer l + 1's
  chunk k), X(l, k) computes that chunk's dx, W(l, k) adds the chunk's share of the weight
  gradients (the chunks of a layer one after another, into one array).

Every loop runs the same generated kernel on views of the same buffers as run_cpu's
layer-by-layer path, so the results equal it to float rounding (the weight gradients are
summed chunk by chunk instead of in one product over all steps).
"""

from __future__ import annotations

import heapq
import os
import threading

import numpy as np

from ..backends.cpu_blas import gemm_rows, single_threaded_blas
from . import cpu_runtime as rt
from .barrier import new_sync
from .run_cpu import Buffers, Gradients, param_grads

# steps per chunk: about T / CHUNKS, at least MIN_CHUNK_STEPS (a chunk's Python dispatch costs
# tens of microseconds on each task)
CHUNKS = 8
MIN_CHUNK_STEPS = 4


def enabled() -> bool:
    """Whether a stack of layers may run pipelined (MINIGRAD_STACK_PIPELINE=0 turns it off, for
    side-by-side measurements and as a way out); read at each call."""
    value = os.environ.get("MINIGRAD_STACK_PIPELINE", "").strip() or "1"
    if value not in ("0", "1"):
        raise ValueError(f"MINIGRAD_STACK_PIPELINE must be 0 or 1, got {value!r}")
    return value == "1"


def chunk_bounds(T: int, chunks: int | None = None) -> list[tuple[int, int]]:
    """[(t0, t1)] cutting T steps into about `chunks` (default CHUNKS) chunks of at least
    MIN_CHUNK_STEPS steps (the last may be shorter when T is not a multiple)."""
    n = chunks or env_chunks()
    size = max(MIN_CHUNK_STEPS, -(-T // n))
    return [(t0, min(T, t0 + size)) for t0 in range(0, T, size)]


def env_chunks() -> int:
    value = os.environ.get("MINIGRAD_STACK_CHUNKS", "").strip()
    if not value:
        return CHUNKS
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"MINIGRAD_STACK_CHUNKS must be a positive integer, got {value!r}")
    return int(value)


class Tasks:
    """A dependency graph of calls run by `threads` threads: each takes the ready task with the
    smallest priority; an exception in a task stops the others and is raised in the caller."""

    def __init__(self):
        self.calls, self.after, self.priority = [], [], []

    def add(self, priority, fn, *args, after=()) -> int:
        self.calls.append((fn, args))
        self.after.append([a for a in after if a is not None])
        self.priority.append(priority)
        return len(self.calls) - 1

    def run(self, threads: int) -> None:
        n = len(self.calls)
        waiting = [len(a) for a in self.after]
        dependents = [[] for _ in range(n)]
        for i, after in enumerate(self.after):
            for a in after:
                dependents[a].append(i)
        ready = [(self.priority[i], i) for i in range(n) if not waiting[i]]
        heapq.heapify(ready)
        state = {"left": n, "failed": False}
        cond = threading.Condition()

        def work():
            while True:
                with cond:
                    while not ready and state["left"] and not state["failed"]:
                        cond.wait()
                    if state["failed"] or not state["left"]:
                        return
                    i = heapq.heappop(ready)[1]
                fn, args = self.calls[i]
                try:
                    fn(*args)
                except BaseException:
                    with cond:
                        state["failed"] = True
                        cond.notify_all()
                    raise
                with cond:
                    state["left"] -= 1
                    woken = 0
                    for j in dependents[i]:
                        waiting[j] -= 1
                        if not waiting[j]:
                            heapq.heappush(ready, (self.priority[j], j))
                            woken += 1
                    if woken or not state["left"]:
                        cond.notify_all()

        rt.run(work, [()] * max(1, min(threads, n)))


def _gemm(a, b, c, transpose_a, transpose_b, beta):
    """c = op(a) @ op(b) + beta c on the calling thread (a task is already one thread's share)."""
    gemm_rows(a, b, c, transpose_a, transpose_b, 1.0, beta, 0, c.shape[0])


def _one_thread(w1, B, L, dtype):
    """(w1's tiles, the packed placeholder of a second stage, the kernels' split arguments) for
    a loop run over all B rows and every unit by one thread (one-stage cells only)."""
    none = np.zeros((1, 1), dtype)
    tiles, packed2, (chunk1, chunk2) = rt.packed_weights(B, none if w1 is None else w1, none)
    return tiles, packed2, (0, B, chunk1, chunk2, 0, L, 0, B, new_sync(), 1)


def _chunk_steps(steps, t0, t1):
    """The valid steps of each batch element counted from t0, within 0..t1 - t0."""
    return np.clip(steps - t0, 0, t1 - t0)


def forward(kernels, plans, x, states, params, steps):
    """Layers l = 0.. (kernels[l], plans[l], states[l] a list per state, params[l] a dict) over
    x (T, B, I) from the bottom up; returns the top layer's out (T, B, S_0), each layer's final
    states and what backward needs."""
    T, B, _ = x.shape
    bounds = chunk_bounds(T)
    with single_threaded_blas():
        layers = []
        inputs = x
        for plan, s, p in zip(plans, states, params):
            b = Buffers(plan, T, B, inputs.shape[2], s, p, x.dtype, False)
            layers.append(b)
            inputs = b.xh[1:, :, b.I:]  # this layer's outputs: the next one's inputs
        tasks = Tasks()
        below = [None] * len(bounds)
        for l, (kernel, plan, b) in enumerate(zip(kernels, plans, layers)):
            w, w2, tail = _one_thread(None if b.w_h is None else b.w_step.T, B, b.L, x.dtype)
            source = x if l == 0 else layers[l - 1].xh[1:, :, layers[l - 1].I:]
            previous = None
            for k, (t0, t1) in enumerate(bounds):
                project = tasks.add((k + l, 0, l), _project, plan, b, source, t0, t1,
                                    after=(below[k],))
                previous = tasks.add((k + l, 1, l), kernel.forward, *b.forward_args(
                    t0, t1, w, w2, _chunk_steps(steps, t0, t1), False, tail),
                    after=(project, previous))
                below[k] = previous
        tasks.run(rt.get_num_threads())
    outs = [b.state_buffers(plan) for plan, b in zip(plans, layers)]
    finals = [[s[T].copy() for s in buffers] for buffers in outs]
    saved = ([vars(b) for b in layers], steps)
    return rt.outputs(outs[-1][0], steps, False), finals, saved


def _project(plan, b, source, t0, t1):
    b.xh[t0:t1, :, :b.I] = source[t0:t1]
    b.project(plan, t0, t1, gemm=_gemm)


def _dx(plan, b, dx, t0, t1):
    n = (t1 - t0) * b.buf.shape[1]
    _gemm(b.buf[t0:t1].reshape(n, -1)[:, :plan.x_slots * b.L], b.w_x, dx[t0:t1].reshape(n, -1),
          False, False, 0.0)


def _weights(plan, b, dw, t0, t1, first):
    """dw (+)= the chunk's gate gradients^T @ its [x | state] rows (first: overwrite)."""
    n = (t1 - t0) * b.buf.shape[1]
    beta = 0.0 if first else 1.0
    d2, inputs = b.buf[t0:t1].reshape(n, -1), b.xh[t0:t1].reshape(n, -1)
    if plan.all_shared:
        _gemm(d2, inputs, dw[0], True, False, beta)
        return
    _gemm(d2[:, :plan.x_slots * b.L], inputs[:, :b.I], dw[0], True, False, beta)
    if len(dw) > 1:
        _gemm(d2[:, plan.h_first * b.L:], inputs[:, b.I:], dw[1], True, False, beta)


def backward(kernels, plans, saved, dout, d_finals, param_acc, param_shapes):
    """(dx, [[dstate0 per state] per layer], [{param: grad} per layer]); overwrites the saved
    slots. d_finals[l]: the upstream gradients of layer l's final states (None: zeros)."""
    fields, steps = saved
    layers = [Buffers.restore(f) for f in fields]
    T, B, _ = layers[0].buf.shape
    dtype = layers[0].buf.dtype
    bounds = chunk_bounds(T)
    top = len(layers) - 1
    grads, weights, dxs = [], [], []
    for l, (plan, b) in enumerate(zip(plans, layers)):
        g = Gradients(plan, b, dout if l == top else None, d_finals[l], param_acc[l], 1, False)
        grads.append(g)
        if plan.all_shared:
            weights.append([np.empty((plan.n_slots * b.L, b.xh.shape[2]), dtype)])
        else:
            weights.append([np.empty(b.w_x.shape, dtype)] +
                           ([np.empty(b.w_h.shape, dtype)] if b.w_h is not None else []))
    for l in range(top + 1):  # each layer's dx: the layer below's upstream gradient
        g = grads[l]
        dx = g.dx if g.dx.shape[0] else np.empty((T, B, layers[l].I), dtype)
        dxs.append(dx)
        if l > 0:
            grads[l - 1].dout = dx
    with single_threaded_blas():
        tasks = Tasks()
        above = [None] * len(bounds)  # the task after which chunk k's upstream gradient is ready
        n = len(bounds)
        for l in range(top, -1, -1):
            plan, b, g, kernel = plans[l], layers[l], grads[l], kernels[l]
            w, w2, tail = _one_thread(b.w_h, B, b.L, dtype)
            loop = summed = None
            for k in range(n - 1, -1, -1):
                t0, t1 = bounds[k]
                diagonal = (n - 1 - k) + (top - l)
                loop = tasks.add((0, diagonal, 0, -l), kernel.backward, *g.backward_args(
                    b, t0, t1, w, w2, 0, _chunk_steps(steps, t0, t1),
                    False, tail), after=(loop, above[k]))
                ready = loop
                if not g.dx.shape[0]:
                    ready = tasks.add((0, diagonal, 1, -l), _dx, plan, b, dxs[l], t0, t1,
                                      after=(loop,))
                above[k] = ready
                summed = tasks.add((1, diagonal, 0, -l), _weights, plan, b, weights[l], t0, t1,
                                   k == n - 1, after=(loop, summed))
        tasks.run(rt.get_num_threads())
    results = []
    for l, (plan, b, g) in enumerate(zip(plans, layers, grads)):
        dw = weights[l]
        if plan.all_shared:
            dw_x, dw_h = dw[0][:, :b.I], dw[0][:, b.I:]
        else:
            dw_x, dw_h = dw[0], (dw[1] if len(dw) > 1 else None)
        results.append(param_grads(plan, b, dw_x, dw_h, g.acc.sum(axis=0), param_acc[l],
                                   param_shapes[l]))
    return dxs[0], [g.dS for g in grads], results
