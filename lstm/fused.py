"""The fused path of lstm.Recurrent: one whole-sequence primitive per layer and direction.

Any cell's step is traced and compiled by minigrad.compiler (once per cell, dtype and setting of
its plain attributes), the built-in cells like any other. On CUDA, until the CUDA generator lands,
the cells in ``HANDWRITTEN`` run minigrad's hand-written CUDA kernels (minigrad.ops.recurrent).
"""

from __future__ import annotations

import numpy as np

from minigrad.compiler import CompiledStep, compile_step
from minigrad.ops import recurrent

from .cells import Cell, GRUCell, LSTMCell, RNNCell

HANDWRITTEN = {LSTMCell, GRUCell, RNNCell}


def fused_sequence(cell: Cell, x, states, lengths, reverse, grad_norms):
    """Run `cell` over x (T, B, I) from `states`; returns out (T, B, H_out), final states."""
    kind = type(cell)
    if kind in HANDWRITTEN and x.device != "cpu":
        return _handwritten(cell, x, states, lengths, reverse, grad_norms)
    compiled = compiled_step(cell, x.dtype)
    params = dict(cell._parameters)
    return compiled(x, states, params, lengths=lengths, reverse=reverse, grad_norms=grad_norms,
                    state_names=cell.states)


def compiled_step(cell: Cell, dtype) -> CompiledStep:
    """The cell's step compiled for dtype (cached on the cell)."""
    key = (np.dtype(dtype).name, _settings(cell))
    cache = cell.__dict__.setdefault("_compiled_steps", {})
    if key not in cache:
        params = {name: p.shape for name, p in cell._parameters.items()}
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
        saved = {name: getattr(cell, name) for name in params}
        for name, value in params.items():
            object.__setattr__(cell, name, value)
        try:
            return cell.step(x, states)
        finally:
            for name, value in saved.items():
                object.__setattr__(cell, name, value)

    return step


def _handwritten(cell, x, states, lengths, reverse, grad_norms):
    weights = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    if isinstance(cell, LSTMCell):
        out, h_n, c_n = recurrent.lstm_sequence(x, *states, *weights, lengths=lengths,
                                                reverse=reverse, grad_norms=grad_norms)
        return out, (h_n, c_n)
    if isinstance(cell, GRUCell):
        out, h_n = recurrent.gru_sequence(x, *states, *weights, lengths=lengths, reverse=reverse,
                                          grad_norms=grad_norms)
        return out, (h_n,)
    out, h_n = recurrent.rnn_sequence(x, *states, *weights, nonlinearity=cell.nonlinearity,
                                      lengths=lengths, reverse=reverse, grad_norms=grad_norms)
    return out, (h_n,)


__all__ = ["fused_sequence", "compiled_step", "HANDWRITTEN"]
