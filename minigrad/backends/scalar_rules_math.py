"""Scalar rules of the smooth math elementwise ops (roots, trigonometry, logs and exps, erf,
logaddexp); the piecewise ones (rounding, maximum, fmod, ...) are in scalar_rules_piecewise.

Registered into ``scalar_rules.RULES`` when that module is imported; the conventions are its own.
``ufunc`` names the numpy ufunc with the same forward (the CPU backend may call it for the
forward; the derivative always comes from the rule). Rounding ops are ``differentiable=False``:
piecewise constant, their derivative is 0 (as torch's).
"""

from __future__ import annotations

import math

from .scalar_rules import binary, elementary, unary, vectorising


@elementary("sqrt", uses=("y",), ufunc="sqrt")
def _sqrt(ft, lib):
    """sqrt(x); d/dx = 1 / (2 y)."""
    half = ft(0.5)
    return lambda x, y: half / y


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


@elementary("sin", ufunc="sin", vectorised=True)
def _sin(ft, lib):
    """sin(x); d/dx = cos(x)."""
    cos = vectorising(lib, ft, "cos", math.cos)
    return lambda x, y: cos(x)


@elementary("cos", ufunc="cos", vectorised=True)
def _cos(ft, lib):
    """cos(x); d/dx = -sin(x)."""
    sin = vectorising(lib, ft, "sin", math.sin)
    return lambda x, y: -sin(x)


@elementary("tan", uses=("y",), ufunc="tan")
def _tan(ft, lib):
    """tan(x); d/dx = 1 + y^2."""
    one = ft(1.0)
    return lambda x, y: one + y * y


@elementary("asin", ufunc="arcsin")
def _asin(ft, lib):
    """asin(x); d/dx = 1 / sqrt(1 - x^2)."""
    one = ft(1.0)
    return lambda x, y: one / math.sqrt(one - x * x)


@elementary("acos", ufunc="arccos")
def _acos(ft, lib):
    """acos(x); d/dx = -1 / sqrt(1 - x^2)."""
    one = ft(1.0)
    return lambda x, y: -one / math.sqrt(one - x * x)


@elementary("atan", ufunc="arctan")
def _atan(ft, lib):
    """atan(x); d/dx = 1 / (1 + x^2)."""
    one = ft(1.0)
    return lambda x, y: one / (one + x * x)


@elementary("sinh", ufunc="sinh")
def _sinh(ft, lib):
    """sinh(x); d/dx = cosh(x) = (e^x + e^-x) / 2; past |x| = 64 as (e^(|x|/2))^2 / 2, which
    stays finite where e^|x| alone overflows (float32 from |x| = 88.7, cosh itself at 89.4)."""
    half, big = ft(0.5), ft(64.0)
    exp = vectorising(lib, ft, "exp", math.exp)

    def d(x, y):
        if abs(x) > big:
            e = exp(abs(x) * half)
            return half * e * e
        return half * (exp(x) + exp(-x))

    return d


@elementary("cosh", ufunc="cosh")
def _cosh(ft, lib):
    """cosh(x); d/dx = sinh(x) = (expm1(x) - expm1(-x)) / 2 (no cancellation near 0); past
    |x| = 64 as sign(x) (e^(|x|/2))^2 / 2 (finite up to sinh's own overflow, as sinh's d)."""
    half, big = ft(0.5), ft(64.0)
    exp = vectorising(lib, ft, "exp", math.exp)
    expm1 = vectorising(lib, ft, "expm1", math.expm1)

    def d(x, y):
        if abs(x) > big:
            e = exp(abs(x) * half)
            return half * e * e if x > big else -(half * e * e)
        return half * (expm1(x) - expm1(-x))

    return d


@elementary("asinh", ufunc="arcsinh")
def _asinh(ft, lib):
    """asinh(x); d/dx = 1 / sqrt(x^2 + 1)."""
    one = ft(1.0)
    return lambda x, y: one / math.sqrt(x * x + one)


@elementary("acosh", ufunc="arccosh")
def _acosh(ft, lib):
    """acosh(x); d/dx = 1 / sqrt(x^2 - 1)."""
    one = ft(1.0)
    return lambda x, y: one / math.sqrt(x * x - one)


@elementary("atanh", ufunc="arctanh")
def _atanh(ft, lib):
    """atanh(x); d/dx = 1 / (1 - x^2)."""
    one = ft(1.0)
    return lambda x, y: one / (one - x * x)


@elementary("log1p", ufunc="log1p")
def _log1p(ft, lib):
    """log(1 + x); d/dx = 1 / (1 + x)."""
    one = ft(1.0)
    return lambda x, y: one / (one + x)


@elementary("expm1", uses=("y",), ufunc="expm1", vectorised=True)
def _expm1(ft, lib):
    """exp(x) - 1; d/dx = y + 1."""
    one = ft(1.0)
    return lambda x, y: y + one


@elementary("log2", ufunc="log2")
def _log2(ft, lib):
    """log2(x); d/dx = 1 / (x ln 2)."""
    inv_ln2 = ft(1.0 / math.log(2.0))
    return lambda x, y: inv_ln2 / x


@elementary("log10", ufunc="log10")
def _log10(ft, lib):
    """log10(x); d/dx = 1 / (x ln 10)."""
    inv_ln10 = ft(1.0 / math.log(10.0))
    return lambda x, y: inv_ln10 / x


@unary("exp2", uses=("y",), ufunc="exp2")
def _exp2(ft, lib):
    """2^x; d/dx = y ln 2."""
    ln2, two = ft(math.log(2.0)), ft(2.0)

    def forward(x):
        return math.pow(two, x)

    def d(x, y):
        return y * ln2

    return forward, d


@elementary("erf", vectorised=True)
def _erf(ft, lib):
    """erf(x); d/dx = 2 / sqrt(pi) exp(-x^2)."""
    scale = ft(2.0 / math.sqrt(math.pi))
    exp = vectorising(lib, ft, "exp", math.exp)
    return lambda x, y: scale * exp(-x * x)


@binary("logaddexp", uses=("a", "b"))  # the rule kernel beats np.logaddexp 10x
def _logaddexp(ft, lib):
    """log(exp(a) + exp(b)) without overflow; d/da = 1 / (1 + exp(b - a)), d/db = 1 / (1 +
    exp(a - b)): torch's forms, 1 and 0 against an infinity, NaN where a and b are the same
    infinity (issue 20: the exp(a - y) form gave NaN for logaddexp(0, inf))."""
    one = ft(1.0)

    exp, log1p = vectorising(lib, ft, "exp", math.exp), vectorising(lib, ft, "log1p", math.log1p)

    def forward(a, b):
        if a != a or b != b:  # a NaN wins (logaddexp(nan, -inf) was -inf; issue 20)
            return a + b
        m = a if a > b else b
        if m == -math.inf or m == math.inf:  # both -inf, or an inf (inf - inf would be NaN)
            return m
        return m + log1p(exp(-abs(a - b)))

    def da(a, b, y):
        return one / (one + exp(b - a))

    def db(a, b, y):
        return one / (one + exp(a - b))

    return forward, da, db


@binary("copysign", uses=("a", "y"), ufunc="copysign")
def _copysign(ft, lib):
    """|a| with the sign of b (of -0.0 too); d/da = y / a (0 at a == 0, torch's), d/db = 0."""
    zero = ft(0.0)

    def forward(a, b):
        return math.copysign(a, b)

    def da(a, b, y):
        return y / a if a != zero else zero

    def db(a, b, y):
        return zero

    return forward, da, db
