"""The fused path of lstm.Recurrent: one whole-sequence primitive per layer and direction.

Any cell's step is traced and compiled by minigrad.compiler (once per cell, dtype and setting of
its plain attributes), the built-in cells like any other, on the CPU and on CUDA.
"""

from __future__ import annotations

import numpy as np

from minigrad.compiler import CompiledStep, compile_step

from .cells import COMPILED_STEPS, Cell


def fused_sequence(cell: Cell, x, states, lengths, reverse, grad_norms):
    """Run `cell` over x (T, B, I) from `states`; returns out (T, B, H_out), final states."""
    compiled = compiled_step(cell, x.dtype)
    params = cell.step_parameters()
    return compiled(x, states, params, lengths=lengths, reverse=reverse, grad_norms=grad_norms,
                    state_names=cell.states)


def compiled_step(cell: Cell, dtype) -> CompiledStep:
    """The cell's step compiled for dtype (cached on the cell)."""
    key = (np.dtype(dtype).name, _settings(cell))
    cache = cell.__dict__.setdefault(COMPILED_STEPS, {})
    if key not in cache:
        params = {name: p.shape for name, p in cell.step_parameters().items()}
        sizes = [cell.state_size(name) for name in cell.states]
        cache[key] = compile_step(_bound_step(cell), cell.input_size, sizes, params, dtype)
    return cache[key]


def _settings(cell: Cell) -> tuple:
    """The cell's plain attributes (a step may branch on them, e.g. RNN's nonlinearity)."""
    plain = (str, int, float, bool, type(None))
    return tuple(sorted((k, v) for k, v in vars(cell).items()
                        if isinstance(v, plain) and not k.startswith("_")))


def _bound_step(cell: Cell):
    """step(x, states, params) running cell.step with the parameters replaced by `params`."""

    def step(x, states, params):
        saved = {name: cell.__dict__[name] for name in params if name in cell.__dict__}
        for name, value in params.items():
            object.__setattr__(cell, name, value)
        try:
            return cell.step(x, states)
        finally:  # the cell's attributes exactly as they were (a derived one was not there)
            for name in params:
                if name in saved:
                    object.__setattr__(cell, name, saved[name])
                else:
                    del cell.__dict__[name]

    return step


__all__ = ["fused_sequence", "compiled_step"]
