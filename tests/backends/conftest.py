"""Fixtures of the backend tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def apply_rule():
    """apply_rule(rule, fn, a, b, *extra): fn (a compiled or plain-Python scalar function of
    `rule`) called element by element on a (and b when the rule is binary) and the i-th element
    of each extra array; the results as an array."""
    return _apply


def _apply(rule, fn, a, b, *extra):
    if rule.arity == 1:
        return np.array([fn(x, *[e[i] for e in extra]) for i, x in enumerate(a)])
    return np.array([fn(x, y, *[e[i] for e in extra]) for i, (x, y) in enumerate(zip(a, b))])


@pytest.fixture
def assert_derivatives_match_differences():
    """assert_derivatives_match_differences(name, a, b, rtol, atol): the float64 compiled
    derivatives of rule `name` (name_d, or name_da and name_db) at (a, b) equal central
    differences (step 1e-6) of its compiled forward; a rule marked not differentiable has
    derivatives 0."""
    from minigrad.backends import scalar_rules

    def check(name, a, b, rtol, atol):
        rule = scalar_rules.RULES[name]
        lib = scalar_rules.compiled("cpu", np.float64)
        fwd = getattr(lib, name)
        y, eps = _apply(rule, fwd, a, b), 1e-6
        if rule.arity == 1:
            pairs = [(f"{name}_d", (a + eps, b), (a - eps, b))]
        else:
            pairs = [(f"{name}_da", (a + eps, b), (a - eps, b)),
                     (f"{name}_db", (a, b + eps), (a, b - eps))]
        for attr, plus, minus in pairs:
            numeric = (_apply(rule, fwd, *plus) - _apply(rule, fwd, *minus)) / (2 * eps)
            analytic = _apply(rule, getattr(lib, attr), a, b, y)
            np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol, err_msg=attr)
            if not rule.differentiable:
                assert np.all(analytic == 0)

    return check
