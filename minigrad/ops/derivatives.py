"""Vector-Jacobian products read from the scalar rules, so each derivative is written once.

A rule (``backends/scalar_rules*``) states an op's local partials as scalar Python. This module
reads each partial once, by calling it with symbolic operands (arithmetic on them builds an
expression tree), and lowers it to the cheapest eager form with the same arithmetic:

- a constant c: the input gradient is g (c = 1), -g (c = -1) or g * c, with no kernel at all;
- one operand v (mul's d/da = b, exp's d/dx = y): g * v, the backend's broadcasting multiply;
- one over an operand (log's 1 / x, div's 1 / b): g / v;
- anything else (a branch on an operand, a product of operands, a library call): the rule's
  generated one-pass kernel, ``rule_unary_backward`` / ``rule_binary_backward``, computing
  g * partial per element.

An argument known when the op is recorded (the Python exponent of ``x ** 2``) is passed to the
partials as its value: their branches on it resolve, and the tree that is left (2 x^1) runs as
backend array ops, numpy's fast paths for small integer powers included. The lowered forms
compute the products the partials state, so they equal the kernels to float rounding (a
constant or a single operand: exactly).

``unary(name)`` and ``binary(name)`` give a maker, called in an op's forward with the arrays it
saved, that returns the backward closure. The maker is Python generated from the forms (its
``source`` attribute), so the closure is what a hand-written one would be (``lambda g: (g, g)``
for add, ``lambda g: (be.mul(g, b), be.mul(g, a))`` for mul), keeping only the arrays its
partials read, and costs the eager path nothing over one.
"""

from __future__ import annotations

import numpy as np

from ..backends.scalar_rules import RULES, python


class _NotTraceable(Exception):
    """The partial branches on an operand or calls a library function on one."""


def _refuse(*_):
    raise _NotTraceable


class _Symbol:
    """A symbolic value: arithmetic on it builds an expression tree, anything else refuses."""

    __array_ufunc__ = None  # numpy scalars defer to the reflected methods below
    __slots__ = ("tree",)

    def __init__(self, tree):
        self.tree = tree

    def _op(kind, reflected=False):  # noqa: N805 - builds the methods below
        def method(self, other):
            if isinstance(other, _Symbol):
                other = other.tree
            elif isinstance(other, (int, float, np.floating)):
                other = ("const", float(other))
            else:
                return NotImplemented
            return _Symbol((kind, other, self.tree) if reflected else (kind, self.tree, other))
        return method

    __add__, __radd__ = _op("add"), _op("add", True)
    __sub__, __rsub__ = _op("sub"), _op("sub", True)
    __mul__, __rmul__ = _op("mul"), _op("mul", True)
    __truediv__, __rtruediv__ = _op("div"), _op("div", True)
    __pow__, __rpow__ = _op("pow"), _op("pow", True)

    def __neg__(self):
        return _Symbol(("neg", self.tree))

    __abs__ = __bool__ = __float__ = __index__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _refuse
    __hash__ = None


_FORMS: dict = {}


def forms(name: str, constants: tuple = ()) -> tuple:
    """One lowered form per input of rule `name`, each ("expr", tree) or ("kernel",); a tree is
    ("in", k) (k indexes the partials' arguments (x, y) or (a, b, y)), ("const", c), ("neg", t)
    or (op, left, right) with op in add sub mul div pow. `constants` gives (k, value) pairs of
    arguments known when the op is recorded (a Python exponent): the partials are read with
    those values, so their branches on them resolve. Without constants only the forms that cost
    no pass over the data beyond g's (a constant, an operand, one over an operand) are kept;
    anything else takes the rule's one-pass kernel."""
    key = (name, constants)
    found = _FORMS.get(key)
    if found is not None:
        return found
    rule = RULES[name]
    ft = np.float64
    partials = rule.factory(ft, python(ft))[1:]
    known = dict(constants)
    args = [ft(known[k]) if k in known else _Symbol(("in", k)) for k in range(rule.arity + 1)]
    out = []
    for partial in partials:
        if rule.params or not rule.differentiable:
            out.append(("kernel",))
            continue
        try:
            value = partial(*args)
        except (_NotTraceable, TypeError, ValueError, AttributeError, ZeroDivisionError):
            out.append(("kernel",))
            continue
        tree = value.tree if isinstance(value, _Symbol) else ("const", float(value))
        out.append(("expr", tree) if constants or _free(tree) else ("kernel",))
    if len(_FORMS) > 4096:  # exponents that change every call must not grow it without bound
        _FORMS.clear()
    _FORMS[key] = found = tuple(out)
    return found


def _free(tree) -> bool:
    """A constant, an operand or one over an operand: g times it is one pass, as the kernel."""
    return tree[0] in ("const", "in") or (tree[0] == "div" and tree[1] == ("const", 1.0)
                                          and tree[2][0] == "in")


_ARRAY_OP = {"add": "add", "sub": "sub", "mul": "mul", "div": "div", "pow": "power"}


def _constant(c: float) -> str:
    return f"g.dtype.type({c!r})" if np.isfinite(c) else f"g.dtype.type(float({str(c)!r}))"


def _array(tree, names) -> str:
    """Source of a tree's value as backend array ops (constants of g's dtype)."""
    kind = tree[0]
    if kind == "in":
        return names[tree[1]]
    if kind == "const":
        return _constant(tree[1])
    if kind == "neg":
        return f"be.neg({_array(tree[1], names)})"
    return f"be.{_ARRAY_OP[kind]}({_array(tree[1], names)}, {_array(tree[2], names)})"


def _gradient(tree, names) -> str:
    """Source of g * partial."""
    if tree == ("const", 1.0):
        return "g"
    if tree == ("const", -1.0):
        return "be.neg(g)"
    if tree[0] == "const":
        return f"be.mul(g, g.dtype.type({tree[1]!r}))"
    if tree[0] == "in":
        return f"be.mul(g, {names[tree[1]]})"
    if _free(tree):
        return f"be.div(g, {names[tree[2][1]]})"
    return f"be.mul(g, {_array(tree, names)})"


def _lambda(parts: list[str], single: bool) -> str:
    """Source of backward(g) returning the parts (one gradient per input)."""
    value = parts[0] if single else f"({', '.join(parts)}{',' if len(parts) == 1 else ''})"
    return f"lambda g: {value}"


_MAKERS: dict = {}


def _compile(key, source: str):
    """The maker defined by `source` (generated from the rule's forms), cached by key."""
    found = _MAKERS.get(key)
    if found is None:
        scope: dict = {}
        exec(compile(source, f"<minigrad.ops.derivatives {key[0]}>", "exec"), scope)  # noqa: S102
        if len(_MAKERS) > 4096:
            _MAKERS.clear()
        found = _MAKERS[key] = scope["make"]
        found.source = source
    return found


def unary(name: str):
    """maker(be, x, y) -> backward(g) = (g * d/dx,) for the one-input rule `name`: Python
    generated from the rule's form, closing over only the arrays its partial reads."""
    (form,) = forms(name)
    if form[0] == "expr":
        grad = _gradient(form[1], ("x", "y"))
    else:
        uses = RULES[name].uses
        # an operand the partial does not read is stood in for by the other (the same shape)
        sx, sy = ("x" if "x" in uses else "y"), ("y" if "y" in uses else "x")
        grad = f"be.rule_unary_backward({name!r}, {sx}, {sy}, g)"
    return _compile((name,), f"def make(be, x, y):\n    return {_lambda([grad], False)}\n")


def binary(name: str, constants: tuple = ()):
    """maker(be, a, b, y, need_a, need_b) -> backward(g) = (g * d/da, g * d/db), None where not
    needed, in the broadcast shape (the engine sums each back to its input's shape). With
    `constants` ((k, value) pairs, see forms) the maker is for those values only."""
    key = (name, constants)
    found = _MAKERS.get(key)
    if found is not None:
        return found
    forms_ab = forms(name, constants)
    uses = RULES[name].uses
    # the kernel reads y for the shape; an input its partials do not read is stood in by y
    sa, sb = ("a" if "a" in uses else "y"), ("b" if "b" in uses else "y")
    lines = ["def make(be, a, b, y, need_a=True, need_b=True):"]
    for need in ((True, True), (True, False), (False, True)):
        kernels = [n and f[0] == "kernel" for n, f in zip(need, forms_ab)]
        call = (f"be.rule_binary_backward({name!r}, {sa}, {sb}, y, g, {kernels[0]}, "
                f"{kernels[1]})")
        if all(kernels):
            body = _lambda([call], True)
        else:
            parts = []
            for k, (n, form) in enumerate(zip(need, forms_ab)):
                if not n:
                    parts.append("None")
                elif kernels[k]:
                    parts.append(f"{call}[{k}]")
                else:
                    parts.append(_gradient(form[1], ("a", "b", "y")))
            body = _lambda(parts, False)
        condition = {(True, True): "need_a and need_b", (True, False): "need_a",
                     (False, True): "need_b"}[need]
        lines.append(f"    if {condition}:")
        lines.append(f"        return {body}")
    lines.append("    return lambda g: (None, None)")
    return _compile(key, "\n".join(lines) + "\n")
