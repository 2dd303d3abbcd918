"""Every elementwise rule works the same four ways (issue 20): as an mg. function and as a Tensor
method, eager (a composed cell step) and traced (a fused one); what the compiler cannot fuse is
named (mg.softmax, a rule parameter off its default)."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm import Cell, Recurrent
from lstm.cells import make_uniform
from minigrad.backends.scalar_rules import INTERNAL_RULES, RULES
from minigrad.compiler import CellCompileError
from minigrad.ops.dispatch import rule_op_names

T, B, I, H = 5, 3, 2, 4


class _Base(Cell):
    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        make_uniform(self, {"weight_ih": (2 * hidden_size, input_size),
                            "weight_hh": (2 * hidden_size, hidden_size),
                            "bias": (2 * hidden_size,)}, hidden_size, "", self.rng, self.dtype)

    def gates(self, x, h):
        return (x @ self.weight_ih.T + h @ self.weight_hh.T + self.bias).split(2, axis=-1)


class FunctionsCell(_Base):
    """The activations the issue names, called as mg. functions (and F. ones)."""

    def step(self, x, state):
        (h,) = state
        a, g = self.gates(x, h)
        mixed = (mg.softsign(g) + mg.silu(a) + mg.gelu(a) + mg.nn.functional.hardsigmoid(g)
                 + mg.softplus(a) + mg.erf(g) + mg.sinh(g) * 0.1 + mg.leaky_relu(a, 0.01)
                 + mg.gelu(g, approximate="tanh") + mg.maximum(a, 0.0) + mg.logaddexp(a, g))
        return (mg.tanh(mixed) * 0.5 + mg.sigmoid(h) * 0.5,)


class MethodsCell(_Base):
    """The same step written with methods."""

    def step(self, x, state):
        (h,) = state
        a, g = self.gates(x, h)
        mixed = (g.softsign() + a.silu() + a.gelu() + g.hardsigmoid() + a.softplus() + g.erf()
                 + g.sinh() * 0.1 + a.leaky_relu(negative_slope=0.01)
                 + g.gelu(approximate="tanh") + a.maximum(0.0) + a.logaddexp(g))
        return (mixed.tanh() * 0.5 + h.sigmoid() * 0.5,)


class SoftmaxCell(_Base):
    def step(self, x, state):
        (h,) = state
        a, g = self.gates(x, h)
        return (mg.softmax(a, axis=-1) * g.tanh(),)


class SlopeCell(_Base):
    def step(self, x, state):
        (h,) = state
        a, _ = self.gates(x, h)
        return (a.leaky_relu(0.2),)


def _run(cell, impl, x):
    layer = Recurrent(cell, I, H, impl=impl, rng=0, dtype=np.float64)
    out, h_n = layer(x)
    (out.sum() + (h_n * h_n).sum()).backward()
    return out.numpy(), {name: p.grad for name, p in layer.named_parameters()}, x.grad


@pytest.mark.parametrize("cell", [FunctionsCell, MethodsCell])
def test_rule_functions_and_methods_fuse_and_equal_composed(cell):
    data = np.random.default_rng(0).standard_normal((T, B, I))
    results = {}
    for impl in ("composed", "fused"):
        results[impl] = _run(cell, impl, mg.tensor(data, requires_grad=True))
    (out_c, grads_c, dx_c), (out_f, grads_f, dx_f) = results["composed"], results["fused"]
    np.testing.assert_allclose(out_f, out_c, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx_f, dx_c, rtol=1e-10, atol=1e-10)
    for name in grads_c:
        np.testing.assert_allclose(grads_f[name], grads_c[name], rtol=1e-10, atol=1e-10)


def test_functions_and_methods_cells_agree():
    data = np.random.default_rng(1).standard_normal((T, B, I))
    a = _run(FunctionsCell, "composed", mg.tensor(data, requires_grad=True))
    b = _run(MethodsCell, "composed", mg.tensor(data, requires_grad=True))
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("cell,named", [
    (SoftmaxCell, r"mg\.softmax \(called at test_rule_calls\.py:\d+: return \(mg\.softmax"),
    (SlopeCell, r"leaky_relu with negative_slope=0\.2"),
])
def test_what_cannot_fuse_is_named_and_runs_composed(cell, named):
    x = mg.tensor(np.random.default_rng(2).standard_normal((T, B, I)))
    with pytest.raises(CellCompileError, match=named + ".*impl='composed'"):
        Recurrent(cell, I, H, impl="fused", rng=0, dtype=np.float64)(x)
    out, _ = Recurrent(cell, I, H, impl="composed", rng=0, dtype=np.float64)(x)
    assert out.shape == (T, B, H)


def test_every_rule_is_a_method_and_a_function_with_the_same_answer():
    assert set(rule_op_names()) == set(RULES) - INTERNAL_RULES
    rng = np.random.default_rng(3)
    x = mg.tensor(rng.uniform(0.2, 0.8, (3, 4)))  # inside every rule's domain
    y = mg.tensor(rng.uniform(1.2, 1.8, (3, 4)))
    for name in rule_op_names():
        operands = ((y if name == "acosh" else x),) if RULES[name].arity == 1 else (x, y)
        method = getattr(operands[0], name)(*operands[1:])
        function = getattr(mg, name)(*operands)
        np.testing.assert_array_equal(method.numpy(), function.numpy(), err_msg=name)
