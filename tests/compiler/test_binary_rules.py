"""Binary rules as methods in a fused step (a.maximum(b), a.minimum(b)) and Tensor.logsigmoid:
fused == composed in float64, gradcheck of the fused primitive, torch parity of logsigmoid."""

from __future__ import annotations

import numpy as np
import pytest

import lstm.fused as fused_module
import minigrad as mg
from lstm import Cell, Recurrent
from lstm.cells import make_uniform
from minigrad.compiler import CellCompileError


class ClampedRunningMaxCell(Cell):
    """h' = max(h + logsigmoid(a), b) clipped below by min(c, 0): every binary rule by method."""

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        H = hidden_size
        make_uniform(self, {"weight_ih": (3 * H, input_size), "weight_hh": (3 * H, H)}, H, "",
                     self.rng, self.dtype)

    def step(self, x, state):
        (h,) = state
        a, b, c = (x @ self.weight_ih.T + h @ self.weight_hh.T).split(3, axis=-1)
        return ((h + a.logsigmoid()).maximum(b.tanh()).maximum(c.minimum(0.0)) * 0.9,)


class UnknownMethodCell(ClampedRunningMaxCell):
    def step(self, x, state):
        (h,) = state
        return (h.interleave(x @ self.weight_ih.T),)


def test_binary_rules_fuse_and_equal_composed():
    x = np.random.default_rng(0).standard_normal((6, 3, 2))
    results = []
    for impl in ("composed", "fused"):
        layer = Recurrent(ClampedRunningMaxCell, 2, 4, impl=impl, rng=1, dtype=np.float64)
        xt = mg.tensor(x, requires_grad=True)
        out, h_n = layer(xt, lengths=np.array([6, 2, 4]))
        upstream = mg.tensor(np.random.default_rng(2).standard_normal(out.shape))
        (out * upstream).sum().backward()
        results.append([out.numpy(), xt.grad, layer.weight_ih_l0.grad, layer.weight_hh_l0.grad])
    for composed, fused in zip(*results):
        np.testing.assert_allclose(fused, composed, rtol=1e-10, atol=1e-12)


def test_gradcheck_through_fused_maximum():
    cell = ClampedRunningMaxCell(2, 3, rng=0, dtype=np.float64)
    compiled = fused_module.compiled_step(cell, np.float64)
    names = compiled.param_names
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((4, 2, 2)), rng.standard_normal((2, 3))] + \
        [cell._parameters[n].numpy().copy() for n in names]

    def fn(x, h, *params):
        out, (h_n,) = compiled(x, (h,), dict(zip(names, params)))
        return out

    assert mg.gradcheck(fn, inputs, atol=1e-6, rtol=1e-5)


def test_an_unknown_method_is_named():
    cell = UnknownMethodCell(2, 3, rng=0, dtype=np.float64)
    with pytest.raises(CellCompileError, match="'interleave'"):
        fused_module.compiled_step(cell, np.float64)


def test_logsigmoid_method_matches_torch():
    torch = pytest.importorskip("torch")
    values = np.array([-800.0, -30.0, -1.5, 0.0, 2.0, 40.0])
    x = mg.tensor(values, requires_grad=True)
    upstream = np.random.default_rng(4).standard_normal(values.shape)
    (x.logsigmoid() * mg.tensor(upstream)).sum().backward()
    t = torch.tensor(values, requires_grad=True)
    expected = torch.nn.functional.logsigmoid(t)
    (expected * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(x.logsigmoid().numpy(), expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12, atol=1e-300)
