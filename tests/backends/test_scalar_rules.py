"""The scalar rules: compiled for the CPU they agree with their plain-Python form, with numpy, and
with central differences of themselves; float32 stays float32; tanh and sigmoid saturate exactly."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from minigrad.backends import scalar_rules

NUMPY = {"neg": np.negative, "exp": np.exp, "log": np.log, "tanh": np.tanh,
         "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0.0),
         "abs": np.abs, "add": np.add, "sub": np.subtract, "mul": np.multiply,
         "div": np.divide, "pow": np.power}
NAMES = sorted(NUMPY)  # the math and activation families: tests/backends/test_scalar_rules_more.py


def _inputs(name, rng, n=64):
    a = rng.uniform(-3, 3, n)
    b = rng.uniform(-3, 3, n)
    if name in ("log", "pow"):
        a = rng.uniform(0.1, 4, n)
    if name in ("relu", "abs"):
        a = np.where(np.abs(a) < 0.1, 0.5, a)  # away from the kink
    if name == "div":
        b = np.where(np.abs(b) < 0.3, 1.3, b)
    return a, b


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_numpy_in_float64(name, rng, apply_rule):
    rule = scalar_rules.RULES[name]
    lib = scalar_rules.compiled("cpu", np.float64)
    a, b = _inputs(name, rng)
    got = apply_rule(rule, getattr(lib, name), a, b)
    want = NUMPY[name](a) if rule.arity == 1 else NUMPY[name](a, b)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_derivatives_match_central_differences(name, rng, assert_derivatives_match_differences):
    assert_derivatives_match_differences(name, *_inputs(name, rng), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_compiled_equals_plain_python_and_stays_float32(name, rng, apply_rule):
    rule = scalar_rules.RULES[name]
    lib = scalar_rules.compiled("cpu", np.float32)
    reference = scalar_rules.python(np.float32)
    a, b = (v.astype(np.float32) for v in _inputs(name, rng))
    fwd = getattr(lib, name)
    got = apply_rule(rule, fwd, a, b)
    want = apply_rule(rule, getattr(reference, name), a, b)
    np.testing.assert_allclose(got, want, rtol=2e-7, atol=1e-7)
    args = (np.float32(a[0]),) if rule.arity == 1 else (np.float32(a[0]), np.float32(b[0]))
    fwd(*args)
    assert all(str(sig.return_type) == "float32" for sig in fwd.nopython_signatures)


def test_float32_tanh_and_sigmoid_saturate_exactly():
    lib = scalar_rules.compiled("cpu", np.float32)

    @njit
    def sigmoid_and_slope(xs, out, slope):
        for i in range(xs.size):
            out[i] = lib_sigmoid(xs[i])
            slope[i] = lib_sigmoid_d(xs[i], out[i])

    lib_sigmoid, lib_sigmoid_d = lib.sigmoid, lib.sigmoid_d  # noqa: F841 - closed over above
    # exp(-x) < 2^-24 from 16.64 on, so 1 + exp(-x) rounds to 1: sigmoid is exactly 1, slope 0
    xs = np.array([16.7, 17.0, 20.0, 40.0, 300.0, np.inf], np.float32)
    out, slope = np.empty_like(xs), np.empty_like(xs)
    sigmoid_and_slope(xs, out, slope)
    np.testing.assert_array_equal(out, 1.0)
    np.testing.assert_array_equal(slope, 0.0)
    # the negative tail keeps its relative accuracy (the tanh form returned 0 there) down to 0
    sigmoid_and_slope(-xs, out, slope)
    truth = (1.0 / (1.0 + np.exp(xs.astype(np.float64)))).astype(np.float32)
    np.testing.assert_allclose(out, truth, rtol=3e-7, atol=0)
    np.testing.assert_allclose(slope, truth, rtol=1e-6, atol=0)
    # once it reaches +-1, tanh stays there (the clamp at 9 alone gave tanh(9) < tanh(8.5) = 1)
    grid = np.linspace(7.5, 12.0, 4001).astype(np.float32)
    tanh = np.array([lib.tanh(v) for v in grid])
    reached = np.argmax(tanh >= 1.0)
    assert reached > 0 and np.all(tanh[reached:] == 1.0)
    assert np.isnan(lib.tanh(np.float32(np.nan)))


def test_unknown_rule_and_dtype_are_named():
    with pytest.raises(AttributeError, match="no rule named 'nope'"):
        scalar_rules.compiled("cpu", np.float32).nope  # noqa: B018
    with pytest.raises(ValueError, match="float32 or float64, got int32"):
        scalar_rules.compiled("cpu", np.int32)
    with pytest.raises(ValueError, match="target must be 'cpu' or 'cuda'"):
        scalar_rules.compiled("tpu", np.float32).exp  # noqa: B018


def test_pow_derivatives_take_torchs_limits_at_a_zero_base():
    lib = scalar_rules.compiled("cpu", np.float64)
    assert lib.pow_da(0.0, 2.0, 0.0) == 0.0          # d(x^2)/dx at 0 (b y / a would be nan)
    assert lib.pow_da(0.0, 1.0, 0.0) == 1.0
    assert lib.pow_da(0.0, 0.0, 1.0) == 0.0          # x^0 is constant
    assert lib.pow_db(0.0, 2.0, 0.0) == 0.0          # 0^b is 0 for every b > 0
    assert lib.pow_da(2.0, 3.0, 8.0) == 12.0
