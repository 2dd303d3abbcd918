"""Fusion of a program's elementwise chains into generated Numba kernels.

A run of consecutive recorded CPU calls of elementwise functions (add, sub, mul, div, neg, exp,
tanh, sigmoid and the backward of a scalar rule, ``rule_unary_backward``, as tanh's and sigmoid's
VJPs call it), all of one float dtype and one
1-d or 2-d shape (0-d operands broadcast as scalars), becomes one call of a kernel generated for
that run: one flat loop over the elements (a strided operand, such as a gate slice of an LSTM's
split, is first copied to a contiguous array so the loop vectorises), each intermediate a
register, and only the values used after the run (by a later call, a ``.grad`` set, the result,
or the backward program) written to new arrays.
The scalar expressions are the backend kernels' own (``cpu_kernels.tanh_f32``, ``sigmoid_f32``,
``sigmoid_f64``; libm's tanh in float64; a rule's derivative is its compiled scalar rule,
``<name>_d``), so a fused run equals the unfused one to float rounding.
Kernels are cached on disk by their source (compiler/cache.py), which encodes only the run's
structure: the 100 steps of an unrolled LSTM share one forward and a few backward kernels.
CUDA calls form runs the same way; ``whole_cuda.py`` says which may join one and writes their
numba.cuda kernel (the hooks: ``_fusable`` for a "cuda." call, ``_emit`` for a run keyed "cuda").
"""

from __future__ import annotations

import hashlib
import inspect

import numpy as np

from ..backends import scalar_rules
from . import whole_cuda
from .batch import PURE
from .cache import load
from .program import slots_read
from .record import Const, Slot

# backend name -> (arity, expression of the operands {0}, {1}; per dtype where they differ)
RULES = {
    "cpu.add": (2, "{0} + {1}"),
    "cpu.sub": (2, "{0} - {1}"),
    "cpu.mul": (2, "{0} * {1}"),
    "cpu.div": (2, "{0} / {1}"),
    "cpu.neg": (1, "-{0}"),
    "cpu.exp": (1, "np.exp({0})"),
    "cpu.tanh": (1, {"float32": "tanh_f32({0})", "float64": "np.tanh({0})"}),
    "cpu.sigmoid": (1, {"float32": "sigmoid_f32({0})", "float64": "sigmoid_f64({0})"}),
}
RULE_BACKWARD = ".rule_unary_backward"  # (name, x, y, g): g * the rule's <name>_d(x, y)
HEADER = (
    "import numpy as np\n"
    "from numba import njit\n"
    "from minigrad.backends.cpu_kernels import sigmoid_f32, sigmoid_f64, tanh_f32\n"
    "from minigrad.backends.scalar_rules import compiled\n"
)
JIT = "\n\n@njit(cache=True, error_model='numpy', fastmath={'contract'}, boundscheck=False)\n"


def _rule_of(op):
    """The scalar rule a recorded rule_unary_backward call differentiates (no parameters), else
    None."""
    args = op[2]
    if not op[5].endswith(RULE_BACKWARD) or len(args) != 4 or type(args[0]) is not Const:
        return None
    rule = scalar_rules.RULES.get(args[0].value)
    return rule if rule is not None and rule.arity == 1 and not rule.params else None


def _operands(op):
    """The array operands of a fusable call (a rule backward's name is not one)."""
    return op[2][1:] if op[5].endswith(RULE_BACKWARD) else op[2]


def _expression(op, dtype):
    """The scalar expression of a fusable call over its operands {0}, {1}, ..."""
    rule = _rule_of(op)
    if rule is not None:
        return "{2} * " + rule.name + "_d({0}, {1})"
    _, expression = RULES[op[5]]
    return expression[dtype.name] if isinstance(expression, dict) else expression


def _fusable(op, values):
    """(shape, dtype) of an op that may join a run, else None."""
    if op[0] != "call" or len(op) < 6 or op[3] or not isinstance(op[5], str):
        return None
    if op[5].startswith("cuda."):  # the CUDA target: whole_cuda.py
        return whole_cuda.fusable(op[5], _operands(op), op[4], values, _rule_of(op))
    if op[5] in RULES:
        arity = RULES[op[5]][0]
    elif _rule_of(op) is not None:
        arity = 3
    else:
        return None
    args, out = _operands(op), op[4]
    if type(out) is not Slot or out.scalar or len(args) != arity or \
            any(type(a) is not Slot for a in args):
        return None
    result = values[out.i]
    if type(result) is not np.ndarray or result.ndim not in (1, 2) or \
            result.dtype not in (np.float32, np.float64):
        return None
    for a in args:
        v = values[a.i]
        if type(v) is not np.ndarray or v.dtype != result.dtype or \
                (v.shape != result.shape and v.ndim != 0 and not _row(v, result)):
            return None
    return result.shape, result.dtype


def _row(v, result) -> bool:
    """v broadcasts along the rows of a 2-d result (a bias (N,) added to a batch (B, N))."""
    return result.ndim == 2 and v.ndim == 1 and v.shape[0] == result.shape[1]


def _hoistable(op, defined) -> bool:
    """A call that may move before a pending run: it writes nothing and reads nothing the run
    makes (a GEMM of the recurrence between a bias add and the next add; a load, which the
    program hoists to its start anyway)."""
    if op[0] in ("load", "guard_none"):
        return True
    return op[0] == "call" and len(op) > 5 and op[5] in PURE and \
        not slots_read(op) & defined


def fuse(ops, values, keep: set):
    """ops with each run of two or more fusable calls replaced by one call of its kernel.
    keep: slots needed beyond ops (the result, the backward's residuals)."""
    users: dict[int, int] = {}  # slot -> index of its last use
    for j, op in enumerate(ops):
        for i in slots_read(op):
            users[i] = j
    out, run, key = [], [], None
    for j, op in enumerate(ops + [("end",)]):
        found = _fusable(op, values) if op[0] != "end" else None
        if found is not None and (not run or found == key):
            run.append(j)
            key = found
            continue
        if run and found is None and _hoistable(op, {ops[r][4].i for r in run}):
            out.append(op)  # runs before the run's kernel, which is emitted later
            continue
        out.extend(_emit(ops, run, values, users, keep, key))
        run, key = ([j], found) if found is not None else ([], None)
        if found is None and op[0] != "end":
            out.append(op)
    return out


def _emit(ops, run, values, users, keep, key):
    if len(run) < 2:
        return [ops[j] for j in run]
    last = run[-1]
    defined = {ops[j][4].i for j in run}
    inputs: list[int] = []
    for j in run:
        for a in _operands(ops[j]):
            if a.i not in defined and a.i not in inputs:
                inputs.append(a.i)
    outputs = [ops[j][4].i for j in run
               if ops[j][4].i in keep or users.get(ops[j][4].i, -1) > last]
    if not outputs:
        return [ops[j] for j in run]
    if key[-1] == "cuda":
        kernel = whole_cuda.kernel([(ops[j][5], _operands(ops[j]), ops[j][4].i, _rule_of(ops[j]))
                                    for j in run], values, inputs, outputs)
        return [("call", kernel, tuple(Slot(i) for i in inputs), {},
                 tuple(Slot(i) for i in outputs), "fused")]
    dtype = values[ops[run[0]][4].i].dtype
    ndim = values[ops[run[0]][4].i].ndim
    like = next(k for k, i in enumerate(inputs) if values[i].ndim == ndim)
    result = values[ops[run[0]][4].i]
    rows = {i for i in inputs if _row(values[i], result)}  # read at the column index
    names = {i: (f"x{k}" if values[i].ndim else f"c{k}") for k, i in enumerate(inputs)}
    lines = [f"def fused({', '.join(f'i{k}' for k in range(len(inputs)))}):"]
    # every operand as a flat C-contiguous view (a strided slice is copied once): the loop
    # below then vectorises as the backend's own flat kernels do
    lines += [f"    f{k} = np.ascontiguousarray(i{k}).reshape(-1)" for k, i in enumerate(inputs)
              if values[i].ndim and i not in rows]
    lines += [f"    c{k} = i{k}[()]" for k, i in enumerate(inputs) if not values[i].ndim]
    lines += [f"    o{m} = np.empty_like(f{like})" for m in range(len(outputs))]
    lines.append(f"    one = f{like}.dtype.type(1.0)")
    if rows:  # a loop over rows and columns: q the flat index, c the bias's
        lines.append(f"    n = i{like}.shape[1]")
        lines.append(f"    for r in range(i{like}.shape[0]):")
        lines.append("        for c in range(n):")
        lines.append("            q = r * n + c")
        indent = "            "
    else:
        lines.append(f"    for q in range(f{like}.size):")
        indent = "        "
    lines += [f"{indent}x{k} = i{k}[c]" if i in rows else f"{indent}x{k} = f{k}[q]"
              for k, i in enumerate(inputs) if values[i].ndim]
    for n, j in enumerate(run):
        expression = _expression(ops[j], dtype)
        slot = ops[j][4].i
        lines.append(f"{indent}t{n} = " + expression.format(*(names[a.i] for a in
                                                              _operands(ops[j]))))
        names[slot] = f"t{n}"
        if slot in outputs:
            lines.append(f"{indent}o{outputs.index(slot)}[q] = t{n}")
    shape = f"i{like}.shape"
    lines.append(f"    return ({''.join(f'o{m}.reshape({shape}), ' for m in range(len(outputs)))})")
    kernel = load(_header(ops, run, dtype) + "\n".join(lines) + "\n", "fused").fused
    return [("call", kernel, tuple(Slot(i) for i in inputs), {},
             tuple(Slot(i) for i in outputs), "fused")]


def _header(ops, run, dtype):
    """The kernel module's imports, and each rule derivative the run calls bound as a global
    (Numba resolves globals, not attributes), with a hash of the rule's source so an edited rule
    gives a new file and no stale Numba cache."""
    rules = sorted({rule.name for rule in map(_rule_of, (ops[j] for j in run)) if rule})
    lines = [HEADER]
    if rules:
        lines.append(f"_lib = compiled('cpu', np.{dtype.name})\n")
    for name in rules:
        digest = hashlib.sha256(inspect.getsource(scalar_rules.RULES[name].factory).encode())
        lines.append(f"{name}_d = _lib.{name}_d  # rule {digest.hexdigest()[:12]}\n")
    return "".join(lines) + JIT
