"""Comparison and logic: bool tensors out, no gradient (they are piecewise constant).

Operands promote by the rule of ``dtypes.py`` before comparing (``int_tensor < 0.5`` compares in
float64). The operators ``& | ^ ~`` are ``ops/bitwise`` (logical on bools, bitwise on integers,
refused on floats); ``logical_*`` take any dtype, nonzero meaning true, as numpy's do.
"""

from __future__ import annotations

import numpy as np

from ..backends import backend_of
from ..tensor import Tensor
from .axes import reduction_axes
from .dispatch import binary_family
from .elementwise import binary_operands, compare


def _bool(data) -> Tensor:
    return Tensor._wrap(data)


def _unary_operand(name, a) -> Tensor:
    if not isinstance(a, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(a).__name__}")
    return a


def _compare(op, name, a, b) -> Tensor:
    return compare(op, a, b)


equal = binary_family(_compare, "eq", "equal", "a == b elementwise, a bool tensor.")
not_equal = binary_family(_compare, "ne", "not_equal", "a != b elementwise, a bool tensor.")
less = binary_family(_compare, "lt", "less", "a < b elementwise, a bool tensor.")
less_equal = binary_family(_compare, "le", "less_equal", "a <= b elementwise, a bool tensor.")
greater = binary_family(_compare, "gt", "greater", "a > b elementwise, a bool tensor.")
greater_equal = binary_family(_compare, "ge", "greater_equal",
                              "a >= b elementwise, a bool tensor.")


def _logical(op, name, a, b) -> Tensor:
    a, b = binary_operands(name, a, b)
    return _bool(backend_of(a.data).logical(op, a.data, b.data))


logical_and = binary_family(_logical, "and", "logical_and", "(a != 0) and (b != 0) elementwise.")
logical_or = binary_family(_logical, "or", "logical_or", "(a != 0) or (b != 0) elementwise.")
logical_xor = binary_family(_logical, "xor", "logical_xor", "(a != 0) != (b != 0) elementwise.")


def logical_not(a) -> Tensor:
    """a == 0 elementwise."""
    a = _unary_operand("logical_not", a)
    return _bool(backend_of(a.data).logical_not(a.data))


def any(a, axis=None, keepdims=False) -> Tensor:  # noqa: A001 - numpy's name
    """Is any element along axis nonzero: a bool tensor."""
    a = _unary_operand("any", a)
    axes = reduction_axes("any", axis, a.ndim)
    return _bool(backend_of(a.data).any(a.data, axis=axes, keepdims=keepdims))


def all(a, axis=None, keepdims=False) -> Tensor:  # noqa: A001 - numpy's name
    """Are all elements along axis nonzero: a bool tensor."""
    a = _unary_operand("all", a)
    axes = reduction_axes("all", axis, a.ndim)
    return _bool(backend_of(a.data).all(a.data, axis=axes, keepdims=keepdims))


def isnan(a) -> Tensor:
    """a != a: true at NaN."""
    a = _unary_operand("isnan", a)
    return _bool(backend_of(a.data).compare("ne", a.data, a.data))


def _abs_against_inf(name: str, op: str, a, not_float: str) -> Tensor:
    """|a| <op> inf, a bool tensor; for integers and bools (never infinite) all false
    (`not_float` "zeros") or all true ("ones")."""
    a = _unary_operand(name, a)
    be = backend_of(a.data)
    if a.dtype.kind != "f":
        return _bool(getattr(be, not_float)(a.data.shape, np.bool_))
    return _bool(be.compare(op, be.absolute(a.data), a.dtype.type("inf")))


def isinf(a) -> Tensor:
    """|a| == inf: true at +-inf (never for integers)."""
    return _abs_against_inf("isinf", "eq", a, "zeros")


def isfinite(a) -> Tensor:
    """|a| < inf: false at NaN and +-inf."""
    return _abs_against_inf("isfinite", "lt", a, "ones")


def isclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False) -> Tensor:
    """|a - b| <= atol + rtol * |b| (numpy's asymmetric test); equal infinities are close."""
    if rtol < 0 or atol < 0:
        raise ValueError(f"isclose: rtol and atol must be >= 0, got rtol={rtol}, atol={atol}")
    a, b = binary_operands("isclose", a, b)
    be = backend_of(a.data)
    if a.dtype.kind != "f":
        float64 = np.dtype(np.float64)
        a, b = Tensor._wrap(be.astype(a.data, float64)), Tensor._wrap(be.astype(b.data, float64))
    x, y = a.data, b.data
    t = a.dtype.type
    bound = be.add(be.mul(be.absolute(y), t(rtol)), t(atol))
    with np.errstate(invalid="ignore"):  # inf - inf is nan, then not close; x == y decides
        distance = be.absolute(be.sub(x, y))
    within = be.logical("and", be.compare("le", distance, bound),
                        be.compare("lt", be.absolute(y), t("inf")))
    close = be.logical("or", within, be.compare("eq", x, y))
    if equal_nan:
        both_nan = be.logical("and", be.compare("ne", x, x), be.compare("ne", y, y))
        close = be.logical("or", close, both_nan)
    return _bool(close)
