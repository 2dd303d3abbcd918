"""The LSTM literature's cell variants, each a definition of a few lines (run by lstm.Recurrent).

Every cell keeps torch's names where they apply (weight_ih, weight_hh, bias_ih, bias_hh, and for
the projected LSTM weight_hr, exactly as torch.nn.LSTM's proj_size), gate blocks in the order
the docstring gives, and draws its weights U(-1/sqrt(H), 1/sqrt(H)) as torch does unless the
paper prescribes an initialisation. Cells with a matrix product of an intermediate value (a
step with two stages: lstm-proj, mgu, gru-cho) keep that product's weight as its own matrix.
"""

from __future__ import annotations

import numpy as np

from minigrad import init

from .cells import Cell, TorchCell, lstm_cell, make_uniform, make_weights

LN_EPS = 1e-5  # layer norm's variance epsilon (torch.nn.LayerNorm's default)


def _gates(cell, x, h, weight_hh=None):
    """x W_ih^T + b_ih + h W_hh^T + b_hh (the biases only when the cell has them)."""
    pre = x @ cell.weight_ih.T + h @ (cell.weight_hh if weight_hh is None else weight_hh).T
    return pre if cell.bias_ih is None else pre + cell.bias_ih + cell.bias_hh


class PeepholeLSTMCell(TorchCell):
    """LSTM with diagonal peepholes (Gers & Schmidhuber 2000, "Recurrent nets that time and
    count").

    Gates [i|f|g|o] as torch's LSTM; i = sigmoid(a_i + p_i c_{t-1}), f = sigmoid(a_f + p_f
    c_{t-1}), c_t = f c_{t-1} + i tanh(a_g), o = sigmoid(a_o + p_o c_t), h_t = o tanh(c_t).
    ``weight_ch`` (3H,) holds [p_i|p_f|p_o]; with it zero the cell is torch's LSTM.
    """

    gates = 4
    states = ("h", "c")

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        make_uniform(self, {"weight_ch": (3 * hidden_size,)}, hidden_size, "", self.rng,
                     self.dtype)

    def step(self, x, state):
        h, c = state
        i, f, g, o = _gates(self, x, h).split(4, axis=-1)
        p_i, p_f, p_o = self.weight_ch.split(3)
        c = (f + p_f * c).sigmoid() * c + (i + p_i * c).sigmoid() * g.tanh()
        return (o + p_o * c).sigmoid() * c.tanh(), c


class ProjLSTMCell(TorchCell):
    """LSTM with a recurrent projection (Sak, Senior & Beaufays 2014, LSTMP; torch's proj_size).

    The LSTM step of torch on h_{t-1} of size P (weight_hh (4H, P)), then h_t = (o tanh(c_t))
    W_hr^T with weight_hr (P, H): the output and recurrent state have size P, the cell H. Two
    stages: the projection multiplies an intermediate value.
    """

    gates = 4
    states = ("h", "c")

    def __init__(self, input_size, hidden_size, bias=True, proj_size=None, rng=None,
                 dtype=np.float32):
        Cell.__init__(self, input_size, hidden_size, bias, rng, dtype)
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or \
                not 0 < proj_size < hidden_size:
            raise ValueError(f"ProjLSTMCell: proj_size must be an integer in 1..hidden_size-1 "
                             f"({hidden_size - 1}), got {proj_size!r}")
        self.proj_size = proj_size
        make_weights(self, 4, input_size, hidden_size, bias, "", self.rng, self.dtype, proj_size)
        make_uniform(self, {"weight_hr": (proj_size, hidden_size)}, hidden_size, "", self.rng,
                     self.dtype)

    def state_size(self, name):
        """h has proj_size columns, c hidden_size."""
        return self.proj_size if name == "h" else self.hidden_size

    def step(self, x, state):
        h, c = state
        hidden, c = lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih,
                              self.bias_hh)
        return hidden @ self.weight_hr.T, c

    def extra_repr(self):
        return super().extra_repr() + f", proj_size={self.proj_size}"


def _layer_norm(z, gain, bias=None):
    """(z - mean) / sqrt(var + eps) * gain (+ bias), over the last axis (Ba et al. 2016)."""
    centred = z - z.mean(axis=-1, keepdims=True)
    scaled = centred * ((centred * centred).mean(axis=-1, keepdims=True) + LN_EPS) ** -0.5
    return scaled * gain if bias is None else scaled * gain + bias


class LayerNormLSTMCell(Cell):
    """Layer-normalised LSTM (Ba, Kiros & Hinton 2016, "Layer normalization", its LSTM).

    [i|f|g|o] = LN(h W_hh^T; ln_hh_weight) + LN(x W_ih^T; ln_ih_weight) + bias_gates, each
    layer norm over all 4H pre-activations; c_t = sigmoid(f) c + sigmoid(i) tanh(g);
    h_t = sigmoid(o) tanh(LN(c_t; ln_c_weight, ln_c_bias)). The paper's betas of the two gate
    norms add to its b: ``bias_gates`` (4H,) is their sum (absent with bias=False). Gains start
    at 1, the cell norm's bias at 0.
    """

    states = ("h", "c")

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        H = hidden_size
        shapes = {"weight_ih": (4 * H, input_size), "weight_hh": (4 * H, H)}
        make_uniform(self, shapes | ({"bias_gates": (4 * H,)} if bias else {}), H, "", self.rng,
                     self.dtype)
        make_uniform(self, {"ln_ih_weight": (4 * H,), "ln_hh_weight": (4 * H,),
                            "ln_c_weight": (H,), "ln_c_bias": (H,)}, H, "", self.rng, self.dtype)
        for name in ("ln_ih_weight", "ln_hh_weight", "ln_c_weight"):
            init.ones_(getattr(self, name))
        init.zeros_(self.ln_c_bias)

    def step(self, x, state):
        h, c = state
        gates = _layer_norm(h @ self.weight_hh.T, self.ln_hh_weight) + \
            _layer_norm(x @ self.weight_ih.T, self.ln_ih_weight)
        if self.bias:
            gates = gates + self.bias_gates
        i, f, g, o = gates.split(4, axis=-1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * _layer_norm(c, self.ln_c_weight, self.ln_c_bias).tanh(), c


class CIFGCell(TorchCell):
    """Coupled input-forget gate LSTM (Greff et al. 2017, "LSTM: a search space odyssey", CIFG).

    Gates [f|g|o] (3H rows); the input gate is 1 - f: c_t = f c + (1 - f) tanh(g),
    h_t = sigmoid(o) tanh(c_t). Equal to torch's LSTM with its input-gate rows set to minus its
    forget-gate rows (sigmoid(-a) = 1 - sigmoid(a)).
    """

    gates = 3
    states = ("h", "c")

    def step(self, x, state):
        h, c = state
        f, g, o = _gates(self, x, h).split(3, axis=-1)
        f = f.sigmoid()
        c = f * c + (1.0 - f) * g.tanh()
        return o.sigmoid() * c.tanh(), c


class JANETCell(TorchCell):
    """JANET, the forget-gate-only LSTM (van der Westhuizen & Lasenby 2018, "The unreasonable
    effectiveness of the forget gate").

    Gates [f|g] (2H rows): s = a_f, c_t = sigmoid(s) c_{t-1} + (1 - sigmoid(s - beta))
    tanh(a_g), h_t = c_t (one state), beta = 1. Chrono initialisation (Tallec & Ollivier 2018)
    when chrono_t_max is given: forget biases log U[1, chrono_t_max - 1] (in bias_ih; bias_hh's
    forget block 0), the candidate's biases 0.
    """

    gates = 2
    beta = 1.0

    def __init__(self, input_size, hidden_size, bias=True, chrono_t_max=None, rng=None,
                 dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        if chrono_t_max is not None:
            if not bias or isinstance(chrono_t_max, bool) or not isinstance(chrono_t_max, int) \
                    or chrono_t_max < 3:
                raise ValueError(f"JANETCell: chrono_t_max must be an integer >= 3 with "
                                 f"bias=True, got {chrono_t_max!r} (bias={bias})")
            H = hidden_size
            self.bias_ih.data[:H] = np.log(self.rng.uniform(1.0, chrono_t_max - 1.0, H))
            self.bias_hh.data[:H] = 0.0
            self.bias_ih.data[H:] = self.bias_hh.data[H:] = 0.0

    def step(self, x, state):
        (h,) = state
        s, g = _gates(self, x, h).split(2, axis=-1)
        return (s.sigmoid() * h + (1.0 - (s - self.beta).sigmoid()) * g.tanh(),)
