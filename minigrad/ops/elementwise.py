"""Elementwise primitives: each forward and its vector-Jacobian product side by side.

The core arithmetic and activations (add, sub, mul, div, pow, neg, exp, log, tanh, sigmoid, relu,
abs) take their VJPs from the scalar rules through ``derivatives``: the derivative of each is
written once, in its rule (the docstrings state the forward only).

Binary ops broadcast like numpy; their backward returns gradients of the broadcast shape and the
engine sums them back to each input's shape.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes
from ..autograd import record
from ..backends import backend_of
from ..backends import get as backend_of_device
from ..tensor import Tensor, as_operand
from . import derivatives


def describe(t: Tensor) -> str:
    """dtype[shape] on device, for error messages."""
    return f"{t.dtype}{list(t.shape)} on {t.device}"


def check_operands(name: str, a: Tensor, b: Tensor) -> None:
    """Raise ValueError naming the op and both operands on a dtype or device mismatch."""
    if a.data.dtype != b.data.dtype or type(a.data) is not type(b.data):
        what = "dtype" if a.data.dtype != b.data.dtype else "device"
        raise ValueError(f"{name}: {what} mismatch between {describe(a)} and {describe(b)}")


def binary_operands(name, a, b):
    """Both operands as Tensors of one dtype on one device, by the promotion rule of dtypes.py.

    A Python scalar is weak (it takes the tensor's dtype unless its kind is higher); tensors and
    numpy arrays follow numpy's result_type. An operand whose dtype changes is cast with astype,
    which casts its gradient back.
    """
    if isinstance(a, Tensor):  # the hot paths first: two tensors alike, a tensor and a float
        if isinstance(b, Tensor):
            x, y = a.data, b.data
            if x.dtype == y.dtype and type(x) is type(y):
                return a, b
        elif type(b) is float and a.data.dtype.kind == "f":
            return a, Tensor._wrap(backend_of(a.data).full((), b, a.data.dtype))
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            raise TypeError(f"{name}: needs at least one Tensor operand")
        b, a = _with_other(name, b, a)
    else:
        a, b = _with_other(name, a, b)
    check_operands(name, a, b)
    return a, b


def _with_other(name, t: Tensor, other):
    """(t, other) as Tensors of the promoted dtype; t is the operand known to be a Tensor."""
    be = backend_of(t.data)
    if dtypes.is_python_scalar(other):
        dtype = dtypes.with_scalar(name, t.dtype, other)
        return _cast(t, dtype), Tensor._wrap(be.full((), other, dtype))
    other = as_operand(other, t)
    if type(other.data) is not type(t.data):
        return t, other  # check_operands names the device mismatch
    dtypes.check_supported(name, other.dtype)
    dtype = dtypes.with_tensor(name, t, other, describe)
    return _cast(t, dtype), _cast(other, dtype)


def _cast(t: Tensor, dtype) -> Tensor:
    return t if t.data.dtype == dtype else astype(t, dtype)


def as_floating(a: Tensor, dtype=None) -> Tensor:
    """a, cast to the dtype a floating function of it computes in (int32 -> float64), or to
    `dtype` when given and a is not floating (true division and mean: float64, as numpy's)."""
    if a.data.dtype.kind == "f":
        return a
    return _cast(a, dtypes.floating(a.dtype) if dtype is None else np.dtype(dtype))


def broadcast_apply(name, fn, a, b):
    """fn(a.data, b.data); ValueError naming the op and both operands where they do not
    broadcast."""
    try:
        return fn(a.data, b.data)
    except ValueError as e:
        if "broadcast" not in str(e):
            raise
        raise ValueError(
            f"{name}: shapes {a.shape} and {b.shape} do not broadcast "
            f"({describe(a)} vs {describe(b)})"
        ) from None


_ADD, _SUB, _MUL, _DIV, _POW = (derivatives.binary(n) for n in ("add", "sub", "mul", "div", "pow"))
_NEG, _EXP, _LOG, _TANH, _SIGMOID, _RELU, _ABS = (
    derivatives.unary(n) for n in ("neg", "exp", "log", "tanh", "sigmoid", "relu", "abs"))


def _binary(name: str, a: Tensor, b: Tensor, vjp, method: str | None = None) -> Tensor:
    """A core binary op on operands made alike: the backend's `method` (default `name`) forward,
    recorded with its rule's VJP."""
    be = backend_of(a.data)
    out = broadcast_apply(name, getattr(be, method or name), a, b)
    return record(name, out, (a, b), vjp(be, a.data, b.data, out, a.requires_grad,
                                         b.requires_grad))


def _unary(name: str, a: Tensor, vjp, method: str | None = None) -> Tensor:
    """A core unary op: the backend's `method` (default `name`) forward, recorded with its rule's
    VJP."""
    be = backend_of(a.data)
    out = getattr(be, method or name)(a.data)
    return record(name, out, (a,), vjp(be, a.data, out))


def add(a, b) -> Tensor:
    """a + b."""
    a, b = binary_operands("add", a, b)
    return _binary("add", a, b, _ADD)


def sub(a, b) -> Tensor:
    """a - b."""
    a, b = binary_operands("sub", a, b)
    if a.dtype.kind == "b":
        raise TypeError("sub: bool - bool is not defined (as numpy); use ^ or mg.logical_xor")
    return _binary("sub", a, b, _SUB)


def mul(a, b) -> Tensor:
    """a * b."""
    a, b = binary_operands("mul", a, b)
    return _binary("mul", a, b, _MUL)


def div(a, b) -> Tensor:
    """a / b (true division: integers give floats)."""
    a, b = binary_operands("div", a, b)
    a, b = as_floating(a, np.float64), as_floating(b, np.float64)
    return _binary("div", a, b, _DIV)


def pow(a, b) -> Tensor:  # noqa: A001 - mirrors the operator's name
    """a ** b; the slopes are the rule's, torch's limits: none in a where b == 0 (so x ** 0 has
    none even at +-inf), none in b where a == 0 and b >= 0."""
    if dtypes.is_python_scalar(b) and isinstance(a, Tensor):
        return _pow_scalar(a, b)
    a, b = binary_operands("pow", a, b)
    _no_negative_integer_powers(a.dtype, b.data)
    return _binary("pow", a, b, _POW, "power")


def _no_negative_integer_powers(dtype, exponent):
    if dtype.kind in "iub" and backend_of(exponent).name == "cpu" and (exponent < 0).any():
        raise ValueError(f"pow: integer {dtype} to a negative integer power; cast to float first")


def _pow_scalar(a: Tensor, p) -> Tensor:
    a = _cast(a, dtypes.with_scalar("pow", a.dtype, p))
    if a.dtype.kind in "iub" and p < 0:
        raise ValueError(f"pow: integer {a.dtype} to a negative integer power {p}; cast to float "
                         "first")
    be = backend_of(a.data)
    x = a.data
    out = be.power(x, x.dtype.type(p))
    # the rule's d/da read with b = p: for x ** 2, 2 x^1 on numpy's fast path
    backward = derivatives.binary("pow", ((1, p),))(be, x, None, out, True, False)
    return record("pow", out, (a,), lambda g: backward(g)[:1])


def neg(a: Tensor) -> Tensor:
    """-a."""
    if a.dtype.kind == "b":
        raise TypeError("neg: -bool is not defined (as numpy); use ~ or mg.logical_not")
    return _unary("neg", a, _NEG)


def exp(a: Tensor) -> Tensor:
    """exp(a)."""
    return _unary("exp", as_floating(a), _EXP)


def log(a: Tensor) -> Tensor:
    """log(a)."""
    return _unary("log", as_floating(a), _LOG)


def tanh(a: Tensor) -> Tensor:
    """tanh(a) (float32: the rule's rational form)."""
    return _unary("tanh", as_floating(a), _TANH)


def sigmoid(a: Tensor) -> Tensor:
    """1 / (1 + exp(-a))."""
    return _unary("sigmoid", as_floating(a), _SIGMOID)


def relu(a: Tensor) -> Tensor:
    """max(a, 0)."""
    return _unary("relu", a, _RELU)


def abs(a: Tensor) -> Tensor:  # noqa: A001
    """|a|."""
    return _unary("abs", a, _ABS, "absolute")


def clip(a: Tensor, lo=None, hi=None) -> Tensor:
    """min(max(a, lo), hi); d/da = g where lo <= a <= hi. lo > hi gives hi everywhere (numpy's and
    torch's answer) and a zero gradient."""
    if lo is None and hi is None:
        raise ValueError("clip: give lo, hi or both")
    for argument, bound in (("lo", lo), ("hi", hi)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(
                bound, numbers.Real) and not (isinstance(bound, np.ndarray) and bound.ndim == 0
                                              and bound.dtype.kind in "iuf")):
            # a Tensor or array bound made an object-dtype tensor
            raise TypeError(f"clip: {argument} must be a number (bounds are scalars; "
                            "mg.maximum / mg.minimum take tensors), got "
                            f"{type(bound).__name__}")
    a = _cast(a, np.result_type(a.dtype, *[v for v in (lo, hi) if v is not None]))
    be = backend_of(a.data)
    x = a.data
    info = np.finfo(a.dtype) if a.dtype.kind == "f" else np.iinfo(a.dtype)
    lo_v = (-np.inf if a.dtype.kind == "f" else info.min) if lo is None else lo
    hi_v = (np.inf if a.dtype.kind == "f" else info.max) if hi is None else hi
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
    dtype = dtypes.check_supported("astype", dtype)
    be = backend_of(a.data)
    if a.dtype == dtype:
        return a
    source = a.dtype
    return record("astype", be.astype(a.data, dtype), (a,), lambda g: (be.astype(g, source),))
