"""Generated fused kernels == the composed step (float64 to 1e-10), gradcheck, named errors."""

from __future__ import annotations

import numpy as np
import pytest

import lstm.fused as fused_module
import minigrad as mg
from lstm import GRU, LSTM, RNN, Cell, Recurrent
from lstm.cells import make_uniform
from minigrad.compiler import CellCompileError, compile_step


class ElementwiseRecurrenceCell(Cell):
    """IndRNN-like: no recurrent product, h' = relu(W x + u * h + b), plus exp/abs/div rules."""

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        make_uniform(self, {"weight_ih": (hidden_size, input_size), "u": (hidden_size,),
                            "b": (hidden_size,)}, hidden_size, "", self.rng, self.dtype)

    def step(self, x, state):
        (h,) = state
        pre = x @ self.weight_ih.T + self.u * h + self.b
        return (pre.relu() + (-h.abs()).exp() / (2.0 + h * h) - 0.5 * h,)


class ChoGRUCell(Cell):
    """GRU as Cho et al. 2014 wrote it: r applied to h before the recurrent product (2 stages)."""

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        H = hidden_size
        make_uniform(self, {"weight_ih": (3 * H, input_size), "bias_ih": (3 * H,),
                            "weight_hh": (2 * H, H), "bias_hh": (2 * H,), "weight_hn": (H, H),
                            "bias_hn": (H,)}, H, "", self.rng, self.dtype)

    def step(self, x, state):
        (h,) = state
        x_r, x_z, x_n = (x @ self.weight_ih.T + self.bias_ih).split(3, axis=-1)
        h_r, h_z = (h @ self.weight_hh.T + self.bias_hh).split(2, axis=-1)
        r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
        n = (x_n + (r * h) @ self.weight_hn.T + self.bias_hn).tanh()
        return ((1.0 - z) * n + z * h,)


class ProjectedLSTMCell(Cell):
    """LSTM with a projection of h (Sak et al. 2014; torch's proj_size): h is P wide."""

    states = ("h", "c")
    proj_size = 2

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        H, P = hidden_size, self.proj_size
        make_uniform(self, {"weight_ih": (4 * H, input_size), "weight_hh": (4 * H, P),
                            "bias_ih": (4 * H,), "bias_hh": (4 * H,), "weight_hr": (P, H)}, H,
                     "", self.rng, self.dtype)

    def state_size(self, name):
        return self.proj_size if name == "h" else self.hidden_size

    def step(self, x, state):
        h, c = state
        gates = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh
        i, f, g, o = gates.split(4, axis=-1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return (o.sigmoid() * c.tanh()) @ self.weight_hr.T, c


def _layer(kind, impl, num_layers, bidirectional, dtype, peephole_cell, rng=3):
    if kind in ("lstm", "gru", "rnn", "rnn-relu"):
        cls = {"lstm": LSTM, "gru": GRU, "rnn": RNN, "rnn-relu": RNN}[kind]
        extra = {"nonlinearity": "relu"} if kind == "rnn-relu" else {}
        return cls(3, 5, num_layers=num_layers, bidirectional=bidirectional, impl=impl, rng=rng,
                   dtype=dtype, **extra)
    cell = {"peephole": peephole_cell, "elementwise": ElementwiseRecurrenceCell,
            "gru-cho": ChoGRUCell, "lstm-proj": ProjectedLSTMCell, "two-stage": TwoStageCell}[kind]
    return Recurrent(cell, 3, 4 if kind == "lstm-proj" else 5, num_layers=num_layers,
                     bidirectional=bidirectional, impl=impl, rng=rng, dtype=dtype)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn", "rnn-relu", "peephole", "elementwise",
                                  "gru-cho", "lstm-proj", "two-stage"])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-5)])
def test_generated_equals_composed(kind, num_layers, bidirectional, with_lengths, dtype, tol,
                                   assert_same_layer, peephole_cell):
    rng = np.random.default_rng(4)
    fused = _layer(kind, "fused", num_layers, bidirectional, dtype, peephole_cell)
    composed = _layer(kind, "composed", num_layers, bidirectional, dtype, peephole_cell, rng=9)
    composed.load_state_dict(fused.state_dict())
    steps, batch = 6, 4
    n = num_layers * (2 if bidirectional else 1)
    x = rng.standard_normal((steps, batch, 3)).astype(dtype)
    cell = fused.cells["_l0"]
    sizes = [cell.state_size(name) for name in cell.states]
    state = [rng.standard_normal((n, batch, size)).astype(dtype) for size in sizes]
    weights = [rng.standard_normal((steps, batch, fused.output_size)).astype(dtype)] + [
        rng.standard_normal((n, batch, size)).astype(dtype) for size in sizes]
    lengths = np.array([6, 2, 5, 1]) if with_lengths else None
    assert_same_layer(fused, composed, x, state, lengths, weights, tol)


def test_grad_norms_are_the_norms_of_the_gradient_reaching_each_state(grad_norms_and_unroll):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 3, 2))
    w = rng.standard_normal((7, 3, 4))
    norms, expected = grad_norms_and_unroll(LSTM(2, 4, rng=1, dtype=np.float64), x, w)
    assert set(norms) == {"h", "c"}
    for name in ("h", "c"):
        np.testing.assert_allclose(norms[name], expected[name], rtol=1e-12)


def _compiled_peephole(peephole_cell, dtype=np.float64):
    cell = peephole_cell(2, 3, rng=0, dtype=dtype)
    return fused_module.compiled_step(cell, dtype), cell


@pytest.mark.parametrize("lengths,reverse", [(None, False), ([4, 2], True), ([1, 4], False)])
def test_gradcheck_on_the_fused_primitive(lengths, reverse, peephole_cell):
    compiled, cell = _compiled_peephole(peephole_cell)
    rng = np.random.default_rng(1)
    names = compiled.param_names
    inputs = [rng.standard_normal((4, 2, 2)), rng.standard_normal((2, 3)),
              rng.standard_normal((2, 3))] + [cell._parameters[n].numpy().copy() for n in names]

    def fn(x, h, c, *params):
        out, (h_n, c_n) = compiled(x, (h, c), dict(zip(names, params)), lengths=lengths,
                                   reverse=reverse)
        return mg.concat([out.reshape(-1), h_n.reshape(-1), c_n.reshape(-1)], axis=0)

    assert mg.gradcheck(fn, inputs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("cell_class", [ChoGRUCell, ProjectedLSTMCell])
def test_gradcheck_on_a_two_stage_step(cell_class):
    cell = cell_class(2, 4, rng=0, dtype=np.float64)
    compiled = fused_module.compiled_step(cell, np.float64)
    assert compiled.plan.weight_mid in ("weight_hn", "weight_hr")
    rng = np.random.default_rng(2)
    names = compiled.param_names
    states = [rng.standard_normal((3, cell.state_size(s))) for s in cell.states]
    inputs = [rng.standard_normal((4, 3, 2)), *states] + \
        [cell._parameters[n].numpy().copy() for n in names]
    k = len(states)

    def fn(x, *rest):
        out, finals = compiled(x, rest[:k], dict(zip(names, rest[k:])), lengths=[4, 1, 3],
                               reverse=True)
        return mg.concat([out.reshape(-1)] + [f.reshape(-1) for f in finals], axis=0)

    assert mg.gradcheck(fn, inputs, atol=1e-6, rtol=1e-5)


class WhereCell(Cell):
    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        make_uniform(self, {"weight_ih": (hidden_size, input_size)}, hidden_size, "", self.rng,
                     self.dtype)

    def step(self, x, state):
        (h,) = state
        return ((x @ self.weight_ih.T + h).max(axis=-1, keepdims=True) * h,)


class TwoStageCell(Cell):
    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        make_uniform(self, {"weight_ih": (hidden_size, input_size),
                            "weight_hh": (hidden_size, hidden_size)}, hidden_size, "", self.rng,
                     self.dtype)

    def step(self, x, state):
        (h,) = state
        return (((x @ self.weight_ih.T).tanh() @ self.weight_hh.T + h).tanh(),)


class ThreeStageCell(TwoStageCell):
    def step(self, x, state):
        (h,) = state
        a = (x @ self.weight_ih.T).tanh() @ self.weight_hh.T
        return ((a.tanh() @ self.weight_hh.T + h).tanh(),)


@pytest.mark.parametrize("cell,named", [(WhereCell, "'max'"), (ThreeStageCell, "weight_hh")])
def test_a_step_the_compiler_cannot_fuse_names_the_primitive(cell, named):
    x = mg.tensor(np.ones((3, 2, 2), np.float32))
    with pytest.raises(CellCompileError, match=f"{named}.*impl='composed'"):
        Recurrent(cell, 2, 4)(x)
    out, _ = Recurrent(cell, 2, 4, impl="composed")(x)
    assert out.shape == (3, 2, 4)


def test_compile_step_rejects_bad_dtype_and_inputs(peephole_cell):
    with pytest.raises(ValueError, match="float32 or float64"):
        compile_step(lambda x, s, p: s, 2, (3,), {}, np.int32)
    compiled, cell = _compiled_peephole(peephole_cell)
    x = mg.tensor(np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match="state 1 must be"):
        compiled(x, (mg.zeros(2, 3, dtype=np.float64), mg.zeros(2, 4, dtype=np.float64)),
                 dict(cell._parameters))
    with pytest.raises(ValueError, match="lengths"):
        compiled(x, (mg.zeros(2, 3, dtype=np.float64),) * 2, dict(cell._parameters),
                 lengths=[5, 1])
