"""mLSTM's parallel form (Beck et al. 2024, sec. 2.3 and appendix): all steps at once, and the
MLSTM layer that trains with it.

Unrolling C_t = f'_t C_{t-1} + i'_t v_t k_t^T gives, per head, with log F_t = sum_{j<=t} log f_j
and log D_ts = log F_t - log F_s + i~_s for s <= t (-inf above the diagonal):
C_t = exp(log F_t + m_0 - m_t) C_0 + sum_s exp(log D_ts - m_t) v_s k_s^T, the same for n_t with
k_s, and the recurrent stabiliser unrolls to m_t = max(log F_t + m_0, max_s log D_ts). So
h~_t = C_t q_t / max(|n_t^T q_t|, exp(-m_t)) is one causal, decay-weighted attention:
S = (Q K^T) * exp(log D - m), numerator S V + w0 (C_0 q_t), denominator
max(|sum_s S_ts + w0 n_0^T q_t|, exp(-m_t)), w0_t = exp(log F_t + m_0 - m_t). An empty memory has
m_0 = -inf (w0 = 0, m_t = max_s log D_ts, the paper's parallel form); the recurrent form from
the same state gives the same outputs and final states (tests: 1e-10 in float64). Its batched
products (Q K^T, S V) replace the per-step work: O(T^2 d) per head and no loop over time.
"""

from __future__ import annotations

import numpy as np

import minigrad as mg

from .cell_zoo_xlstm import MLSTMCell, log_forget
from .layers import Recurrent, composed_sequence, host_lengths

MLSTM_IMPLS = ("parallel", "composed")


def mlstm_parallel(cell: MLSTMCell, x, states, lengths=None):
    """x (T, B, I), states (h0, C0, n0, m0) as the cell's -> out (T, B, H), final states.

    Past a sequence's length (lengths (B,) or None) the output is 0 and the final state is the
    one at its last valid step, as lstm.layers.composed_sequence gives."""
    T, B = x.shape[0], x.shape[1]
    NH, d, H = cell.num_heads, cell.head_size, cell.hidden_size
    _, C0, n0, m0 = states
    q, k, v, o, i, f = cell.project(x)

    def heads(a):  # (T, B, H) -> (B, NH, T, d)
        return a.reshape(T, B, NH, d).transpose(1, 2, 0, 3)

    q, k, v = heads(q), heads(k), heads(v)
    log_f = log_forget(f, cell.forget_gate).transpose(1, 2, 0)  # (B, NH, T)
    log_cum = log_f.cumsum(axis=-1)
    log_d = log_cum.reshape(B, NH, T, 1) - log_cum.reshape(B, NH, 1, T) + \
        i.transpose(1, 2, 0).reshape(B, NH, 1, T)
    log_d = log_d.masked_fill(~np.tril(np.ones((T, T), bool)), -np.inf)
    log_w0 = (log_cum + m0.reshape(B, NH, 1)).reshape(B, NH, T, 1)
    m = log_d.max(axis=-1, keepdims=True).maximum(log_w0)  # (B, NH, T, 1)
    decay = (log_d - m).exp()
    w0 = (log_w0 - m).exp()
    C0, n0 = C0.reshape(B, NH, d, d), n0.reshape(B, NH, d)
    scores = (q @ k.transpose(0, 1, 3, 2)) * decay  # (B, NH, T, T)
    numerator = scores @ v + w0 * (q @ C0.transpose(0, 1, 3, 2))
    normaliser = scores.sum(axis=-1, keepdims=True) + w0 * (q @ n0.reshape(B, NH, d, 1))
    h_tilde = numerator / normaliser.abs().maximum((-m).exp())  # (B, NH, T, d)
    out = o.sigmoid() * h_tilde.transpose(2, 0, 1, 3).reshape(T, B, H)
    last = np.full(B, T - 1) if lengths is None else np.asarray(lengths) - 1
    pick = np.zeros((B, 1, T, 1), x.dtype)
    pick[np.arange(B), 0, last, 0] = 1.0
    pick = mg.tensor(pick, device=x.device)
    decay_last = (decay * pick).sum(axis=2)  # (B, NH, T): row t_b of the decay
    w0_last = (w0 * pick).sum(axis=2).reshape(B, NH, 1)
    C = w0_last.reshape(B, NH, 1, 1) * C0 + \
        (v * decay_last.reshape(B, NH, T, 1)).transpose(0, 1, 3, 2) @ k
    n = w0_last * n0 + (k * decay_last.reshape(B, NH, T, 1)).sum(axis=2)
    m_last = (m * pick).sum(axis=2).reshape(B, NH)
    if lengths is not None:
        valid = np.arange(T)[:, None, None] < np.asarray(lengths)[None, :, None]
        out = out * mg.tensor(valid.astype(x.dtype), device=x.device)
    return out, (_at(out, last), C.reshape(B, NH * d * d), n.reshape(B, H), m_last)


def _at(out, last):
    """out (T, B, H) at step last[b] of each row b -> (B, H)."""
    return out[last, np.arange(out.shape[1])]


def _reverse_index(lengths, steps: int, batch: int) -> np.ndarray:
    """(T, B) step indices that reverse each sequence within its own length (an involution)."""
    t = np.arange(steps)[:, None]
    ends = np.full(batch, steps) if lengths is None else np.asarray(lengths)
    return np.where(t < ends[None, :], ends[None, :] - 1 - t, t)


class MLSTM(Recurrent):
    """A stack of mLSTM layers (lstm.cell_zoo_xlstm.MLSTMCell) with Recurrent's interface.

    impl "parallel" (default; "fused" is taken to mean it, the fast path) runs the parallel form
    per layer and direction; "composed" unrolls the cell's recurrent step. Both start an empty
    memory (m_0 = -inf, the cell's initial value) when no state is given (state tuple (h, C, n,
    m)); with grad_norms the recurrent form runs (the parallel form has no per-step states; the
    two agree to rounding)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, impl="parallel", rng=None, dtype=np.float32,
                 num_heads=4, forget_gate="sigmoid"):
        impl = "parallel" if impl == "fused" else impl
        if impl not in MLSTM_IMPLS:
            raise ValueError(f"MLSTM: impl must be one of {MLSTM_IMPLS} (or 'fused', meaning "
                             f"'parallel'), got {impl!r}")
        super().__init__(MLSTMCell, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, "composed", rng, dtype, num_heads=num_heads,
                         forget_gate=forget_gate)
        self.impl = impl

    def _sequence(self, x, states, suffix, lengths, reverse, sink, masks=None):
        cell = self.cell(suffix)
        lengths = host_lengths(lengths)
        if self.impl == "composed" or sink is not None:  # grad_norms: the per-step states
            return composed_sequence(cell, x, states, lengths, reverse, masks, sink)
        if masks is not None:
            raise ValueError("MLSTM: recurrent_dropout is not defined for the mLSTM (no "
                             "recurrent product)")
        if not reverse:
            return mlstm_parallel(cell, x, states, lengths)
        index = _reverse_index(lengths, x.shape[0], x.shape[1])
        columns = np.arange(x.shape[1])[None, :]
        out, finals = mlstm_parallel(cell, x[index, columns], states, lengths)
        return out[index, columns], finals
