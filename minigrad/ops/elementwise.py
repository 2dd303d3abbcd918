"""Elementwise primitives: each forward and its vector-Jacobian product side by side.

Binary ops broadcast like numpy; their backward returns gradients of the broadcast shape and the
engine sums them back to each input's shape.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..autograd import record
from ..backends import backend_of
from ..backends import get as backend_of_device
from ..tensor import Tensor, as_operand


def _describe(t: Tensor) -> str:
    return f"{t.dtype}{list(t.shape)} on {t.device}"


def check_operands(name: str, a: Tensor, b: Tensor) -> None:
    """Raise ValueError naming the op and both operands on a dtype or device mismatch."""
    if a.data.dtype != b.data.dtype or type(a.data) is not type(b.data):
        what = "dtype" if a.data.dtype != b.data.dtype else "device"
        raise ValueError(f"{name}: {what} mismatch between {_describe(a)} and {_describe(b)}")


def binary_operands(name, a, b):
    """Coerce numbers to the tensor operand's dtype/device, then check the pair."""
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            raise TypeError(f"{name}: needs at least one Tensor operand")
        a = as_operand(a, b)
    else:
        b = as_operand(b, a)
    check_operands(name, a, b)
    return a, b


def _broadcast(name, fn, a, b):
    try:
        return fn(a.data, b.data)
    except ValueError as e:
        if "broadcast" not in str(e):
            raise
        raise ValueError(
            f"{name}: shapes {a.shape} and {b.shape} do not broadcast "
            f"({_describe(a)} vs {_describe(b)})"
        ) from None


def add(a, b) -> Tensor:
    """a + b."""
    a, b = binary_operands("add", a, b)
    out = _broadcast("add", backend_of(a.data).add, a, b)
    return record("add", out, (a, b), lambda g: (g, g))


def sub(a, b) -> Tensor:
    """a - b."""
    a, b = binary_operands("sub", a, b)
    be = backend_of(a.data)
    out = _broadcast("sub", be.sub, a, b)
    return record("sub", out, (a, b), lambda g: (g, be.neg(g)))


def mul(a, b) -> Tensor:
    """a * b; d/da = g * b, d/db = g * a."""
    a, b = binary_operands("mul", a, b)
    be = backend_of(a.data)
    x, y = a.data, b.data
    out = _broadcast("mul", be.mul, a, b)

    def backward(g):
        return (be.mul(g, y) if a.requires_grad else None,
                be.mul(g, x) if b.requires_grad else None)

    return record("mul", out, (a, b), backward)


def div(a, b) -> Tensor:
    """a / b; d/da = g / b, d/db = -g * out / b."""
    a, b = binary_operands("div", a, b)
    be = backend_of(a.data)
    y = b.data
    out = _broadcast("div", be.div, a, b)

    def backward(g):
        ga = be.div(g, y)
        return ga, (be.neg(be.mul(ga, out)) if b.requires_grad else None)

    return record("div", out, (a, b), backward)


def pow(a, b) -> Tensor:  # noqa: A001 - mirrors the operator's name
    """a ** b; d/da = g * b * a^(b-1), d/db = g * out * log(a)."""
    if isinstance(b, numbers.Number) and isinstance(a, Tensor):
        return _pow_scalar(a, b)
    a, b = binary_operands("pow", a, b)
    be = backend_of(a.data)
    x, y = a.data, b.data
    out = _broadcast("pow", be.power, a, b)

    one, zero = y.dtype.type(1), y.dtype.type(0)

    def backward(g):
        # torch's conventions at a == 0: no slope in a where b == 0, none in b where a == 0 (b >= 0)
        ga = gb = None
        if a.requires_grad:
            exponent = be.where(be.equal(y, zero), one, be.sub(y, one))
            ga = be.mul(be.mul(g, y), be.power(x, exponent))
        if b.requires_grad:
            gb = be.mul(be.mul(g, out), be.log(be.where(be.equal(x, zero), one, x)))
        return ga, gb

    return record("pow", out, (a, b), backward)


def _pow_scalar(a: Tensor, p) -> Tensor:
    be = backend_of(a.data)
    x = a.data
    cast = x.dtype.type
    out = be.power(x, cast(p))

    def backward(g):
        if p == 0:  # x ** 0 is constant, also at x == 0 where x ** -1 would make 0 * inf
            return (be.mul(g, cast(0)),)
        return (be.mul(g, be.mul(be.power(x, cast(p - 1)), cast(p))),)

    return record("pow", out, (a,), backward)


def neg(a: Tensor) -> Tensor:
    """-a."""
    be = backend_of(a.data)
    return record("neg", be.neg(a.data), (a,), lambda g: (be.neg(g),))


def exp(a: Tensor) -> Tensor:
    """exp(a); d/da = g * out."""
    be = backend_of(a.data)
    out = be.exp(a.data)
    return record("exp", out, (a,), lambda g: (be.mul(g, out),))


def log(a: Tensor) -> Tensor:
    """log(a); d/da = g / a."""
    be = backend_of(a.data)
    x = a.data
    return record("log", be.log(x), (a,), lambda g: (be.div(g, x),))


def tanh(a: Tensor) -> Tensor:
    """tanh(a); d/da = g * (1 - out^2), from the saved output."""
    be = backend_of(a.data)
    out = be.tanh(a.data)
    return record("tanh", out, (a,), lambda g: (be.tanh_backward(out, g),))


def sigmoid(a: Tensor) -> Tensor:
    """1 / (1 + exp(-a)); d/da = g * out * (1 - out)."""
    be = backend_of(a.data)
    out = be.sigmoid(a.data)
    return record("sigmoid", out, (a,), lambda g: (be.sigmoid_backward(out, g),))


def relu(a: Tensor) -> Tensor:
    """max(a, 0); d/da = g where out > 0."""
    be = backend_of(a.data)
    out = be.relu(a.data)
    return record("relu", out, (a,), lambda g: (be.relu_backward(out, g),))


def abs(a: Tensor) -> Tensor:  # noqa: A001
    """|a|; d/da = g * sign(a)."""
    be = backend_of(a.data)
    x = a.data
    return record("abs", be.absolute(x), (a,), lambda g: (be.abs_backward(x, g),))


def clip(a: Tensor, lo=None, hi=None) -> Tensor:
    """min(max(a, lo), hi); d/da = g where lo <= a <= hi."""
    if lo is None and hi is None:
        raise ValueError("clip: give lo, hi or both")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"clip: lo={lo} is greater than hi={hi}")
    be = backend_of(a.data)
    x = a.data
    lo_v = -np.inf if lo is None else lo
    hi_v = np.inf if hi is None else hi
    out = be.clip(x, lo_v, hi_v)
    return record("clip", out, (a,), lambda g: (be.clip_backward(x, lo_v, hi_v, g),))


def where(condition, a, b) -> Tensor:
    """a where condition else b; gradients flow to the chosen side."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):  # two scalars (engine-ops)
        device = condition.device if isinstance(condition, Tensor) else "cpu"
        a = Tensor._wrap(backend_of_device(device).from_host(Tensor(a).data))
    a, b = binary_operands("where", a, b)
    cond = condition.data if isinstance(condition, Tensor) else condition
    be = backend_of(a.data)
    if be.name == "cpu":
        cond = np.asarray(cond)
    elif not hasattr(cond, "__cuda_ndarray__"):  # a device condition stays on the device
        cond = be.from_host(np.asarray(cond))
    if cond.dtype != np.bool_:
        raise ValueError(f"where: condition must be bool, got {cond.dtype}")
    try:
        out = be.where(cond, a.data, b.data)
    except ValueError:
        raise ValueError(
            f"where: shapes {tuple(cond.shape)}, {a.shape} and {b.shape} do not broadcast"
        ) from None

    def backward(g):
        zero = be.zeros((), g.dtype)
        return be.where(cond, g, zero), be.where(cond, zero, g)

    return record("where", out, (a, b), backward)


def compare(op: str, a, b) -> Tensor:
    """A bool tensor (no gradient) of a < b, <=, >, >=."""
    a, b = binary_operands(op, a, b)
    return Tensor._wrap(backend_of(a.data).compare(op, a.data, b.data))


def astype(a: Tensor, dtype) -> Tensor:
    """a cast to `dtype`; the gradient is cast back."""
    dtype = np.dtype(dtype)
    be = backend_of(a.data)
    if a.dtype == dtype:
        return a
    source = a.dtype
    return record("astype", be.astype(a.data, dtype), (a,), lambda g: (be.astype(g, source),))
