"""Recurrent cells as definitions: the only place a cell's math is written.

A cell is a ``Cell`` module: its parameters (torch's names where torch has the cell), the states
it carries (``states``: names, the first is the output; ``state_size(name)``: their widths) and a
``step(x, state) -> new state`` made of minigrad primitives, with the matrix products by weights
written as such (``x @ self.weight_ih.T``). ``lstm.Recurrent`` runs any cell over a sequence:
composed (the step taped op by op) or fused (the step traced once and compiled into whole-sequence
kernels by ``minigrad.compiler``). RNN, LSTM and GRU follow PyTorch's equations and gate order.
"""

from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad import init
from minigrad.nn import Module, Parameter
from minigrad.tensor import Tensor

from .checks import check_dtype, check_flag, check_size, check_states

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
    """ValueError unless nonlinearity is 'tanh' or 'relu'."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


def make_weights(module: Module, gates: int, input_size: int, hidden_size: int, bias: bool,
                 suffix: str, rng, dtype, recurrent_size: int | None = None) -> None:
    """Create weight_ih{suffix} (gates*H, I), weight_hh{suffix} (gates*H, R), bias_ih{suffix},
    bias_hh{suffix} (gates*H,) on `module`, drawn U(-1/sqrt(H), 1/sqrt(H)) as torch does; R, the
    recurrent state's width, is H unless given (an LSTM's projection)."""
    gates = GATES[gates] if isinstance(gates, str) else gates
    if input_size < 1 or hidden_size < 1:
        raise ValueError(f"input_size and hidden_size must be >= 1, got {input_size}, "
                         f"{hidden_size}")
    rows = gates * hidden_size
    shapes = {"weight_ih": (rows, input_size), "weight_hh": (rows, recurrent_size or hidden_size)}
    if bias:
        shapes.update(bias_ih=(rows,), bias_hh=(rows,))
    make_uniform(module, shapes, hidden_size, suffix, rng, dtype)
    if not bias:
        setattr(module, "bias_ih" + suffix, None)
        setattr(module, "bias_hh" + suffix, None)


def make_uniform(module: Module, shapes: dict, hidden_size: int, suffix: str, rng,
                 dtype) -> None:
    """Parameters name+suffix of the given shapes on `module`, U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    for name, shape in shapes.items():
        p = Parameter(np.empty(shape, dtype))
        init.uniform_(p, -bound, bound, rng)
        setattr(module, name + suffix, p)


COMPILED_STEPS = "_compiled_steps"  # where lstm.fused caches a cell's compiled steps


class Cell(Module):
    """A recurrent cell: parameters, the states it carries and one `step`.

    Subclasses set ``states`` (names; the first is the output), create their parameters in
    ``__init__`` (after ``super().__init__(input_size, hidden_size, ...)``) and define
    ``step(x, state) -> tuple of new states``. ``state_size(name)`` is hidden_size unless
    overridden. Calling the cell runs one step with torch's conventions: a single-state cell
    takes and returns a tensor, others a tuple.
    """

    states: tuple = ("h",)
    # name -> the value a state starts at when none is given (default 0): xLSTM's stabiliser m
    # starts at -inf, an empty memory, so that m_1 = i~_1 and the normaliser n_t >= 1
    initial_values: dict = {}

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng=None,
                 dtype=np.float32):
        super().__init__()
        owner = type(self).__name__
        bias = check_flag(owner, "bias", bias)
        input_size = check_size(owner, "input_size", input_size)
        hidden_size = check_size(owner, "hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.dtype = check_dtype(owner, dtype)

    def __getstate__(self):
        """The cell without its compiled steps (they hold kernels and modules, and are rebuilt
        from the disk cache on the next fused call): copy.deepcopy and pickle work after a
        forward, e.g. to keep the best model or to send it to another process."""
        state = self.__dict__.copy()
        state.pop(COMPILED_STEPS, None)
        return state

    def state_size(self, name: str) -> int:
        """Width of state `name` (hidden_size unless a subclass says otherwise)."""
        return self.hidden_size

    def step_parameters(self) -> dict:
        """The tensors the step reads as ``self.<name>``, by name: the cell's parameters, unless
        a subclass derives one from them (sLSTM: its block-diagonal recurrent matrix from the
        per-head blocks), computed with primitives so that gradients reach the parameters. The
        fused path traces the step with these bound and passes them to the compiled node."""
        return dict(self._parameters)

    def step(self, x: Tensor, state: tuple) -> tuple:
        """One step: x (B, input_size), state a tuple in `states` order -> the new states."""
        raise NotImplementedError(f"{type(self).__name__} does not define step()")  # abstract

    def forward(self, x, state=None):
        """One step with torch's calling convention (state None means zeros)."""
        x = x if isinstance(x, Tensor) else mg.tensor(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input must be (batch, {self.input_size}) "
                             f"or ({self.input_size},), got shape {x.shape}")
        given = check_states(type(self).__name__, self.states, state)
        rows = x.shape[:-1]
        states = []
        for s, name in zip(given, self.states):
            expected = (*rows, self.state_size(name))
            if s is None:
                s = mg.full(expected, self.initial_values.get(name, 0.0), dtype=self.dtype,
                            device=x.device)
            elif s.shape != expected:
                raise ValueError(f"{type(self).__name__}: {name} must have shape {expected}, "
                                 f"got {s.shape}")
            states.append(s)
        new = tuple(self.step(x, tuple(states)))
        return new[0] if len(self.states) == 1 else new

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class TorchCell(Cell):
    """Cells with torch's weight_ih / weight_hh / bias_ih / bias_hh of `gates` blocks."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng=None,
                 dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        make_weights(self, self.gates, input_size, hidden_size, bias, "", self.rng, self.dtype)


class RNNCell(TorchCell):
    """One Elman step: h' = tanh or relu(x W_ih^T + b_ih + h W_hh^T + b_hh)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", rng=None, dtype=np.float32):
        check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        self.nonlinearity = nonlinearity

    def step(self, x, state):
        (h,) = state
        return (rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                         self.nonlinearity),)


class LSTMCell(TorchCell):
    """One LSTM step (Hochreiter & Schmidhuber 1997 with forget gate, Gers et al. 2000)."""

    gates = 4
    states = ("h", "c")

    def step(self, x, state):
        h, c = state
        return lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(TorchCell):
    """One GRU step (Cho et al. 2014), PyTorch's variant with r applied after W_hn."""

    gates = 3

    def step(self, x, state):
        (h,) = state
        return (gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh),)
