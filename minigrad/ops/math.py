"""Elementwise math ops, each a scalar rule (``backends/scalar_rules_math``) and one line here.

Integer inputs: float functions compute in floats as numpy's do (int32 -> float64; square keeps
integers, as numpy's); rounding ops return integers unchanged; sign,
maximum, minimum, fmod, remainder and floor_divide keep integers integer (numpy's ufuncs on the
CPU; on CUDA maximum/minimum only, the others raise).
"""

from __future__ import annotations

import numpy as np

from ..backends import backend_of
from ..tensor import Tensor
from .elementwise import add, binary_operands, describe, mul, sub
from .elementwise import div as true_divide
from .rule_ops import binary_rule_op, unary_rule_function, unary_rule_op

sqrt = unary_rule_function("sqrt", "sqrt(a); d/da = g / (2 sqrt(a)).")
rsqrt = unary_rule_function("rsqrt", "1 / sqrt(a); d/da = -g / (2 a^1.5).")


def square(a: Tensor) -> Tensor:
    """a^2; d/da = 2 a g (integers stay integers, as numpy's square)."""
    if isinstance(a, Tensor) and a.dtype.kind in "iu":
        return mul(a, a)
    return unary_rule_op("square", a)


sin = unary_rule_function("sin", "sin(a); d/da = g cos(a).")
cos = unary_rule_function("cos", "cos(a); d/da = -g sin(a).")
tan = unary_rule_function("tan", "tan(a); d/da = g (1 + tan(a)^2).")
asin = unary_rule_function("asin", "asin(a); d/da = g / sqrt(1 - a^2).")
acos = unary_rule_function("acos", "acos(a); d/da = -g / sqrt(1 - a^2).")
atan = unary_rule_function("atan", "atan(a); d/da = g / (1 + a^2).")
sinh = unary_rule_function("sinh", "sinh(a); d/da = g cosh(a).")
cosh = unary_rule_function("cosh", "cosh(a); d/da = g sinh(a).")
asinh = unary_rule_function("asinh", "asinh(a); d/da = g / sqrt(a^2 + 1).")
acosh = unary_rule_function("acosh", "acosh(a); d/da = g / sqrt(a^2 - 1).")
atanh = unary_rule_function("atanh", "atanh(a); d/da = g / (1 - a^2).")
log1p = unary_rule_function("log1p", "log(1 + a), accurate for small a; d/da = g / (1 + a).")
expm1 = unary_rule_function("expm1", "exp(a) - 1, accurate for small a; d/da = g exp(a).")
log2 = unary_rule_function("log2", "log2(a); d/da = g / (a ln 2).")
log10 = unary_rule_function("log10", "log10(a); d/da = g / (a ln 10).")
exp2 = unary_rule_function("exp2", "2^a; d/da = g 2^a ln 2.")
erf = unary_rule_function("erf", "erf(a); d/da = g 2 exp(-a^2) / sqrt(pi).")


def _integer_passthrough(name, a):
    if not isinstance(a, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(a).__name__}")
    return a.dtype.kind in "biu"


def floor(a: Tensor) -> Tensor:
    """largest integer <= a (integers unchanged); zero gradient."""
    return a if _integer_passthrough("floor", a) else unary_rule_op("floor", a)


def ceil(a: Tensor) -> Tensor:
    """smallest integer >= a (integers unchanged); zero gradient."""
    return a if _integer_passthrough("ceil", a) else unary_rule_op("ceil", a)


def round(a: Tensor) -> Tensor:  # noqa: A001 - numpy's and torch's name
    """a rounded to the nearest integer, halves to even (integers unchanged); zero gradient."""
    return a if _integer_passthrough("round", a) else unary_rule_op("round", a)


def trunc(a: Tensor) -> Tensor:
    """a rounded toward zero (integers unchanged); zero gradient."""
    return a if _integer_passthrough("trunc", a) else unary_rule_op("trunc", a)


def sign(a: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of a (integers stay integers); zero gradient."""
    if _integer_passthrough("sign", a):
        be = backend_of(a.data)
        as_float = be.astype(a.data, np.float64 if a.dtype.itemsize > 4 else np.float32)
        return Tensor._wrap(be.astype(be.rule_unary("sign", as_float), a.dtype))
    return unary_rule_op("sign", a)


_DIVIDING = ("fmod", "remainder", "floor_divide")


def _integer_binary(name, a, b, cuda_ok):
    """The numpy ufunc of `name` on two integer tensors (no gradient), or None for floats."""
    a, b = binary_operands(name, a, b)
    if a.dtype.kind not in "biu":
        return None
    be = backend_of(a.data)
    if be.name == "cpu":
        if name in _DIVIDING and a.size and b.size and (b.data == 0).any():
            # numpy's 0 (with a RuntimeWarning) would be a silent wrong answer: torch raises
            raise ZeroDivisionError(f"{name}: integer division by zero ({describe(a)} by "
                                    f"{describe(b)} holding 0)")
        return Tensor._wrap(np.asarray(getattr(np, name)(a.data, b.data)))
    if not cuda_ok:
        raise ValueError(f"{name}: integer tensors are not supported on cuda, got {describe(a)}; "
                         "cast to float64 first")
    if name == "maximum":
        return Tensor._wrap(be.maximum(a.data, b.data))
    return Tensor._wrap(be.neg(be.maximum(be.neg(a.data), be.neg(b.data))))


def _binary(name, a, b, cuda_ok):
    result = _integer_binary(name, a, b, cuda_ok)
    return result if result is not None else binary_rule_op(name, a, b)


def maximum(a, b) -> Tensor:
    """elementwise max(a, b), NaN propagates; g goes to the larger, split in half on ties."""
    return _binary("maximum", a, b, True)


def minimum(a, b) -> Tensor:
    """elementwise min(a, b), NaN propagates; g goes to the smaller, split in half on ties."""
    return _binary("minimum", a, b, True)


def fmod(a, b) -> Tensor:
    """a - trunc(a / b) b (sign of a, C's fmod); d/da = g, d/db = -g trunc(a / b)."""
    return _binary("fmod", a, b, False)


def remainder(a, b) -> Tensor:
    """a - floor(a / b) b (sign of b, Python's a % b); d/da = g, d/db = -g floor(a / b)."""
    return _binary("remainder", a, b, False)


def floor_divide(a, b) -> Tensor:
    """floor(a / b) (Python's a // b); zero gradient."""
    return _binary("floor_divide", a, b, False)


def logaddexp(a, b) -> Tensor:
    """log(exp(a) + exp(b)) without overflow; d/da = g exp(a - out), d/db = g exp(b - out)."""
    return binary_rule_op("logaddexp", a, b)


def lerp(start, end, weight) -> Tensor:
    """start + weight (end - start); gradients to all three (weight may be a number)."""
    if not isinstance(start, Tensor):
        raise TypeError(f"lerp: start must be a Tensor, got {type(start).__name__}")
    return add(start, mul(weight, sub(end, start)))


def copysign(a, b) -> Tensor:
    """|a| with the sign of b (also of -0.0); integers compute in floats. d/da = g sign(a) sign(b)
    (0 at a == 0, torch's), d/db = 0."""
    return binary_rule_op("copysign", a, b)


_ROUNDING = (None, "trunc", "floor")


def div(a, b, rounding_mode=None) -> Tensor:
    """a / b (rounding_mode=None: true division, integers give float64); "trunc" rounds the
    quotient toward zero, "floor" down (Python's //); rounded quotients of integers stay
    integers, dividing an integer by 0 is ZeroDivisionError (torch's), and they have zero
    gradient (torch's)."""
    if rounding_mode not in _ROUNDING:
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                         f"{rounding_mode!r}")
    if rounding_mode is None:
        return true_divide(a, b)
    a, b = binary_operands("div", a, b)
    if a.dtype.kind not in "biu":
        return trunc(true_divide(a, b)) if rounding_mode == "trunc" else floor_divide(a, b)
    if a.dtype.kind == "b":
        a, b = a.astype(np.int64), b.astype(np.int64)
    be = backend_of(a.data)
    if be.name != "cpu":
        raise ValueError(f"div: rounding_mode={rounding_mode!r} of integer tensors is not "
                         f"supported on cuda, got {describe(a)}; cast to float64 first")
    x, y = a.data, np.broadcast_to(b.data, np.broadcast_shapes(a.shape, b.shape))
    if (y == 0).any():
        raise ZeroDivisionError(f"div: integer division by zero (rounding_mode="
                                f"{rounding_mode!r})")
    q = np.floor_divide(x, y)
    if rounding_mode == "trunc":
        inexact = np.remainder(x, y) != 0
        q = q + (inexact & ((x < 0) != (y < 0))).astype(q.dtype)
    return Tensor._wrap(np.asarray(q))
