"""The fused path of lstm.Recurrent: one whole-sequence primitive per layer and direction.

RNN, LSTM and GRU cells run through minigrad's hand-written fused primitives until the generated
kernels replace them; any other cell is traced and compiled by minigrad.compiler.
"""

from __future__ import annotations

from minigrad.ops import recurrent

from .cells import Cell, GRUCell, LSTMCell, RNNCell


def fused_sequence(cell: Cell, x, states, lengths, reverse, grad_norms):
    """Run `cell` over x (T, B, I) from `states`; returns out (T, B, H_out), final states."""
    weights = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh) \
        if isinstance(cell, (LSTMCell, GRUCell, RNNCell)) else None
    kind = type(cell)
    if kind is LSTMCell:
        out, h_n, c_n = recurrent.lstm_sequence(x, *states, *weights, lengths=lengths,
                                                reverse=reverse, grad_norms=grad_norms)
        return out, (h_n, c_n)
    if kind is GRUCell:
        out, h_n = recurrent.gru_sequence(x, *states, *weights, lengths=lengths, reverse=reverse,
                                          grad_norms=grad_norms)
        return out, (h_n,)
    if kind is RNNCell:
        out, h_n = recurrent.rnn_sequence(x, *states, *weights, nonlinearity=cell.nonlinearity,
                                          lengths=lengths, reverse=reverse,
                                          grad_norms=grad_norms)
        return out, (h_n,)
    raise ValueError(f"{kind.__name__}: the fused path for user cells is not built yet; "
                     "impl='composed' works")
