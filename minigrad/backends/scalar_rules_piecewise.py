"""Scalar rules of the piecewise elementwise ops: rounding (sign, floor, ceil, trunc, round; zero
gradient), maximum/minimum (torch's half split on ties), fmod, remainder and floor_divide.

Registered into ``scalar_rules.RULES`` when that module is imported; the conventions are its own.
"""

from __future__ import annotations

import math

import numpy as np

from .scalar_rules import binary, unary


def _fmod_of(lib):
    """C's fmod for the target: Numba's CPU target types np.fmod but not math.fmod, CUDA the
    reverse."""
    return np.fmod if getattr(lib, "_target", None) == "cpu" else math.fmod


# ---- piecewise constant: derivative 0 ----------------------------------------------------------
# math.floor/ceil/trunc return integers: only call them where the float is not already integral
# (|x| < 2^mantissa), so inf, NaN and huge values pass through unchanged.


def _integral_limit(ft):
    return ft(2.0 ** (23 if ft(0.1).nbytes == 4 else 52))


@unary("sign", uses=(), ufunc="sign", differentiable=False)
def _sign(ft, lib):
    """sign(x) in {-1, 0, 1} (NaN stays NaN); d/dx = 0."""
    zero, one = ft(0.0), ft(1.0)

    def forward(x):
        if x > zero:
            return one
        if x < zero:
            return -one
        return x  # 0, -0 or NaN

    def d(x, y):
        return zero

    return forward, d


def _rounding(name, ufunc, fn, doc):
    def factory(ft, lib):
        zero, limit = ft(0.0), _integral_limit(ft)

        def forward(x):
            if abs(x) < limit:
                return ft(fn(x))
            return x

        def d(x, y):
            return zero

        return forward, d

    factory.__doc__ = doc
    unary(name, uses=(), ufunc=ufunc, differentiable=False)(factory)


_rounding("floor", "floor", math.floor, "largest integer <= x; d/dx = 0.")
_rounding("ceil", "ceil", math.ceil, "smallest integer >= x; d/dx = 0.")


@unary("trunc", uses=(), ufunc="trunc", differentiable=False)
def _trunc(ft, lib):
    """x rounded toward 0; d/dx = 0."""
    zero, limit = ft(0.0), _integral_limit(ft)

    def forward(x):
        if abs(x) < limit:
            return ft(math.floor(x)) if x >= zero else ft(math.ceil(x))
        return x

    def d(x, y):
        return zero

    return forward, d


@unary("round", uses=(), ufunc="rint", differentiable=False)
def _round(ft, lib):
    """x rounded to the nearest integer, halves to even (numpy's and torch's); d/dx = 0."""
    zero, limit = ft(0.0), _integral_limit(ft)

    def forward(x):
        if abs(x) < limit:  # adding and removing 2^mantissa rounds half to even in the FPU
            magnitude = (abs(x) + limit) - limit
            return magnitude if x >= zero else -magnitude
        return x

    def d(x, y):
        return zero

    return forward, d


# ---- binary ------------------------------------------------------------------------------------


@binary("maximum", ufunc="maximum")
def _maximum(ft, lib):
    """max(a, b), NaN propagates; d/da = 1 where a > b, 1/2 on ties (torch's split), and 1 to
    both where either is NaN (torch's; issue 20)."""
    zero, half, one = ft(0.0), ft(0.5), ft(1.0)

    def forward(a, b):
        if a != a or b != b:
            return a + b
        return a if a > b else b

    def da(a, b, y):
        return zero if a < b else (half if a == b else one)

    def db(a, b, y):
        return zero if b < a else (half if a == b else one)

    return forward, da, db


@binary("minimum", ufunc="minimum")
def _minimum(ft, lib):
    """min(a, b), NaN propagates; d/da = 1 where a < b, 1/2 on ties, 1 to both where either is
    NaN (torch's)."""
    zero, half, one = ft(0.0), ft(0.5), ft(1.0)

    def forward(a, b):
        if a != a or b != b:
            return a + b
        return a if a < b else b

    def da(a, b, y):
        return zero if a > b else (half if a == b else one)

    def db(a, b, y):
        return zero if b > a else (half if a == b else one)

    return forward, da, db


@binary("fmod", uses=("a", "b", "y"), ufunc="fmod")
def _fmod(ft, lib):
    """a - trunc(a / b) b (the sign of a, C's fmod); d/da = 1, d/db = -(a - y) / b."""
    one, half, limit = ft(1.0), ft(0.5), _integral_limit(ft)
    c_fmod = _fmod_of(lib)

    def forward(a, b):
        return c_fmod(a, b)

    def da(a, b, y):
        return one

    def db(a, b, y):
        # -trunc(a / b): a - y is a whole multiple of b, but (a - y) / b is rounded (float32
        # 0.9 and 0.2348860: -2.9999998, torch -3), so the nearest whole number; where y is NaN
        # (b = 0, a = +-inf) the quotient a / b is +-inf or NaN, its own trunc (torch's -inf for
        # fmod(1, 0), was NaN; issue 20)
        if y != y:
            return -(a / b)
        q = (a - y) / b
        if abs(q) < limit:
            q = ft(math.floor(q + half))
        return -q

    return forward, da, db


@binary("remainder", uses=("a", "b", "y"), ufunc="remainder")
def _remainder(ft, lib):
    """a - floor(a / b) b (the sign of b, Python's %); d/da = 1, d/db = -(a - y) / b."""
    zero, one, half, limit = ft(0.0), ft(1.0), ft(0.5), _integral_limit(ft)
    c_fmod = _fmod_of(lib)

    def forward(a, b):
        r = c_fmod(a, b)
        if r != zero and (r < zero) != (b < zero):
            r += b
        return r

    def da(a, b, y):
        return one

    def db(a, b, y):
        # -floor(a / b); at b = 0 a / b is +-inf or NaN, its own floor (torch's; at a = +-inf
        # torch's remainder gives NaN where its fmod gives -+inf)
        if b == zero:
            return -(a / b)
        if y == b:  # b = +-inf, a finite of the other sign: y = b and a // b = -1 (Python's)
            return one
        q = (a - y) / b  # a whole number, rounded: the nearest one (as fmod's)
        if abs(q) < limit:
            q = ft(math.floor(q + half))
        return -q

    return forward, da, db


@binary("floor_divide", uses=(), ufunc="floor_divide", differentiable=False)
def _floor_divide(ft, lib):
    """floor(a / b) computed as numpy does (from fmod, exact); d/da = d/db = 0."""
    zero, one, half = ft(0.0), ft(1.0), ft(0.5)
    limit = _integral_limit(ft)
    c_fmod = _fmod_of(lib)

    def forward(a, b):
        if b == zero:
            return a / b
        mod = c_fmod(a, b)
        div = (a - mod) / b
        if mod != zero and (b < zero) != (mod < zero):
            div -= one
        if div == zero:
            return math.copysign(zero, a / b)
        if abs(div) < limit:
            floored = ft(math.floor(div))
            return floored + one if div - floored > half else floored
        return div

    def d(a, b, y):
        return zero

    return forward, d, d
