"""The xLSTM cells (Beck, Pöppel, Spanring, Auer, Prudnikova, Kopp, Klambauer, Brandstetter &
Hochreiter 2024, "xLSTM: Extended Long Short-Term Memory", arXiv 2405.04517): sLSTM and mLSTM.

Both gate the input exponentially, i_t = exp(i~_t), and keep a normaliser state n_t beside the
memory; a stabiliser state m_t (a running log-scale) keeps every exponential at most 1, so
nothing overflows in float32 while the outputs are those of the unstabilised equations. The
forget gate is sigmoid(f~_t) (default) or exp(f~_t); log f_t enters the stabiliser as
logsigmoid(f~_t) or f~_t.

sLSTM fuses (the step is elementwise after one recurrent product); its heads are block-diagonal
recurrent weights, a parameter of per-head blocks expanded to the (4H, H) matrix the fused
kernel multiplies by (``step_parameters``), so the off-block entries stay zero and get no
gradient. mLSTM's memory is a matrix per head: its step needs an outer product v k^T and a
matrix-vector product C q per head, neither of which the cell compiler's lane loops (elementwise
on equal-width rows, products only by parameter matrices) can express, so its recurrent form runs
composed, and its parallel form (lstm.xlstm_parallel) is the fast path for training.
"""

from __future__ import annotations

import math

import numpy as np

import minigrad as mg

from .cells import Cell, make_uniform

FORGET_GATES = ("sigmoid", "exp")
FORGET_BIAS_RANGE = (3.0, 6.0)  # xLSTM's forget-gate bias init: linspace(3, 6) over the units


def _check_heads(owner: str, hidden_size: int, num_heads, forget_gate) -> None:
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1 or \
            hidden_size % num_heads:
        raise ValueError(f"{owner}: num_heads must be an integer >= 1 dividing hidden_size "
                         f"({hidden_size}), got {num_heads!r}")
    if forget_gate not in FORGET_GATES:
        raise ValueError(f"{owner}: forget_gate must be one of {FORGET_GATES}, got "
                         f"{forget_gate!r}")


def log_forget(pre, forget_gate: str):
    """log f_t from the pre-activation: logsigmoid(f~) (sigmoid gate) or f~ (exp gate)."""
    return pre.logsigmoid() if forget_gate == "sigmoid" else pre


def block_diagonal(blocks, num_heads: int, gates: int):
    """(gates*H, d) per-head blocks -> the (gates*H, H) block-diagonal matrix (d = H / heads):
    row g*H + k*d + i, column k*d + j holds blocks[g*H + k*d + i, j]."""
    rows, d = blocks.shape
    eye = mg.tensor(np.eye(num_heads, dtype=blocks.dtype).reshape(1, num_heads, 1, num_heads, 1),
                    device=blocks.device)
    spread = blocks.reshape(gates, num_heads, d, 1, d) * eye
    return spread.reshape(rows, num_heads * d)


class _ExponentialGating(Cell):
    """What the sLSTM and mLSTM cells share: heads, the forget gate's form, the stabiliser state m
    starting at -inf, and weights U(+-1/sqrt(H)) with a bias of zeros but for the forget gate."""

    initial_values = {"m": -np.inf}

    def __init__(self, input_size, hidden_size, bias=True, num_heads=4, forget_gate="sigmoid",
                 rng=None, dtype=np.float32):
        _check_heads(type(self).__name__, hidden_size, num_heads, forget_gate)
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        self.num_heads, self.forget_gate = num_heads, forget_gate

    def _weights(self, shapes: dict, rows: int, forget: slice) -> None:
        """The parameters `shapes` and bias_ih (rows,), drawn U(+-1/sqrt(H)); then bias_ih 0 but
        for its forget-gate entries `forget`, linspace(3, 6) over them (xLSTM's init)."""
        make_uniform(self, shapes | ({"bias_ih": (rows,)} if self.bias else {}), self.hidden_size,
                     "", self.rng, self.dtype)
        if self.bias:
            self.bias_ih.data[:] = 0.0
            self.bias_ih.data[forget] = np.linspace(*FORGET_BIAS_RANGE, forget.stop - forget.start)
        else:
            self.bias_ih = None

    def extra_repr(self):
        return (super().extra_repr() + f", num_heads={self.num_heads}, "
                f"forget_gate={self.forget_gate!r}")


class SLSTMCell(_ExponentialGating):
    """sLSTM: scalar memory with exponential gating and memory mixing (Beck et al. 2024, sec. 2.2).

    Pre-activations [i~|f~|z~|o~] = x W_ih^T + h_{t-1} R^T + b, R block-diagonal over
    ``num_heads`` heads (``weight_hh`` (4H, d) holds each gate's and head's (d, d) block),
    b = ``bias_ih``;
    m_t = max(log f_t + m_{t-1}, i~_t), i'_t = exp(i~_t - m_t), f'_t = exp(log f_t + m_{t-1} - m_t),
    c_t = f'_t c_{t-1} + i'_t tanh(z~_t), n_t = f'_t n_{t-1} + i'_t, h_t = sigmoid(o~_t) c_t / n_t.
    States (h, c, n, m): when none are given, zeros and m_0 = -inf (an empty memory, as the
    official code's first step: m_1 = i~_1, so n_t >= 1 for all t and c_t / n_t never divides
    by an underflowed n; from m_0 = 0, n_1 = exp(i~_1 - log f_1) can underflow in float32).
    Weights U(+-1/sqrt(H)) as torch's LSTM; biases 0 except the forget gate's,
    linspace(3, 6) over the units (xLSTM's init), so memory is held at the start.
    """

    states = ("h", "c", "n", "m")
    recurrent_weight = None  # bound to the block-diagonal matrix while the fused path traces

    def __init__(self, input_size, hidden_size, bias=True, num_heads=4, forget_gate="sigmoid",
                 rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, num_heads, forget_gate, rng, dtype)
        H = hidden_size
        self._weights({"weight_ih": (4 * H, input_size), "weight_hh": (4 * H, H // num_heads)},
                      4 * H, slice(H, 2 * H))

    def step_parameters(self) -> dict:
        """The step reads the (4H, H) block-diagonal recurrent matrix, built from weight_hh."""
        params = {k: v for k, v in self._parameters.items() if k != "weight_hh"}
        params["recurrent_weight"] = block_diagonal(self.weight_hh, self.num_heads, 4)
        return params

    def step(self, x, state):
        h, c, n, m = state
        weight = self.recurrent_weight
        if weight is None:  # composed: build it here (the fused path binds it)
            weight = block_diagonal(self.weight_hh, self.num_heads, 4)
        pre = x @ self.weight_ih.T + h @ weight.T
        if self.bias_ih is not None:
            pre = pre + self.bias_ih
        i, f, z, o = pre.split(4, axis=-1)
        log_f = log_forget(f, self.forget_gate)
        m_new = (log_f + m).maximum(i)
        i_gate = (i - m_new).exp()
        f_gate = (log_f + m - m_new).exp()
        c = f_gate * c + i_gate * z.tanh()
        n = f_gate * n + i_gate
        return o.sigmoid() * (c / n), c, n, m_new


class MLSTMCell(_ExponentialGating):
    """mLSTM: a (d, d) matrix memory per head, no memory mixing (Beck et al. 2024, sec. 2.3).

    From x_t alone: q, k, v, o~ (H each, ``weight_ih`` rows [q|k|v|o]) and per head i~, f~
    (rows 4H.. of weight_ih: [i~ heads | f~ heads]); k_t is scaled by 1/sqrt(d). Per head:
    m_t = max(log f_t + m_{t-1}, i~_t), i'_t = exp(i~_t - m_t), f'_t = exp(log f_t + m_{t-1} - m_t),
    C_t = f'_t C_{t-1} + i'_t v_t k_t^T, n_t = f'_t n_{t-1} + i'_t k_t,
    h_t = sigmoid(o~_t) * C_t q_t / max(|n_t^T q_t|, exp(-m_t)). States h (H), C (heads*d*d,
    row-major per head), n (H), m (heads). C and n are the paper's unstabilised ones times
    exp(-m_t), so the bound exp(-m_t) is the paper's max(|n^T q|, 1) on the unstabilised n (as the
    official stabilised step): h does not depend on m. An empty memory starts at m_0 = -inf
    (m_1 = i~_1; the state's initial value), as the parallel form does; exp(-m_t) overflows only
    where every i~ up to t is below -88 (float32), where h is 0 anyway.
    Weights U(+-1/sqrt(H)); biases 0 except the forget gate's, linspace(3, 6) over the heads.
    """

    states = ("h", "C", "n", "m")

    def __init__(self, input_size, hidden_size, bias=True, num_heads=4, forget_gate="sigmoid",
                 rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, num_heads, forget_gate, rng, dtype)
        rows = 4 * hidden_size + 2 * num_heads
        self._weights({"weight_ih": (rows, input_size)}, rows,
                      slice(4 * hidden_size + num_heads, rows))

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    def state_size(self, name):
        d = self.head_size
        return {"h": self.hidden_size, "C": self.num_heads * d * d, "n": self.hidden_size,
                "m": self.num_heads}[name]

    def project(self, x):
        """x (..., I) -> q, k (scaled by 1/sqrt(d)), v, o~ (..., H) and i~, f~ (..., heads)."""
        pre = x @ self.weight_ih.T
        if self.bias_ih is not None:
            pre = pre + self.bias_ih
        H, NH = self.hidden_size, self.num_heads
        q, k, v, o = (pre[..., j * H:(j + 1) * H] for j in range(4))
        i, f = pre[..., 4 * H:4 * H + NH], pre[..., 4 * H + NH:]
        return q, k * (1.0 / math.sqrt(self.head_size)), v, o, i, f

    def step(self, x, state):
        h, C, n, m = state
        B, NH, d = x.shape[0], self.num_heads, self.head_size
        q, k, v, o, i, f = self.project(x)
        log_f = log_forget(f, self.forget_gate)
        m_new = (log_f + m).maximum(i)  # (B, NH)
        i_gate = (i - m_new).exp().reshape(B, NH, 1)
        f_gate = (log_f + m - m_new).exp().reshape(B, NH, 1)
        k, v, q = k.reshape(B, NH, d), v.reshape(B, NH, d), q.reshape(B, NH, d)
        # the new states flat, as returned, and h read from them: the gradient reaching a
        # returned state is then all of dL/dC_t (what grad_norms measures)
        C = (C.reshape(B, NH, d, d) * f_gate.reshape(B, NH, 1, 1) +
             (i_gate * v).reshape(B, NH, d, 1) * k.reshape(B, NH, 1, d)).reshape(B, NH * d * d)
        n = (n.reshape(B, NH, d) * f_gate + i_gate * k).reshape(B, NH * d)
        numerator = (C.reshape(B, NH, d, d) @ q.reshape(B, NH, d, 1)).reshape(B, NH, d)
        floor = (-m_new).exp().reshape(B, NH, 1)  # the paper's 1, stabilised
        denominator = (n.reshape(B, NH, d) * q).sum(axis=-1, keepdims=True).abs().maximum(floor)
        h = o.sigmoid() * (numerator / denominator).reshape(B, NH * d)
        return h, C, n, m_new
