"""The math and activation rule families: every rule compiled for the CPU equals its plain-Python
form, stays float32 in float32, and its derivatives match central differences in float64; the
generated kernels are cached on disk and regenerated when a rule's source changes."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad.backends import kernel_source, scalar_rules

ORIGINAL = {"neg", "exp", "log", "tanh", "sigmoid", "relu", "abs", "add", "sub", "mul", "div"}
NAMES = sorted(set(scalar_rules.RULES) - ORIGINAL)
DOMAIN = {"acosh": (1.2, 4.0), "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atanh": (-0.9, 0.9),
          "sqrt": (0.2, 4.0), "rsqrt": (0.2, 4.0), "log1p": (-0.5, 3.0), "log2": (0.2, 4.0),
          "log10": (0.2, 4.0), "tan": (-1.2, 1.2)}


def _inputs(name, rng, n=48):
    lo, hi = DOMAIN.get(name, (-3.0, 3.0))
    a = rng.uniform(lo, hi, n)
    b = rng.uniform(0.4, 2.0, n) * np.where(rng.random(n) < 0.5, -1.0, 1.0)
    for kink in (0.0, 1.0, -1.0, 3.0, -3.0, 6.0):  # piecewise rules: stay off the kinks
        a = np.where(np.abs(a - kink) < 0.02, a + 0.05, a)
    if name in ("fmod", "remainder", "floor_divide"):
        q = a / b
        a = np.where(np.abs(q - np.round(q)) < 0.05, a + 0.2 * b, a)
    return a, b


@pytest.mark.parametrize("name", NAMES)
def test_compiled_float32_equals_python_and_stays_float32(name, rng, apply_rule):
    rule = scalar_rules.RULES[name]
    lib, reference = scalar_rules.compiled("cpu", np.float32), scalar_rules.python(np.float32)
    a, b = (v.astype(np.float32) for v in _inputs(name, rng))
    got = apply_rule(rule, getattr(lib, name), a, b)
    np.testing.assert_allclose(got, apply_rule(rule, getattr(reference, name), a, b), rtol=3e-6,
                               atol=2e-7)
    sigs = getattr(lib, name).nopython_signatures
    assert sigs and all(str(sig.return_type) == "float32" for sig in sigs), sigs


@pytest.mark.parametrize("name", NAMES)
def test_derivatives_match_central_differences_float64(name, rng,
                                                       assert_derivatives_match_differences):
    assert_derivatives_match_differences(name, *_inputs(name, rng), rtol=1e-5, atol=1e-7)


def test_parameters_have_torch_defaults_and_override():
    lib = scalar_rules.compiled("cpu", np.float64)
    assert lib.leaky_relu(-2.0) == pytest.approx(-0.02)
    assert lib.leaky_relu(-2.0, 0.5) == pytest.approx(-1.0)
    assert lib.hardtanh(5.0) == 1.0 and lib.hardtanh(5.0, -2.0, 3.0) == 3.0
    assert scalar_rules.RULES["softplus"].params == ("beta", "threshold")


def test_generated_kernels_are_files_named_by_the_rule_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_KERNEL_DIR", str(tmp_path))
    template = "X = {value}\n"
    module = kernel_source.load("cpu", "test", "float32", template, value=3)
    assert module.X == 3
    (path,) = tmp_path.glob("cpu_test_float32_*.py")
    assert kernel_source.load("cpu", "test", "float32", template, value=3) is module
    other = kernel_source.load("cpu", "test", "float32", template, value=4)  # new source
    assert other.X == 4 and len(list(tmp_path.glob("cpu_test_float32_*.py"))) == 2
    assert path.read_text() == "X = 3\n"
