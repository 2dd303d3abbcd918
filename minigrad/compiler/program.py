"""A traced call as a program: one generated Python function, a flat list of kernel calls.

``generate(rec, n_args, result)`` turns the recorder's operations into straight-line source:

    def program(a0, a1):              # the call's tensor arguments, in order
        s0 = k0.data                  # hoisted loads of the state it reads (a parameter) ...
        if type(s0) is not k1 or s0.shape != k2 or s0.dtype != k3 ...: return MISS   # ... guarded
        s1 = a0.data
        s2 = k4(s1, s0)               # a backend kernel (matmul), a runner, an optimizer step
        del s1                        # each buffer dropped after its last use
        ...
        k9.grad = s40                 # what backward and clipping leave in .grad
        k10(k11)                      # Optimizer.step: its own Python state, its own kernels
        return _T(s7)

Slots are local variables, so a buffer lives exactly from the call that makes it to its last use
(the buffer plan: eager's lifetimes or shorter, never longer, as no tape holds anything). The
constants (kernels, dtypes, shapes, Python numbers, the tensors it reads and writes) are globals
of the generated module. A guard that fails returns ``MISS`` before anything ran, and the caller
traces again.
"""

from __future__ import annotations

import itertools
import linecache

import numpy as np

from .record import Const, Slot

MISS = object()
_counter = itertools.count()


class Program:
    """The generated function, its source and its size."""

    def __init__(self, function, source: str, n_calls: int, n_slots: int):
        self.function, self.source = function, source
        self.n_calls, self.n_slots = n_calls, n_slots


class Parameters(list):
    """The parameters p<k> of a generated kernel's host function, as the program passes them (a
    Slot or a Const each): ``name(operand)`` gives an operand's parameter, adding it if new (an
    array passed twice is one parameter)."""

    def name(self, operand) -> str:
        if type(operand) is Slot:
            for k, known in enumerate(self):
                if type(known) is Slot and known.i == operand.i:
                    return f"p{k}"
        self.append(operand)
        return f"p{len(self) - 1}"


def slots_in(template, out: set) -> set:
    """The slot numbers a template names, added to out."""
    kind = type(template)
    if kind is Slot:
        out.add(template.i)
    elif kind is tuple or kind is list:
        for t in template:
            slots_in(t, out)
    elif kind is dict:
        for t in template.values():
            slots_in(t, out)
    return out


def generate(rec, n_args: int, result, name: str, inputs=(), binds=(), ops=None) -> Program:
    """The program of `rec`'s operations returning `result` (a template: ("tensor", Slot) for a
    Tensor, ("array", Slot) for a raw array, Const, or tuples/lists/dicts of them). `inputs`
    names more parameters after the tensor arguments; `binds` are (Slot, expression) pairs
    assigned first (a backward's upstream gradients and residuals); `ops` replaces rec.ops (the
    fused operations)."""
    namespace = {"MISS": MISS, "_as0d": np.asarray}
    names: dict[int, str] = {}

    def const(value):
        if value is None or value is True or value is False:
            return repr(value)
        key = id(value)
        if key not in names:
            names[key] = f"k{len(names)}"
            namespace[names[key]] = value
        return names[key]

    def holder(h):
        return f"a{h[1]}" if h[0] == "arg" else const(rec.held[h[1]])

    def expr(t):
        kind = type(t)
        if kind is Slot:
            return f"s{t.i}"
        if kind is Const:
            return const(t.value)
        if kind is tuple:
            items = [expr(x) for x in t]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if kind is list:
            return "[" + ", ".join(expr(x) for x in t) + "]"
        if kind is dict:
            return "{" + ", ".join(f"{const(k)}: {expr(v)}" for k, v in t.items()) + "}"
        raise TypeError(f"mg.compile: no expression for {t!r}")

    def unpack(t, at, lines):
        kind = type(t)
        if kind is Slot:
            lines.append(f"    s{t.i} = _as0d({at})" if t.scalar else f"    s{t.i} = {at}")
        elif kind is tuple or kind is list:
            for j, x in enumerate(t):
                unpack(x, f"{at}[{j}]", lines)
        elif kind is dict:
            for k, x in t.items():
                unpack(x, f"{at}[{const(k)}]", lines)

    def out_expr(t):
        if type(t) is tuple and t and t[0] == "tensor":
            return f"_T(s{t[1].i})"
        if type(t) is tuple and t and t[0] == "array":
            return f"s{t[1].i}"
        if type(t) is Const:
            return const(t.value)
        if type(t) in (tuple, list):
            items = [out_expr(x) for x in t]
            if type(t) is list:
                return "[" + ", ".join(items) + "]"
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if type(t) is dict:
            return "{" + ", ".join(f"{const(k)}: {out_expr(v)}" for k, v in t.items()) + "}"
        raise TypeError(f"mg.compile: no output expression for {t!r}")

    from ..tensor import Tensor

    namespace["_T"] = Tensor._wrap
    prologue, body = [f"    s{slot.i} = {source}" for slot, source in binds], []
    body_uses, body_defs = [], []
    kept = result_slots(result, set())
    n_calls = 0
    for op in rec.ops if ops is None else ops:
        kind = op[0]
        if kind == "load":
            _, h, attr, slot, (array_type, shape, dtype, requires_grad) = op
            s, src = f"s{slot.i}", holder(h)
            prologue.append(f"    {s} = {src}.{attr}")
            check = (f"type({s}) is not {const(array_type)} or {s}.shape != {const(shape)} or "
                     f"{s}.dtype != {const(dtype)}")
            if h[0] == "obj" and attr == "data":
                check += f" or {src}.requires_grad is not {requires_grad!r}"
            prologue.append(f"    if {check}:\n        return MISS")
            continue
        if kind == "guard_none":
            _, h, attr = op
            prologue.append(f"    if {holder(h)}.{attr} is not None:\n        return MISS")
            continue
        lines = []
        uses, defs = set(), set()
        if kind == "call":
            fn, args_t, kwargs_t, out_t = op[1:5]
            arguments = [expr(a) for a in args_t]
            arguments += [f"{k}={expr(v)}" for k, v in kwargs_t.items()]
            call = f"{const(fn)}({', '.join(arguments)})"
            slots_in(args_t, uses)
            slots_in(kwargs_t, uses)
            slots_in(out_t, defs)
            if type(out_t) is Slot:
                lines.append(f"    s{out_t.i} = _as0d({call})" if out_t.scalar
                             else f"    s{out_t.i} = {call}")
            elif defs:
                lines.append(f"    _r = {call}")
                unpack(out_t, "_r", lines)
            else:
                lines.append(f"    {call}")
            if len(op) > 5 and op[5]:
                lines[0] += f"  # {op[5]}"  # the backend function (or "fused")
            n_calls += 1
        elif kind == "opaque":
            _, fn, args_t = op
            slots_in(args_t, uses)
            lines.append(f"    {const(fn)}({', '.join(expr(a) for a in args_t)})"
                         f"  # {getattr(fn, '__qualname__', type(fn).__name__)}")
            n_calls += 1
        elif kind == "set":
            _, h, attr, value_t = op
            slots_in(value_t, uses)
            lines.append(f"    {holder(h)}.{attr} = {expr(value_t)}")
        body.append(lines)
        body_uses.append(uses)
        body_defs.append(defs)

    last: dict[int, int] = {}
    for j, (uses, defs) in enumerate(zip(body_uses, body_defs)):
        for i in uses | defs:
            last[i] = j
    dead_after: dict[int, list] = {}
    for i, j in last.items():
        if i not in kept:
            dead_after.setdefault(j, []).append(i)
    parameters = [f"a{i}" for i in range(n_args)] + list(inputs)
    lines = [f"def program({', '.join(parameters)}):", *prologue]
    for j, block in enumerate(body):
        lines.extend(block)
        if j in dead_after:
            lines.append("    del " + ", ".join(f"s{i}" for i in sorted(dead_after[j])))
    lines.append(f"    return {out_expr(result)}")
    source = "\n".join(lines) + "\n"
    filename = f"<mg.compile {name} #{next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated source
    return Program(namespace["program"], source, n_calls, rec.n_slots)


def result_slots(t, out: set) -> set:
    """The slots a result template returns, added to out."""
    if type(t) is tuple and t and t[0] in ("tensor", "array"):
        out.add(t[1].i)
    elif type(t) in (tuple, list):
        for x in t:
            result_slots(x, out)
    elif type(t) is dict:
        for x in t.values():
            result_slots(x, out)
    return out


def slots_read(op) -> set:
    """The slots an operation reads (a call's arguments, an opaque call's, a set's value)."""
    used = set()
    if op[0] == "call":
        slots_in(op[2], used)
        slots_in(op[3], used)
    elif op[0] == "opaque":
        slots_in(op[2], used)
    elif op[0] == "set":
        slots_in(op[3], used)
    return used


def free_slots(ops, result) -> set:
    """The slots ops and result use that no op of theirs defines (what a backward program
    needs from its forward: the residuals)."""
    used, defined = set(), set()
    for op in ops:
        used |= slots_read(op)
        if op[0] == "call":
            slots_in(op[4], defined)
        elif op[0] == "load":
            defined.add(op[3].i)
    return (used | result_slots(result, set())) - defined
