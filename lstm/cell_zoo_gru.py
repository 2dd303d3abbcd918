"""Single-state cells of the literature, each a definition of a few lines: IndRNN, MGU, GRU-Cho.

Names follow torch's (weight_ih, weight_hh, bias_ih, bias_hh); the product of an intermediate
value in the two-stage cells (MGU's f * h, Cho's r * h) has its own matrix ``weight_hn``.
"""

from __future__ import annotations

import numpy as np

from minigrad import init

from .cells import Cell, check_nonlinearity, make_uniform


class IndRNNCell(Cell):
    """Independently recurrent network (Li, Li, Cook, Zhu & Gao 2018, eq. 2).

    h_t = relu(x W_ih^T + b_ih + u * h_{t-1}): each unit sees only its own past, so the
    recurrent weight ``weight_hh`` is a vector u (H,) and there is no recurrent matrix product.
    u starts U(0, 1) (non-negative and at most 1: no unit explodes at initialisation; the paper
    bounds |u| to keep each unit's gradient from exploding or vanishing over T steps).
    nonlinearity "relu" (the paper's) or "tanh".
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="relu", rng=None,
                 dtype=np.float32):
        check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        self.nonlinearity = nonlinearity
        shapes = {"weight_ih": (hidden_size, input_size), "weight_hh": (hidden_size,)}
        make_uniform(self, shapes | ({"bias_ih": (hidden_size,)} if bias else {}),
                     hidden_size, "", self.rng, self.dtype)
        if not bias:
            self.bias_ih = None
        init.uniform_(self.weight_hh, 0.0, 1.0, self.rng)

    def step(self, x, state):
        (h,) = state
        pre = x @ self.weight_ih.T + self.weight_hh * h
        if self.bias_ih is not None:
            pre = pre + self.bias_ih
        return (pre.relu() if self.nonlinearity == "relu" else pre.tanh(),)

    def extra_repr(self):
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class _TwoStageCell(Cell):
    """weight_ih (G*H, I), bias_ih (G*H,), weight_hh ((G-1)*H, H), bias_hh ((G-1)*H,) for the
    gates, and weight_hn (H, H) for the candidate's product with the gated state."""

    gates = 2

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        H, G = hidden_size, self.gates
        shapes = {"weight_ih": (G * H, input_size), "weight_hh": ((G - 1) * H, H)}
        if bias:
            shapes.update(bias_ih=(G * H,), bias_hh=((G - 1) * H,))
        make_uniform(self, shapes, H, "", self.rng, self.dtype)
        make_uniform(self, {"weight_hn": (H, H)}, H, "", self.rng, self.dtype)
        if not bias:
            self.bias_ih = self.bias_hh = None

    def _products(self, x, h):
        """(x W_ih^T + b_ih) split per gate, and the gates' h W_hh^T + b_hh."""
        gx, gh = x @ self.weight_ih.T, h @ self.weight_hh.T
        if self.bias_ih is not None:
            gx, gh = gx + self.bias_ih, gh + self.bias_hh
        return gx.split(self.gates, axis=-1), gh


class MGUCell(_TwoStageCell):
    """Minimal gated unit (Zhou, Wu, Zhang & Zhou 2016, "Minimal gated unit for recurrent neural
    networks").

    Blocks [f|n] of weight_ih; f = sigmoid(W_f x + U_f h + b_f) with U_f = weight_hh;
    n = tanh(W_n x + b_n + (f * h) weight_hn^T); h' = (1 - f) h + f n. Two stages: the
    candidate multiplies the gated state. MGU is Cho's GRU with r = f and z = 1 - f.
    """

    gates = 2

    def step(self, x, state):
        (h,) = state
        (x_f, x_n), h_f = self._products(x, h)
        f = (x_f + h_f).sigmoid()
        n = (x_n + (f * h) @ self.weight_hn.T).tanh()
        return ((1.0 - f) * h + f * n,)


class GRUChoCell(_TwoStageCell):
    """GRU as Cho et al. 2014 wrote it (eqs. 5-8): the reset gate before the recurrent product.

    Blocks [r|z|n] of weight_ih, [r|z] of weight_hh; r, z = sigmoid(W x + U h + b);
    n = tanh(W_n x + b_n + (r * h) weight_hn^T); h' = z h + (1 - z) n. torch's GRU (GRUCell)
    applies r after the product instead: r * (h W_hn^T + b_hn). Two stages.
    """

    gates = 3

    def step(self, x, state):
        (h,) = state
        (x_r, x_z, x_n), h_rz = self._products(x, h)
        h_r, h_z = h_rz.split(2, axis=-1)
        r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
        n = (x_n + (r * h) @ self.weight_hn.T).tanh()
        return (z * h + (1.0 - z) * n,)
