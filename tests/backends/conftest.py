"""Fixtures of the backend tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def apply_rule():
    """apply_rule(rule, fn, a, b, *extra): fn (a compiled or plain-Python scalar function of
    `rule`) called element by element on a (and b when the rule is binary) and the i-th element
    of each extra array; the results as an array."""

    def call(rule, fn, a, b, *extra):
        if rule.arity == 1:
            return np.array([fn(x, *[e[i] for e in extra]) for i, x in enumerate(a)])
        return np.array([fn(x, y, *[e[i] for e in extra])
                         for i, (x, y) in enumerate(zip(a, b))])

    return call
