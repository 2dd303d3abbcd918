"""Scalar rules of the math elementwise ops (roots, trigonometry, logs, rounding, binary math).

Registered into ``scalar_rules.RULES`` when that module is imported; the conventions are its own.
``ufunc`` names the numpy ufunc with the same forward (the CPU backend may call it for the
forward; the derivative always comes from the rule). Rounding ops are ``differentiable=False``:
piecewise constant, their derivative is 0 (as torch's).
"""

from __future__ import annotations

import math

import numpy as np

from .scalar_rules import binary, unary


def vectorising(lib, ft, name, fallback):
    """The float32 vectorising form of a function (scalar_float32) for float32 rules, `fallback`
    (a math function) for float64: take it before defining the inner functions."""
    return getattr(lib, f"{name}_f32") if ft is np.float32 else fallback


def _fmod_of(lib):
    """C's fmod for the target: Numba's CPU target types np.fmod but not math.fmod, CUDA the
    reverse."""
    return np.fmod if getattr(lib, "_target", None) == "cpu" else math.fmod


@unary("sqrt", uses=("y",), ufunc="sqrt")
def _sqrt(ft, lib):
    """sqrt(x); d/dx = 1 / (2 y)."""
    half = ft(0.5)

    def forward(x):
        return math.sqrt(x)

    def d(x, y):
        return half / y

    return forward, d


@unary("rsqrt", uses=("y",))
def _rsqrt(ft, lib):
    """1 / sqrt(x); d/dx = -y^3 / 2."""
    one, minus_half = ft(1.0), ft(-0.5)

    def forward(x):
        return one / math.sqrt(x)

    def d(x, y):
        return minus_half * y * y * y

    return forward, d


@unary("square", ufunc="square")
def _square(ft, lib):
    """x^2; d/dx = 2 x."""
    two = ft(2.0)

    def forward(x):
        return x * x

    def d(x, y):
        return two * x

    return forward, d


@unary("sin", ufunc="sin")
def _sin(ft, lib):
    """sin(x); d/dx = cos(x)."""
    sin, cos = vectorising(lib, ft, "sin", math.sin), vectorising(lib, ft, "cos", math.cos)

    def forward(x):
        return sin(x)

    def d(x, y):
        return cos(x)

    return forward, d


@unary("cos", ufunc="cos")
def _cos(ft, lib):
    """cos(x); d/dx = -sin(x)."""
    sin, cos = vectorising(lib, ft, "sin", math.sin), vectorising(lib, ft, "cos", math.cos)

    def forward(x):
        return cos(x)

    def d(x, y):
        return -sin(x)

    return forward, d


@unary("tan", uses=("y",), ufunc="tan")
def _tan(ft, lib):
    """tan(x); d/dx = 1 + y^2."""
    one = ft(1.0)

    def forward(x):
        return math.tan(x)

    def d(x, y):
        return one + y * y

    return forward, d


@unary("asin", ufunc="arcsin")
def _asin(ft, lib):
    """asin(x); d/dx = 1 / sqrt(1 - x^2)."""
    one = ft(1.0)

    def forward(x):
        return math.asin(x)

    def d(x, y):
        return one / math.sqrt(one - x * x)

    return forward, d


@unary("acos", ufunc="arccos")
def _acos(ft, lib):
    """acos(x); d/dx = -1 / sqrt(1 - x^2)."""
    one = ft(1.0)

    def forward(x):
        return math.acos(x)

    def d(x, y):
        return -one / math.sqrt(one - x * x)

    return forward, d


@unary("atan", ufunc="arctan")
def _atan(ft, lib):
    """atan(x); d/dx = 1 / (1 + x^2)."""
    one = ft(1.0)

    def forward(x):
        return math.atan(x)

    def d(x, y):
        return one / (one + x * x)

    return forward, d


@unary("sinh", ufunc="sinh")
def _sinh(ft, lib):
    """sinh(x); d/dx = cosh(x) = (e^x + e^-x) / 2."""
    half = ft(0.5)
    exp = vectorising(lib, ft, "exp", math.exp)

    def forward(x):
        return math.sinh(x)

    def d(x, y):
        return half * (exp(x) + exp(-x))

    return forward, d


@unary("cosh", ufunc="cosh")
def _cosh(ft, lib):
    """cosh(x); d/dx = sinh(x) = (expm1(x) - expm1(-x)) / 2 (no cancellation near 0)."""
    half = ft(0.5)
    expm1 = vectorising(lib, ft, "expm1", math.expm1)

    def forward(x):
        return math.cosh(x)

    def d(x, y):
        return half * (expm1(x) - expm1(-x))

    return forward, d


@unary("asinh", ufunc="arcsinh")
def _asinh(ft, lib):
    """asinh(x); d/dx = 1 / sqrt(x^2 + 1)."""
    one = ft(1.0)

    def forward(x):
        return math.asinh(x)

    def d(x, y):
        return one / math.sqrt(x * x + one)

    return forward, d


@unary("acosh", ufunc="arccosh")
def _acosh(ft, lib):
    """acosh(x); d/dx = 1 / sqrt(x^2 - 1)."""
    one = ft(1.0)

    def forward(x):
        return math.acosh(x)

    def d(x, y):
        return one / math.sqrt(x * x - one)

    return forward, d


@unary("atanh", ufunc="arctanh")
def _atanh(ft, lib):
    """atanh(x); d/dx = 1 / (1 - x^2)."""
    one = ft(1.0)

    def forward(x):
        return math.atanh(x)

    def d(x, y):
        return one / (one - x * x)

    return forward, d


@unary("log1p", ufunc="log1p")
def _log1p(ft, lib):
    """log(1 + x); d/dx = 1 / (1 + x)."""
    one = ft(1.0)

    def forward(x):
        return math.log1p(x)

    def d(x, y):
        return one / (one + x)

    return forward, d


@unary("expm1", uses=("y",), ufunc="expm1")
def _expm1(ft, lib):
    """exp(x) - 1; d/dx = y + 1."""
    one = ft(1.0)
    expm1 = vectorising(lib, ft, "expm1", math.expm1)

    def forward(x):
        return expm1(x)

    def d(x, y):
        return y + one

    return forward, d


@unary("log2", ufunc="log2")
def _log2(ft, lib):
    """log2(x); d/dx = 1 / (x ln 2)."""
    inv_ln2 = ft(1.0 / math.log(2.0))

    def forward(x):
        return math.log2(x)

    def d(x, y):
        return inv_ln2 / x

    return forward, d


@unary("log10", ufunc="log10")
def _log10(ft, lib):
    """log10(x); d/dx = 1 / (x ln 10)."""
    inv_ln10 = ft(1.0 / math.log(10.0))

    def forward(x):
        return math.log10(x)

    def d(x, y):
        return inv_ln10 / x

    return forward, d


@unary("exp2", uses=("y",), ufunc="exp2")
def _exp2(ft, lib):
    """2^x; d/dx = y ln 2."""
    ln2, two = ft(math.log(2.0)), ft(2.0)

    def forward(x):
        return math.pow(two, x)

    def d(x, y):
        return y * ln2

    return forward, d


@unary("erf")
def _erf(ft, lib):
    """erf(x); d/dx = 2 / sqrt(pi) exp(-x^2)."""
    scale = ft(2.0 / math.sqrt(math.pi))
    exp = vectorising(lib, ft, "exp", math.exp)

    def forward(x):
        return math.erf(x)

    def d(x, y):
        return scale * exp(-x * x)

    return forward, d


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
    """max(a, b), NaN propagates; d/da = 1 where a > b, 1/2 on ties (torch's split)."""
    zero, half, one = ft(0.0), ft(0.5), ft(1.0)

    def forward(a, b):
        if a != a or b != b:
            return a + b
        return a if a > b else b

    def da(a, b, y):
        return one if a > b else (half if a == b else zero)

    def db(a, b, y):
        return one if b > a else (half if a == b else zero)

    return forward, da, db


@binary("minimum", ufunc="minimum")
def _minimum(ft, lib):
    """min(a, b), NaN propagates; d/da = 1 where a < b, 1/2 on ties."""
    zero, half, one = ft(0.0), ft(0.5), ft(1.0)

    def forward(a, b):
        if a != a or b != b:
            return a + b
        return a if a < b else b

    def da(a, b, y):
        return one if a < b else (half if a == b else zero)

    def db(a, b, y):
        return one if b < a else (half if a == b else zero)

    return forward, da, db


@binary("fmod", uses=("a", "b", "y"), ufunc="fmod")
def _fmod(ft, lib):
    """a - trunc(a / b) b (the sign of a, C's fmod); d/da = 1, d/db = -(a - y) / b."""
    one = ft(1.0)
    c_fmod = _fmod_of(lib)

    def forward(a, b):
        return c_fmod(a, b)

    def da(a, b, y):
        return one

    def db(a, b, y):
        return -(a - y) / b  # -trunc(a / b), exact: a - y is a multiple of b

    return forward, da, db


@binary("remainder", uses=("a", "b", "y"), ufunc="remainder")
def _remainder(ft, lib):
    """a - floor(a / b) b (the sign of b, Python's %); d/da = 1, d/db = -(a - y) / b."""
    zero, one = ft(0.0), ft(1.0)
    c_fmod = _fmod_of(lib)

    def forward(a, b):
        r = c_fmod(a, b)
        if r != zero and (r < zero) != (b < zero):
            r += b
        return r

    def da(a, b, y):
        return one

    def db(a, b, y):
        return -(a - y) / b

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


@binary("logaddexp", uses=("a", "b", "y"), ufunc="logaddexp")
def _logaddexp(ft, lib):
    """log(exp(a) + exp(b)) without overflow; d/da = exp(a - y), d/db = exp(b - y)."""
    zero = ft(0.0)

    exp = vectorising(lib, ft, "exp", math.exp)

    def forward(a, b):
        m = a if a > b else b
        if m == -math.inf or m != m:  # both -inf (or a NaN): no finite difference to take
            return a + b if m != m else m
        return m + math.log1p(exp(-abs(a - b)))

    def da(a, b, y):
        return exp(a - y) if y != -math.inf else zero

    def db(a, b, y):
        return exp(b - y) if y != -math.inf else zero

    return forward, da, db
