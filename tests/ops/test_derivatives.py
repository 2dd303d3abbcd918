"""The core ops' VJPs come from the scalar rules (ops/derivatives.py): one source per derivative."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import get
from minigrad.backends.scalar_rules import RULES
from minigrad.ops import derivatives

UNARY = ("neg", "exp", "log", "tanh", "sigmoid", "relu", "abs")
BINARY = ("add", "sub", "mul", "div", "pow")


def test_partials_are_read_from_the_rules():
    one, c = ("const", 1.0), (lambda v: ("expr", ("const", v)))
    kernel, operand = ("kernel",), (lambda k: ("expr", ("in", k)))

    def reciprocal(k):
        return ("expr", ("div", one, ("in", k)))

    expected = {
        "add": (c(1.0), c(1.0)), "sub": (c(1.0), c(-1.0)), "mul": (operand(1), operand(0)),
        "div": (reciprocal(1), kernel), "pow": (kernel, kernel), "neg": (c(-1.0),),
        "exp": (operand(1),), "log": (reciprocal(0),), "tanh": (kernel,),
        "sigmoid": (kernel,), "relu": (kernel,), "abs": (kernel,),
    }
    assert {name: derivatives.forms(name) for name in expected} == expected
    # rules with parameters or no derivative always take their kernel; a product is a kernel
    assert derivatives.forms("leaky_relu") == (kernel,)
    assert all(form == kernel for form in derivatives.forms("floor"))
    assert derivatives.forms("square") == (kernel,)


def test_a_known_exponent_resolves_the_rules_branches():
    """x ** 2: the pow rule's d/da read with b = 2 is 2 a^1 (numpy's fast path), x ** 0 has 0."""
    assert derivatives.forms("pow", ((1, 2),))[0] == (
        "expr", ("mul", ("const", 2.0), ("pow", ("in", 0), ("const", 1.0))))
    assert derivatives.forms("pow", ((1, 0),))[0] == ("expr", ("const", 0.0))


def test_a_changed_rule_changes_the_eager_gradient(monkeypatch):
    """No second copy: a rule whose partial is edited gives the ops that edited gradient."""
    rule = RULES["exp"]

    def doubled(ft, lib):
        forward, _ = rule.factory(ft, lib)
        two = ft(2.0)
        return forward, lambda x, y: two  # a constant: the lowered form, no kernel

    monkeypatch.setitem(RULES, "exp", type(rule)(rule.name, 1, doubled, (), rule.doc))
    monkeypatch.setattr(derivatives, "_FORMS", {})
    monkeypatch.setattr(derivatives, "_MAKERS", {})
    make = derivatives.unary("exp")
    be = get("cpu")
    g = np.arange(3.0)
    assert np.array_equal(make(be, g, g)(g)[0], 2 * g)


def _inputs(name, rng, shapes):
    arrays = [rng.uniform(0.3, 2.0, s) if name in ("log", "pow") else rng.standard_normal(s)
              for s in shapes]
    return [np.where(np.abs(a) < 0.05, 0.3, a) for a in arrays]  # away from relu/abs kinks


@pytest.mark.parametrize("name", UNARY + BINARY)
def test_gradcheck_float64_with_broadcasting(name, rng):
    fn = getattr(mg, name)
    shapes = [(3, 4)] if name in UNARY else [(3, 4), (4,)]
    assert mg.gradcheck(fn, _inputs(name, rng, shapes))


@pytest.mark.parametrize("name", UNARY + BINARY)
def test_eager_gradient_is_the_rule_kernel(name, rng):
    """The lowered forms (a constant, an operand, its reciprocal) equal g times the rule's
    partial computed by the rule's own generated kernel, in float64."""
    be = get("cpu")
    arrays = _inputs(name, rng, [(5, 6)] * (1 if name in UNARY else 2))
    tensors = [mg.tensor(a, requires_grad=True) for a in arrays]
    out = getattr(mg, name)(*tensors)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    if name in UNARY:
        expected = [be.rule_unary_backward(name, arrays[0], out.data, g)]
    else:
        expected = be.rule_binary_backward(name, arrays[0], arrays[1], out.data, g)
    for t, e in zip(tensors, expected):
        np.testing.assert_allclose(t.grad, e, rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", UNARY + BINARY)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch_forward_and_backward(name, dtype, rng):
    torch = pytest.importorskip("torch")
    shapes = [(4, 5)] if name in UNARY else [(4, 5), (1, 5)]
    arrays = [a.astype(dtype) for a in _inputs(name, rng, shapes)]
    g = rng.standard_normal((4, 5)).astype(dtype)
    ours = [mg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = getattr(mg, name)(*ours)
    ref = getattr(torch, name)(*theirs)
    out.backward(g)
    ref.backward(torch.tensor(g))
    tol = {"rtol": 2e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 0}
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **tol)
    for t, r in zip(ours, theirs):
        np.testing.assert_allclose(t.grad, r.grad.numpy(), **tol)


def test_pow_slope_where_the_power_underflows():
    """torch's b a^(b-1), not b y / a: y = 1e-60 underflows to 0 in float32, the slope does not."""
    a = mg.tensor(np.array([1e-30], np.float32), requires_grad=True)
    (a ** 2).backward(np.ones(1, np.float32))
    np.testing.assert_allclose(a.grad, [2e-30], rtol=1e-6)
    b = mg.tensor(np.array([np.inf, 4.0]), requires_grad=True)
    (b ** 0.5).sum().backward()  # b y / a would be inf / inf = NaN at +inf
    np.testing.assert_allclose(b.grad, [0.0, 0.25])


def test_scalar_exponent_and_zero_exponent():
    x = mg.tensor(np.array([0.0, 2.0, -3.0]), requires_grad=True)
    (x ** 3).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [0.0, 12.0, 27.0])
    x.grad = None
    (x ** 0).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])


def test_only_what_the_partials_read_is_kept():
    """add keeps no array, exp keeps its output, log its input (the closure's cells)."""
    be = get("cpu")
    x, y = np.ones(3), np.full(3, 2.0)

    def kept(closure):
        cells = [c.cell_contents for c in closure.__closure__ or ()]
        for c in list(cells):
            if callable(c) and getattr(c, "__closure__", None):
                cells += [d.cell_contents for d in c.__closure__]
        return [c for c in cells if isinstance(c, np.ndarray)]

    assert kept(derivatives.binary("add")(be, x, y, x + y)) == []
    assert [id(a) for a in kept(derivatives.unary("exp")(be, x, y))] == [id(y)]
    assert [id(a) for a in kept(derivatives.unary("log")(be, x, y))] == [id(x)]


def test_compiled_step_fuses_the_rules_backward():
    """mg.compile fuses the rule backward that tanh's and sigmoid's VJPs call with its
    neighbours, and the fused program equals the unfused one."""
    rng = np.random.default_rng(3)
    w = mg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    x = mg.tensor(rng.standard_normal((5, 3)))
    results = {}
    for fuse in (False, True):
        def step(x):
            w.grad = None
            z = x @ w
            loss = (z.tanh() * 2.0 * z.sigmoid() - 1.0).sum()
            loss.backward()
            return loss

        compiled = mg.compile(step, fuse=fuse)
        compiled(x)
        loss = compiled(x)
        results[fuse] = (compiled.programs()[0].source, loss.item(), w.grad.copy())
    plain, fused = results[False], results[True]
    assert plain[0].count("rule_unary_backward") == 2
    assert fused[0].count("rule_unary_backward") == 0 and "fused" in fused[0]
    assert abs(plain[1] - fused[1]) <= 1e-12
    np.testing.assert_allclose(fused[2], plain[2], rtol=0, atol=1e-12)
