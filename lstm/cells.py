"""RNN, LSTM and GRU cells composed of minigrad primitives: the readable definitions.

Equations and gate order are PyTorch's (torch.nn.RNNCell / LSTMCell / GRUCell), and so are the
parameter names and shapes, so weights load across. Every fused fast path is tested against these.
"""

from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad import init
from minigrad.nn import Module, Parameter
from minigrad.tensor import Tensor

from .checks import check_dtype, check_flag, check_pair_state, check_single_state, check_size

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _affine(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    y = x @ weight.T
    return y if bias is None else y + bias


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu."""
    pre = _affine(x, weight_ih, bias_ih) + _affine(h, weight_hh, bias_hh)
    return pre.tanh() if nonlinearity == "tanh" else pre.relu()


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Gates [i|f|g|o] = x W_ih^T + b_ih + h W_hh^T + b_hh; c' = f c + i g; h' = o tanh(c')."""
    gates = _affine(x, weight_ih, bias_ih) + _affine(h, weight_hh, bias_hh)
    i, f, g, o = gates.split(4, axis=-1)
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    c_next = f * c + i * g
    return o * c_next.tanh(), c_next


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """r, z = sigmoid(W_i{r,z} x + W_h{r,z} h + b); n = tanh(W_in x + b_in + r (W_hn h + b_hn));
    h' = (1 - z) n + z h."""
    x_r, x_z, x_n = _affine(x, weight_ih, bias_ih).split(3, axis=-1)
    h_r, h_z, h_n = _affine(h, weight_hh, bias_hh).split(3, axis=-1)
    r = (x_r + h_r).sigmoid()
    z = (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return (1.0 - z) * n + z * h


def check_nonlinearity(nonlinearity: str) -> None:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


def make_weights(module: Module, mode: str, input_size: int, hidden_size: int, bias: bool,
                 suffix: str, rng, dtype) -> None:
    """Create weight_ih{suffix}, weight_hh{suffix}, bias_ih{suffix}, bias_hh{suffix} on `module`,
    drawn U(-1/sqrt(H), 1/sqrt(H)) as torch does."""
    if input_size < 1 or hidden_size < 1:
        raise ValueError(f"input_size and hidden_size must be >= 1, got {input_size}, "
                         f"{hidden_size}")
    rows = GATES[mode] * hidden_size
    bound = 1.0 / math.sqrt(hidden_size)
    shapes = {"weight_ih": (rows, input_size), "weight_hh": (rows, hidden_size)}
    if bias:
        shapes.update(bias_ih=(rows,), bias_hh=(rows,))
    for name, shape in shapes.items():
        p = Parameter(np.empty(shape, dtype))
        init.uniform_(p, -bound, bound, rng)
        setattr(module, name + suffix, p)
    if not bias:
        setattr(module, "bias_ih" + suffix, None)
        setattr(module, "bias_hh" + suffix, None)


class _Cell(Module):
    mode = ""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng=None,
                 dtype=np.float32):
        super().__init__()
        owner = type(self).__name__
        bias = check_flag(owner, "bias", bias)
        input_size = check_size(owner, "input_size", input_size)
        hidden_size = check_size(owner, "hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        make_weights(self, self.mode, input_size, hidden_size, bias, "",
                     np.random.default_rng(rng), check_dtype(owner, dtype))

    def _check(self, x: Tensor, states) -> Tensor:
        x = x if isinstance(x, Tensor) else mg.tensor(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input must be (batch, {self.input_size}) "
                             f"or ({self.input_size},), got shape {x.shape}")
        batch = x.shape[0] if x.ndim == 2 else None
        expected = (batch, self.hidden_size) if batch is not None else (self.hidden_size,)
        for name, s in states:
            if s is not None and s.shape != expected:
                raise ValueError(f"{type(self).__name__}: {name} must have shape {expected}, "
                                 f"got {s.shape}")
        return x

    def _zeros(self, x: Tensor) -> Tensor:
        return mg.zeros(*x.shape[:-1], self.hidden_size, dtype=self.weight_ih.dtype,
                        device=x.device)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class RNNCell(_Cell):
    """One Elman step: h' = tanh or relu(x W_ih^T + b_ih + h W_hh^T + b_hh)."""

    mode = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", rng=None, dtype=np.float32):
        check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x, h=None) -> Tensor:
        x = self._check(x, [("h", check_single_state(type(self).__name__, h))])
        h = self._zeros(x) if h is None else h
        return rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                        self.nonlinearity)


class LSTMCell(_Cell):
    """One LSTM step (Hochreiter & Schmidhuber 1997 with forget gate, Gers et al. 2000)."""

    mode = "lstm"

    def forward(self, x, state=None) -> tuple[Tensor, Tensor]:
        h, c = check_pair_state(type(self).__name__, state)
        x = self._check(x, [("h", h), ("c", c)])
        h = self._zeros(x) if h is None else h
        c = self._zeros(x) if c is None else c
        return lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(_Cell):
    """One GRU step (Cho et al. 2014), PyTorch's variant with r applied after W_hn."""

    mode = "gru"

    def forward(self, x, h=None) -> Tensor:
        x = self._check(x, [("h", check_single_state(type(self).__name__, h))])
        h = self._zeros(x) if h is None else h
        return gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
