"""minGRU and minLSTM (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, "Were RNNs All We
Needed?", arXiv 2410.01201): gates that depend on the input only, so h_t = a_t h_{t-1} + b_t is a
linear recurrence and a whole sequence trains with one scan (mg.linear_scan).

Each cell has two forms, held equal by the tests: ``step`` (the paper's sequential mode, one step
at a time; for inference and the per-step gradient-flow measurements) and ``parallel_sequence``
(the paper's parallel mode: one ``mg.gated_scan`` with the input weight: one GEMM over all T*B
rows, then the gate math, the recurrence and the output in one pass over the sequence; no
per-step GEMM). The paper's
log-space coefficients are ``log_coefficients`` (for ``mg.linear_scan(..., log_space=True)``):
the scan's direct form gives their values to float rounding (tests/ops/test_gated_scan.py).
``lstm.Recurrent`` runs ``parallel_sequence`` for impl="fused" and the step for
impl="composed", for grad_norms and for recurrent dropout.
Parameters: ``weight_ih`` (G*H, I) and ``bias_ih`` (G*H,), blocks [z | h] (minGRU) and
[f | i | h] (minLSTM); no recurrent weights.
"""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.tensor import Tensor

from .cells import Cell, make_uniform


def g(x: Tensor) -> Tensor:
    """The paper's positive activation for h~: x + 0.5 for x >= 0, sigmoid(x) otherwise, written
    without a select as relu(x) + sigmoid(min(x, 0)) (np.where ran 3x slower than a ufunc), with
    min(x, 0) = -relu(-x), which the cell compiler fuses."""
    return x.relu() + (-(-x).relu()).sigmoid()


def log_g(x: Tensor) -> Tensor:
    """log g(x): log(x + 0.5) for x >= 0, log sigmoid(x) = -softplus(-x) otherwise, written as
    log1p(2 relu(x)) + logsigmoid(min(x, 0)) (exact on both sides: log1p(0) = 0 for x < 0, and
    log(1 + 2x) - log 2 = log(x + 0.5) for x >= 0)."""
    return mg.log1p(x.relu() * 2.0) + mg.logsigmoid(mg.minimum(x, 0.0))


class _ScanCell(Cell):
    """A cell whose recurrence is linear in h: step for one step, parallel_sequence for all.
    Each cell also gives the paper's log-space form, ``log_coefficients(x)`` -> (log a_t, log
    b_t) for every step of x (T, B, I), the reference the tests compare the gated scan with."""

    gates = 2
    gate_map = ""  # the mg.gated_scan gate map of the cell's blocks

    def __init__(self, input_size, hidden_size, bias=True, scan=True, rng=None,
                 dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        if not isinstance(scan, bool):
            raise ValueError(f"{type(self).__name__}: scan must be a bool, got {scan!r}")
        self.scan = scan  # Recurrent's fused path: the scan (True) or the compiled step (False)
        rows = self.gates * hidden_size
        shapes = {"weight_ih": (rows, input_size)} | ({"bias_ih": (rows,)} if bias else {})
        make_uniform(self, shapes, hidden_size, "", self.rng, self.dtype)
        if not bias:
            self.bias_ih = None

    def _gates(self, x: Tensor) -> list[Tensor]:
        """x (rows, I) -> the gates' pre-activations x W^T + b, split per gate."""
        rows = x @ self.weight_ih.T
        if self.bias_ih is not None:
            rows = rows + self.bias_ih
        return rows.split(self.gates, axis=-1)

    def _sequence_product(self, x: Tensor) -> Tensor:
        """x (T, B, I) -> x W^T (T, B, G*H) without the bias, one GEMM over all T*B rows."""
        steps, batch = x.shape[0], x.shape[1]
        rows = x.reshape(steps * batch, x.shape[2]) @ self.weight_ih.T
        return rows.reshape(steps, batch, self.gates * self.hidden_size)

    def _sequence_gates(self, x: Tensor) -> list[Tensor]:
        """x (T, B, I) -> the gates' pre-activations (T, B, H) each."""
        pre = self._sequence_product(x)
        return (pre if self.bias_ih is None else pre + self.bias_ih).split(self.gates, axis=-1)

    def parallel_sequence(self, x: Tensor, states: tuple, lengths=None, reverse: bool = False):
        """All steps of x (T, B, I) from states (h0,), one mg.gated_scan with the input weight (its
        GEMM on the scan's threads: docs/cells.md); past a
        sequence's length (lengths (B,)) the state holds and the output is 0, as Recurrent's
        composed path. Returns out (T, B, H) and (h_n,).

        The whole sequence is one op, whatever T: its output (T, B, H) is the largest array
        either way. (Until session 10 sequences past 32 MiB of output ran in chunks, the state
        carried between them; each chunk's output stayed under the mmap threshold but their
        join did not, and the serial join cost 46 of the 214 ms of a one-thread minGRU step at
        T = 4000: docs/performance.md, "mingru21c".)
        """
        (h,) = states
        steps = x.shape[0]
        if reverse:
            x = mg.flip(x, 0)
        valid = None
        if lengths is not None:
            t = np.arange(steps)[:, None]
            # reversed, each sequence starts at its last valid step: its padding comes first
            # and holds h0 (a = 1, b = 0), as a PackedSequence's reverse direction
            valid = (t >= steps - lengths[None, :]) if reverse else (t < lengths[None, :])
        out = mg.gated_scan(x, h, self.gate_map, self.bias_ih, valid, weight=self.weight_ih)
        h = out[steps - 1]
        if valid is not None:
            out = mg.where(valid[:, :, None], out, 0.0)
        return (mg.flip(out, 0) if reverse else out), (h,)


class MinGRUCell(_ScanCell):
    """minGRU (Feng et al. 2024, section 3.1 and appendix A): z_t = sigmoid(W_z x_t + b_z),
    h~_t = g(W_h x_t + b_h), h_t = (1 - z_t) h_{t-1} + z_t h~_t.

    Log-space parallel mode: log a_t = -softplus(k_t), log b_t = -softplus(-k_t) + log g(p_t)
    with k_t, p_t the two blocks of W x_t + b; the scan's gate map "mingru" is its direct form.
    """

    gates = 2
    gate_map = "mingru"

    def step(self, x, state):
        (h,) = state
        k, p = self._gates(x)
        z = k.sigmoid()
        return ((1.0 - z) * h + z * g(p),)

    def log_coefficients(self, x):
        k, p = self._sequence_gates(x)
        return mg.logsigmoid(-k), mg.logsigmoid(k) + log_g(p)


class MinLSTMCell(_ScanCell):
    """minLSTM (Feng et al. 2024, section 3.2 and appendix A): f_t = sigmoid(W_f x_t + b_f),
    i_t = sigmoid(W_i x_t + b_i), h~_t = g(W_h x_t + b_h); normalised f'_t = f_t / (f_t + i_t),
    i'_t = i_t / (f_t + i_t); h_t = f'_t h_{t-1} + i'_t h~_t.

    Log-space parallel mode: d_t = softplus(-F_t) - softplus(-I_t) (= log i_t - log f_t),
    log a_t = -softplus(d_t), log b_t = -softplus(-d_t) + log g(p_t); the scan's gate map
    "minlstm" is its direct form.
    """

    gates = 3
    gate_map = "minlstm"

    def step(self, x, state):
        (h,) = state
        f, i, p = self._gates(x)
        f, i = f.sigmoid(), i.sigmoid()
        total = f + i
        return ((f / total) * h + (i / total) * g(p),)

    def log_coefficients(self, x):
        f, i, p = self._sequence_gates(x)
        diff = mg.logsigmoid(i) - mg.logsigmoid(f)
        return mg.logsigmoid(-diff), mg.logsigmoid(diff) + log_g(p)


__all__ = ["MinGRUCell", "MinLSTMCell", "g", "log_g"]
