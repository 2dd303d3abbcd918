"""Every elementwise rule as a ``Tensor`` method and as a traceable ``mg.`` function.

The scalar rules (``backends/scalar_rules*``) are the elementwise ops; each has a public function
(``mg.softsign``). This module makes each one work the same four ways: as a function and as a
method, eager and inside a traced cell step. ``attach_methods`` gives ``Tensor`` the methods the
class does not define itself (``x.softsign()``, ``x.leaky_relu(0.2)``, ``x.fmod(y)``), each calling
the public function. ``traceable`` wraps a public function so that a traced operand (an object
whose type has ``__minigrad_function__``, the cell compiler's ``Sym``) is handed to its tracer
rather than to the eager op; a Tensor takes the eager path after one type check.
"""

from __future__ import annotations

import functools

from ..backends.scalar_rules import INTERNAL_RULES, RULES
from ..tensor import Tensor


def rule_op_names() -> list[str]:
    """The names of the public elementwise ops: one per scalar rule."""
    return sorted(set(RULES) - INTERNAL_RULES)


def named(fn, name: str, doc: str, module: str):
    """fn as the public op `name` of `module`, documented by `doc`: for the ops made from a table
    (one line per op where the ops of a family differ only in their name and op code)."""
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    fn.__module__ = module
    return fn


def binary_family(impl, op: str, name: str, doc: str):
    """The public op `name(a, b)` = ``impl(op, name, a, b)`` (a comparison, logical or bitwise
    op), documented by `doc`, in impl's module."""
    def binary(a, b) -> Tensor:
        return impl(op, name, a, b)

    return named(binary, name, doc, impl.__module__)


def traceable(fn):
    """fn, handing a call with a traced operand (first or second argument) to its tracer."""
    name = fn.__name__

    @functools.wraps(fn)
    def op(a, *args, **kwargs):
        if isinstance(a, Tensor):  # the eager path: one check (about 0.1 us)
            return fn(a, *args, **kwargs)
        for value in (a, *args[:1]):
            trace = getattr(type(value), "__minigrad_function__", None)
            if trace is not None:
                return trace(value, name, (a, *args), kwargs)
        return fn(a, *args, **kwargs)

    op.traced_name = name
    return op


def _method(fn):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


def attach_methods(cls, namespace: dict) -> list[str]:
    """Give cls a method for every rule op it lacks, calling namespace[name]; the names added."""
    added = []
    for name in rule_op_names():
        if name in namespace and not hasattr(cls, name):
            setattr(cls, name, _method(namespace[name]))
            added.append(name)
    return added
