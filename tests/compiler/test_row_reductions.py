"""Row reductions over the hidden axis (layer norm) in generated kernels: the layer-normalised
LSTM (Ba, Kiros & Hinton 2016) fused == composed in float64 to 1e-10, gradcheck, errors."""

from __future__ import annotations

import numpy as np
import pytest

import lstm.fused as fused_module
import minigrad as mg
from lstm import Cell, Recurrent, cell_zoo
from lstm.cells import make_uniform
from minigrad.compiler import CellCompileError

LN_EPS = 1e-5


class LayerNormLSTMCell(cell_zoo.LayerNormLSTMCell):
    """lstm-ln as users get it (lstm.cell_zoo), with its norms' gains and bias drawn at random
    rather than 1 and 0, so every gradient path through the norms carries its own value."""

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        H = hidden_size
        make_uniform(self, {"ln_ih_weight": (4 * H,), "ln_hh_weight": (4 * H,),
                            "ln_c_weight": (H,), "ln_c_bias": (H,)}, H, "", self.rng, self.dtype)


class LayerNormRNNCell(Cell):
    """h' = tanh(LN(W x + U h) * gain + bias), with the sum written as sum / n and (.) ** 0.5."""

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        make_uniform(self, {"weight_ih": (hidden_size, input_size),
                            "weight_hh": (hidden_size, hidden_size), "gain": (hidden_size,),
                            "bias": (hidden_size,)}, hidden_size, "", self.rng, self.dtype)

    def step(self, x, state):
        (h,) = state
        z = x @ self.weight_ih.T + h @ self.weight_hh.T
        centred = z - z.sum(axis=-1, keepdims=True) / float(self.hidden_size)
        std = ((centred * centred).mean(axis=-1, keepdims=True) + LN_EPS) ** 0.5
        return ((centred / std * self.gain + self.bias).tanh(),)


class StateSumCell(Cell):
    """A row sum of the state times a parameter vector, subtracted from every lane, and a
    mean of the new state scaling it: reductions of leaves and of a new state."""

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        make_uniform(self, {"weight_ih": (hidden_size, input_size),
                            "weight_hh": (hidden_size, hidden_size), "p": (hidden_size,)},
                     hidden_size, "", self.rng, self.dtype)

    def step(self, x, state):
        (h,) = state
        z = x @ self.weight_ih.T + h @ self.weight_hh.T
        new = (z - (h * self.p).sum(axis=-1, keepdims=True)).tanh()
        return (new * (new.mean(axis=-1, keepdims=True) + 2.0),)


@pytest.mark.parametrize("cell", [LayerNormLSTMCell, LayerNormRNNCell, StateSumCell])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_layer_norm_cells_fused_equal_composed(cell, num_layers, bidirectional, with_lengths,
                                               dtype, tol, assert_same_layer):
    rng = np.random.default_rng(5)
    fused = Recurrent(cell, 3, 4, num_layers=num_layers, bidirectional=bidirectional,
                      impl="fused", rng=3, dtype=dtype)
    composed = Recurrent(cell, 3, 4, num_layers=num_layers, bidirectional=bidirectional,
                         impl="composed", rng=9, dtype=dtype)
    composed.load_state_dict(fused.state_dict())
    steps, batch = 6, 4
    n = num_layers * (2 if bidirectional else 1)
    x = rng.standard_normal((steps, batch, 3)).astype(dtype)
    states = fused.cells["_l0"].states
    state = [rng.standard_normal((n, batch, 4)).astype(dtype) for _ in states]
    weights = [rng.standard_normal((steps, batch, fused.output_size)).astype(dtype)] + [
        rng.standard_normal((n, batch, 4)).astype(dtype) for _ in states]
    lengths = np.array([6, 2, 5, 1]) if with_lengths else None
    assert_same_layer(fused, composed, x, state, lengths, weights, tol)


@pytest.mark.parametrize("lengths,reverse", [(None, False), ([4, 1], True)])
def test_gradcheck_on_the_fused_layer_norm_lstm(lengths, reverse):
    cell = LayerNormLSTMCell(2, 3, rng=0, dtype=np.float64)
    compiled = fused_module.compiled_step(cell, np.float64)
    assert compiled.plan.n_phases == 5 and compiled.plan.n_stats > 0
    rng = np.random.default_rng(1)
    names = compiled.param_names
    inputs = [rng.standard_normal((4, 2, 2)), rng.standard_normal((2, 3)),
              rng.standard_normal((2, 3))] + \
        [cell._parameters[n].numpy() + 0.3 * rng.standard_normal(cell._parameters[n].shape)
         for n in names]

    def fn(x, h, c, *params):
        out, (h_n, c_n) = compiled(x, (h, c), dict(zip(names, params)), lengths=lengths,
                                   reverse=reverse)
        return mg.concat([out.reshape(-1), h_n.reshape(-1), c_n.reshape(-1)], axis=0)

    assert mg.gradcheck(fn, inputs, atol=1e-6, rtol=1e-5)


class SumWithoutKeepdimsCell(LayerNormRNNCell):
    def step(self, x, state):
        (h,) = state
        z = x @ self.weight_ih.T + h @ self.weight_hh.T
        return ((z - z.sum(axis=-1)).tanh(),)


class ReducedTwoStageCell(LayerNormRNNCell):
    def step(self, x, state):
        (h,) = state
        z = (x @ self.weight_ih.T).tanh() @ self.weight_hh.T
        return ((z - z.mean(axis=-1, keepdims=True) + h).tanh(),)


@pytest.mark.parametrize("cell,named", [(SumWithoutKeepdimsCell, "keepdims=False"),
                                        (ReducedTwoStageCell, "row reduction in a step with")])
def test_reductions_the_compiler_cannot_fuse_are_named(cell, named):
    x = mg.tensor(np.ones((3, 2, 2), np.float32))
    with pytest.raises(CellCompileError, match=f"{named}.*impl='composed'"):
        Recurrent(cell, 2, 4)(x)


def test_grad_norms_of_a_layer_norm_lstm_are_those_of_its_composed_unroll(grad_norms_and_unroll):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 3, 2))
    w = rng.standard_normal((7, 3, 4))
    m = Recurrent(LayerNormLSTMCell, 2, 4, rng=1, dtype=np.float64)
    norms, expected = grad_norms_and_unroll(m, x, w)
    for name in ("h", "c"):
        np.testing.assert_allclose(norms[name], expected[name], rtol=1e-10)
