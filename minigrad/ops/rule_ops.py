"""Ops made from a scalar rule: the forward and the gradient both come from the rule's kernels.

Adding an elementwise op is its rule (``backends/scalar_rules*``) and one line here: a function
calling ``unary_rule_op`` or ``binary_rule_op``, or ``unary_rule_function`` for an op that is its
rule and nothing more. Integer and bool inputs of a float op compute in the one
dtype every floating function of minigrad uses for them (``dtypes.floating``: numpy's, int32 and
int64 -> float64, bool and 8/16-bit integers -> float32).
"""

from __future__ import annotations

import sys

import numpy as np

from .. import dtypes
from ..autograd import record
from ..backends import backend_of
from ..backends.scalar_rules import RULES
from ..tensor import Tensor
from .dispatch import named
from .elementwise import binary_operands, broadcast_apply, describe


def float_operand(name: str, a) -> Tensor:
    """a as a float tensor: float32/float64 kept, integers and bools cast per dtypes.floating."""
    if not isinstance(a, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(a).__name__}")
    kind = a.dtype.kind
    if kind in "biu":
        be = backend_of(a.data)
        return Tensor._wrap(be.astype(a.data, dtypes.floating(a.dtype)))
    if a.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name}: needs a float32 or float64 tensor (or integers, computed in "
                         f"float64), got {describe(a)}")
    return a


def unary_rule_op(name: str, a, *params) -> Tensor:
    """The rule `name` applied to a; backward multiplies g by the rule's derivative."""
    a = float_operand(name, a)
    rule = RULES[name]
    be = backend_of(a.data)
    x = a.data
    out = be.rule_unary(name, x, params)
    if not rule.differentiable:
        return record(name, out, (a,), lambda g: (be.zeros(x.shape, x.dtype),))
    saved_x = x if "x" in rule.uses else None

    def backward(g):
        return (be.rule_unary_backward(name, out if saved_x is None else saved_x, out, g,
                                       params),)

    return record(name, out, (a,), backward)


def unary_rule_function(name: str, doc: str):
    """The public op `name(a)` that is its rule and nothing more (``unary_rule_op(name, a)``),
    documented by `doc` and named as a function of the calling module."""
    def op(a: Tensor) -> Tensor:
        return unary_rule_op(name, a)

    return named(op, name, doc, sys._getframe(1).f_globals["__name__"])


def binary_rule_op(name: str, a, b, *params) -> Tensor:
    """The rule `name` applied to a and b broadcast together; gradients of the broadcast shape."""
    a, b = binary_operands(name, a, b)
    if a.dtype.kind in "biu":
        a, b = float_operand(name, a), float_operand(name, b)
    else:
        float_operand(name, a)
    rule = RULES[name]
    be = backend_of(a.data)
    x, y = a.data, b.data
    out = broadcast_apply(name, lambda p, q: be.rule_binary(name, p, q, params), a, b)
    if not rule.differentiable:
        return record(name, out, (a, b),
                      lambda g: (be.zeros(g.shape, g.dtype), be.zeros(g.shape, g.dtype)))

    def backward(g):
        return be.rule_binary_backward(name, x, y, out, g, a.requires_grad, b.requires_grad,
                                       params)

    return record(name, out, (a, b), backward)
