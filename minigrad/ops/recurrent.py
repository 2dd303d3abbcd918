"""Fused whole-sequence recurrent primitives: one layer, one direction, one tape node each.

Weights are in PyTorch's layout and gate order (LSTM [i|f|g|o], GRU [r|z|n], RNN one block). On
both devices each runs the kernels minigrad.compiler generates from the step written below (the
same step lstm.cells defines, so both share one cached kernel): Numba CPU loops, or numba.cuda
kernels launched per step between the tiled GEMMs. This module validates arguments and compiles
the step once per model, dtype and shapes.

``lengths`` (B,) gives PackedSequence semantics in both directions: at step t an element with
t >= lengths[b] keeps its state and outputs 0. ``reverse`` reads x from T-1 down to 0, so each
sequence starts at its own last valid step. If ``grad_norms`` is a dict, backward fills
``grad_norms["h"]`` (and ``["c"]`` for the LSTM) with the float64 (T, B) norms over H of the total
gradient reaching each state h_t (c_t).
"""

from __future__ import annotations

import numpy as np

from ..compiler.lengths import step_counts
from ..tensor import Tensor

_GATES = {"lstm_sequence": 4, "gru_sequence": 3, "rnn_sequence": 1}


def lstm_sequence(x: Tensor, h0: Tensor, c0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                  bias_ih: Tensor | None = None, bias_hh: Tensor | None = None, lengths=None,
                  reverse: bool = False, grad_norms: dict | None = None):
    """c_t = f*c + i*g, h_t = o*tanh(c_t), [i|f|g|o] = act(W_ih x_t + b_ih + W_hh h + b_hh).

    Returns out (T, B, H), h_n (B, H), c_n (B, H).
    """
    _check("lstm_sequence", x, weight_ih, weight_hh, bias_ih, bias_hh, lengths, grad_norms,
           {"h0": h0, "c0": c0})
    out, (h_n, c_n) = _generated("lstm", x, (h0, c0), weight_ih, weight_hh, bias_ih, bias_hh,
                                 lengths, reverse, grad_norms)
    return out, h_n, c_n


def gru_sequence(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                 bias_ih: Tensor | None = None, bias_hh: Tensor | None = None, lengths=None,
                 reverse: bool = False, grad_norms: dict | None = None):
    """h_t = (1-z)*n + z*h, n = tanh(W_in x_t + b_in + r*(W_hn h + b_hn)), r, z sigmoid gates.

    Returns out (T, B, H), h_n (B, H).
    """
    _check("gru_sequence", x, weight_ih, weight_hh, bias_ih, bias_hh, lengths, grad_norms,
           {"h0": h0})
    out, (h_n,) = _generated("gru", x, (h0,), weight_ih, weight_hh, bias_ih, bias_hh, lengths,
                             reverse, grad_norms)
    return out, h_n


def rnn_sequence(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                 bias_ih: Tensor | None = None, bias_hh: Tensor | None = None,
                 nonlinearity: str = "tanh", lengths=None, reverse: bool = False,
                 grad_norms: dict | None = None):
    """h_t = act(W_ih x_t + b_ih + W_hh h + b_hh), act tanh or relu.

    Returns out (T, B, H), h_n (B, H).
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_sequence: nonlinearity must be 'tanh' or 'relu', got "
                         f"{nonlinearity!r}")
    _check("rnn_sequence", x, weight_ih, weight_hh, bias_ih, bias_hh, lengths, grad_norms,
           {"h0": h0})
    out, (h_n,) = _generated(f"rnn_{nonlinearity}", x, (h0,), weight_ih, weight_hh, bias_ih,
                             bias_hh, lengths, reverse, grad_norms)
    return out, h_n


# ---- the steps, compiled for both devices ------------------------------------------------------


def _affine(x, weight, bias):
    y = x @ weight.T
    return y if bias is None else y + bias


def _step(model):
    """step(x, states, params) in torch's equations (written as lstm.cells writes them)."""

    def step(x, states, p):
        b_ih, b_hh = p.get("bias_ih"), p.get("bias_hh")
        if model == "lstm":
            h, c = states
            gates = _affine(x, p["weight_ih"], b_ih) + _affine(h, p["weight_hh"], b_hh)
            i, f, g, o = gates.split(4, axis=-1)
            i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
            c_next = f * c + i * g
            return o * c_next.tanh(), c_next
        (h,) = states
        if model == "gru":
            x_r, x_z, x_n = _affine(x, p["weight_ih"], b_ih).split(3, axis=-1)
            h_r, h_z, h_n = _affine(h, p["weight_hh"], b_hh).split(3, axis=-1)
            r = (x_r + h_r).sigmoid()
            z = (x_z + h_z).sigmoid()
            n = (x_n + r * h_n).tanh()
            return ((1.0 - z) * n + z * h,)
        pre = _affine(x, p["weight_ih"], b_ih) + _affine(h, p["weight_hh"], b_hh)
        return (pre.tanh() if model == "rnn_tanh" else pre.relu(),)

    return step


_COMPILED: dict = {}


def _generated(model, x, states, weight_ih, weight_hh, bias_ih, bias_hh, lengths, reverse,
               grad_norms):
    from ..compiler import compile_step

    params = {"weight_ih": weight_ih, "weight_hh": weight_hh}
    if bias_ih is not None:
        params["bias_ih"] = bias_ih
    if bias_hh is not None:
        params["bias_hh"] = bias_hh
    key = (model, x.dtype.name, x.shape[2], tuple((k, v.shape) for k, v in params.items()))
    if key not in _COMPILED:
        sizes = [s.shape[1] for s in states]
        _COMPILED[key] = compile_step(_step(model), x.shape[2], sizes, params, x.dtype)
    names = ("h", "c") if model == "lstm" else ("h",)
    return _COMPILED[key](x, states, params, lengths=lengths, reverse=reverse,
                          grad_norms=grad_norms, state_names=names)


# ---- argument handling -------------------------------------------------------------------------


def _check(name, x, weight_ih, weight_hh, bias_ih, bias_hh, lengths, grad_norms, states):
    """Validate every argument (ValueError naming it, expected and actual); returns the int64
    per-sequence step counts (T where lengths is None)."""
    _require_tensor(name, "x", x)
    if x.ndim != 3 or 0 in x.shape:
        raise ValueError(f"{name}: x must have shape (T, B, input_size) with T, B, input_size "
                         f">= 1, got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name}: x must be float32 or float64, got {x.dtype}")
    T, B, input_size = x.shape
    _require_tensor(name, "weight_hh", weight_hh)
    if weight_hh.ndim != 2 or weight_hh.shape[1] == 0:
        raise ValueError(f"{name}: weight_hh must have shape ({_GATES[name]}*hidden_size, "
                         f"hidden_size), got shape {weight_hh.shape}")
    H = weight_hh.shape[1]
    G = _GATES[name] * H
    expected = {"weight_ih": (G, input_size), "weight_hh": (G, H), "bias_ih": (G,),
                "bias_hh": (G,), **{k: (B, H) for k in states}}
    given = {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih,
             "bias_hh": bias_hh, **states}
    for arg, t in given.items():
        if t is None and arg.startswith("bias"):
            continue
        _require_tensor(name, arg, t)
        if t.shape != expected[arg]:
            raise ValueError(f"{name}: {arg} must have shape {expected[arg]}, got shape "
                             f"{t.shape}")
        if t.dtype != x.dtype or t.device != x.device:
            raise ValueError(f"{name}: {arg} must be {x.dtype} on {x.device} like x, got "
                             f"{t.dtype} on {t.device}")
    if grad_norms is not None and not isinstance(grad_norms, dict):
        raise ValueError(f"{name}: grad_norms must be None or a dict, got "
                         f"{type(grad_norms).__name__}")
    return step_counts(name, lengths, T, B)


def _require_tensor(name, arg, t):
    if not isinstance(t, Tensor):
        raise ValueError(f"{name}: {arg} must be a Tensor, got {type(t).__name__}")
