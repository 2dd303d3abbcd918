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
from . import run_cpu
from .cache import cache_dir, load
from .emit_cpu import module_source
from .lengths import step_counts
from .plan import Plan, plan
from .trace import CellCompileError, Graph, trace, unsupported

__all__ = ["CellCompileError", "CompiledStep", "compile_step", "cache_dir", "trace", "plan"]


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
        if grad_norms is not None and not isinstance(grad_norms, dict):
            raise ValueError("fused_recurrence: grad_norms must be None or a dict")
        return step_counts("fused_recurrence", lengths, T, B)


def compile_step(step, input_size: int, state_sizes, params: dict, dtype) -> CompiledStep:
    """Trace step(x, states, params) (params: name -> shape or Tensor), plan and generate its
    fused kernels for `dtype` (float32 or float64); Numba compiles them on first run."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"compile_step: dtype must be float32 or float64, got {dtype}")
    shapes = {name: tuple(getattr(p, "shape", p)) for name, p in params.items()}
    graph = trace(step, input_size, tuple(state_sizes), shapes)
    return CompiledStep(graph, plan(graph), dtype)
