"""The cell compiler: a recurrent step written once in primitives, run as fused sequence kernels.

``compile_step(step, input_size, state_sizes, params, dtype)`` traces ``step(x, states, params)``
(minigrad.compiler.trace), plans lanes, slots and saved values (plan), generates the Numba source
of the forward and backward time loops (emit_cpu) and imports it from the disk cache (cache).
The result, called on tensors, runs the whole sequence as one tape node (``fused_recurrence``)
whose backward is the generated reverse loop: the step's primitives' own derivatives (the
scalar rules), applied to the traced graph. docs/cell_compiler.md explains it all.
"""

from __future__ import annotations

import numpy as np

from ..autograd import record_multi
from ..tensor import Tensor
from . import cpu_runtime as rt
from . import run_cpu, run_stack
from .cache import cache_dir, load
from .emit_cpu import module_source
from .lengths import step_counts
from .plan import Plan, plan
from .trace import CellCompileError, Graph, trace, unsupported

__all__ = ["CellCompileError", "CompiledStep", "compile_step", "cache_dir", "trace", "plan",
           "stack_pipelined", "stacked_recurrence"]


class CompiledStep:
    """A traced, planned and generated step; call it to run a sequence as one tape node."""

    def __init__(self, graph: Graph, step_plan: Plan, dtype):
        self.graph, self.plan, self.dtype = graph, step_plan, np.dtype(dtype)
        self.source, self.param_acc = module_source(step_plan, self.dtype.name)
        self._kernels = None
        self._cuda = None  # (source, param_acc, module): generated on first use on CUDA

    @property
    def kernels(self):
        """The generated module (imported, and compiled by Numba, on first use)."""
        if self._kernels is None:
            self._kernels = load(self.source)
        return self._kernels

    def cuda(self):
        """(generated CUDA module, its accumulator columns), generated and imported on first use."""
        if self._cuda is None:
            from .emit_cuda import module_source as cuda_source

            if getattr(self.plan, "n_phases", 1) > 1:
                # the CPU's reduction passes (passes.py) have no CUDA emitter yet: never run a
                # kernel that would skip them
                raise unsupported("row reductions (sum/mean over the hidden axis, as in layer "
                                  "norm) on CUDA (they fuse on the CPU)")

            source, param_acc = cuda_source(self.plan, self.dtype.name)
            self._cuda = (source, param_acc, load(source, "cudacell"))
        return self._cuda[2], self._cuda[1]

    @property
    def param_names(self) -> list[str]:
        """The parameters the step uses, in the order of the node's inputs after x and states."""
        names = [self.plan.weight_x] + ([self.plan.weight_h] if self.plan.weight_h else [])
        names += [self.plan.weight_mid] if self.plan.weight_mid else []
        return names + list(self.plan.vectors)

    def __call__(self, x: Tensor, states, params: dict, lengths=None, reverse: bool = False,
                 grad_norms: dict | None = None, state_names=None):
        """x (T, B, I), states (B, S_k) -> out (T, B, S_0) and the final states (a tuple)."""
        states = tuple(states)
        steps = self._check(x, states, params, lengths, grad_norms)
        names = self.param_names
        inputs = (x, *states, *[params[n] for n in names])
        if isinstance(x.data, np.ndarray):
            runner, (kernels, param_acc) = run_cpu, (self.kernels, self.param_acc)
        else:
            from . import run_cuda as runner

            kernels, param_acc = self.cuda()
        arrays = {n: params[n].data for n in names}
        shapes = {n: params[n].shape for n in names}
        state_data = [s.data for s in states]
        step_plan = self.plan
        out, finals, saved = runner.forward(kernels, step_plan, x.data, state_data, arrays,
                                             steps, reverse)
        n_states = len(states)
        labels = state_names or [f"s{k}" for k in range(n_states)]

        def backward(grads):
            nonlocal saved
            if saved is None:  # a second backward (retain_graph): the first overwrote the slots
                saved = runner.forward(kernels, step_plan, x.data, state_data, arrays, steps,
                                        reverse)[2]
            dx, d_states, d_params, norms = runner.backward(
                kernels, step_plan, saved, grads[0], grads[1:], grad_norms is not None,
                param_acc, shapes)
            saved = None
            if norms is not None:
                grad_norms.update(zip(labels, norms))
            return (dx, *d_states, *[d_params[n] for n in names])

        tensors = record_multi("fused_recurrence", [out, *finals], inputs, backward)
        return tensors[0], tuple(tensors[1:1 + n_states])

    def _check(self, x, states, params, lengths, grad_norms):
        graph = self.graph
        if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[2] != graph.input_size \
                or 0 in x.shape:
            raise ValueError(f"fused_recurrence: x must be a Tensor (T, B, {graph.input_size}) "
                             f"with T, B >= 1, got {getattr(x, 'shape', type(x).__name__)}")
        if x.dtype != self.dtype:
            raise ValueError(f"fused_recurrence: compiled for {self.dtype}, x is {x.dtype}")
        T, B, _ = x.shape
        self._check_states(x, B, states, params)
        if grad_norms is not None and not isinstance(grad_norms, dict):
            raise ValueError("fused_recurrence: grad_norms must be None or a dict")
        return step_counts("fused_recurrence", lengths, T, B)

    def _check_states(self, x, B, states, params):
        graph = self.graph
        if len(states) != len(graph.state_sizes):
            raise ValueError(f"fused_recurrence: {len(graph.state_sizes)} states expected, got "
                             f"{len(states)}")
        for k, (s, size) in enumerate(zip(states, graph.state_sizes)):
            if not isinstance(s, Tensor) or s.shape != (B, size) or s.dtype != x.dtype:
                raise ValueError(f"fused_recurrence: state {k} must be a {x.dtype} Tensor of "
                                 f"shape {(B, size)}, got {getattr(s, 'shape', s)}")
        for name in self.param_names:
            p = params.get(name)
            if not isinstance(p, Tensor) or p.shape != tuple(graph.params[name]) or \
                    p.dtype != x.dtype:
                raise ValueError(f"fused_recurrence: parameter {name} must be a {x.dtype} "
                                 f"Tensor of shape {graph.params[name]}, got "
                                 f"{getattr(p, 'shape', p)}")


def compile_step(step, input_size: int, state_sizes, params: dict, dtype) -> CompiledStep:
    """Trace step(x, states, params) (params: name -> shape or Tensor), plan and generate its
    fused kernels for `dtype` (float32 or float64); Numba compiles them on first run."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"compile_step: dtype must be float32 or float64, got {dtype}")
    shapes = {name: tuple(getattr(p, "shape", p)) for name, p in params.items()}
    graph = trace(step, input_size, tuple(state_sizes), shapes)
    return CompiledStep(graph, plan(graph), dtype)


def stack_pipelined(steps, x: Tensor) -> bool:
    """Whether `steps` (CompiledStep per layer, each one's input the previous one's output) can
    run over x as one pipelined node (run_stack): CPU arrays, two threads or more, at least two
    chunks of time, one-stage cells (one per-step product), MINIGRAD_STACK_PIPELINE not 0."""
    if len(steps) < 2 or not isinstance(x.data, np.ndarray) or rt.get_num_threads() < 2 \
            or not run_stack.enabled() or len(run_stack.chunk_bounds(x.shape[0])) < 2:
        return False
    return all(s.plan.weight_mid is None for s in steps)


def stacked_recurrence(cells, x: Tensor, states, params, lengths=None):
    """The layers cells[l] (CompiledStep) stacked, one direction: layer l's input is layer
    l-1's output, x (T, B, I) the first one's; states[l] its initial states, params[l] its
    parameters (name -> Tensor). One tape node whose forward and backward run the layers as a
    wavefront over chunks of time on the threads (run_stack.py; where stack_pipelined says so).
    Returns the top layer's out (T, B, S_0) and each layer's final states (a tuple per layer)."""
    steps_ = list(cells)
    counts = steps_[0]._check(x, tuple(states[0]), params[0], lengths, None)
    T, B, _ = x.shape
    for l in range(1, len(steps_)):
        width = steps_[l - 1].graph.state_sizes[0]
        if steps_[l].graph.input_size != width:
            raise ValueError(f"stacked_recurrence: layer {l} takes inputs of size "
                             f"{steps_[l].graph.input_size}, layer {l - 1} outputs {width}")
        steps_[l]._check_states(x, B, tuple(states[l]), params[l])
    names = [s.param_names for s in steps_]
    n_states = [len(s) for s in states]
    inputs = (x, *[s for layer in states for s in layer],
              *[layer[n] for layer, ns in zip(params, names) for n in ns])
    kernels = [s.kernels for s in steps_]
    plans = [s.plan for s in steps_]
    accs = [s.param_acc for s in steps_]
    arrays = [{n: p[n].data for n in ns} for p, ns in zip(params, names)]
    shapes = [{n: p[n].shape for n in ns} for p, ns in zip(params, names)]
    state_data = [[s.data for s in layer] for layer in states]
    out, finals, saved = run_stack.forward(kernels, plans, x.data, state_data, arrays, counts)

    def backward(grads):
        nonlocal saved
        if saved is None:  # a second backward (retain_graph): the first overwrote the slots
            saved = run_stack.forward(kernels, plans, x.data, state_data, arrays, counts)[2]
        d_finals, k = [], 1
        for n in n_states:
            d_finals.append(list(grads[k:k + n]))
            k += n
        dx, d_states, d_params = run_stack.backward(kernels, plans, saved, grads[0], d_finals,
                                                    accs, shapes)
        saved = None
        return (dx, *[d for layer in d_states for d in layer],
                *[d[n] for d, ns in zip(d_params, names) for n in ns])

    tensors = record_multi("stacked_recurrence", [out, *[f for layer in finals for f in layer]],
                           inputs, backward)
    result, k = [], 1
    for n in n_states:
        result.append(tuple(tensors[k:k + n]))
        k += n
    return tensors[0], result
