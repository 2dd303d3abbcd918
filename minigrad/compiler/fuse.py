"""Fusion of a program's elementwise chains into generated Numba kernels.

A run of consecutive recorded CPU calls of elementwise functions (add, sub, mul, div, neg, exp,
tanh, sigmoid and the backward of a scalar rule, ``rule_unary_backward``, as tanh's and sigmoid's
VJPs call it), all of one float dtype and one
1-d or 2-d shape (0-d operands broadcast as scalars), becomes one call of a kernel generated for
that run: one flat loop over the elements (a strided operand is first copied to a contiguous
array so the loop vectorises), each intermediate a register, and only the values used after the
run (by a later call, a ``.grad`` set, the result, or the backward program) written out.
Across split and concat (2-d runs): an operand that is a column slice a ``split`` made (an
LSTM's gate) is read in place from the split's base array, and a ``concat`` along the last axis
of outputs of the run that nothing else reads (the gate gradients, the split's VJP) is written by
the run's kernel into the concat's result; such a run loops over rows, then over the columns of
each row's 1-d slices (``_rowwise``).
The scalar expressions are the backend kernels' own (``cpu_kernels.tanh_f32``, ``sigmoid_f32``,
``sigmoid_f64``; libm's tanh in float64; a rule's derivative is its compiled scalar rule,
``<name>_d``), so a fused run equals the unfused one to float rounding.
Kernels are cached on disk by their source (compiler/cache.py), which encodes only the run's
structure: the 100 steps of an unrolled LSTM share one forward and a few backward kernels.
CUDA calls form runs the same way; ``whole_cuda.py`` says which may join one and writes their
numba.cuda kernel (the hooks: ``_fusable`` for a "cuda." call, ``_emit`` for a run keyed "cuda").
"""

from __future__ import annotations

import functools
import hashlib
import inspect

import numpy as np

from ..backends import scalar_rules
from . import fuse_rows, whole_cuda
from .batch import PURE, constants, drop_unread
from .cache import load
from .fuse_across import Across
from .program import Parameters, slots_read
from .record import Const, Slot

# backend name -> (arity, expression of the operands {0}, {1}; per dtype where they differ)
RULES = {
    "cpu.add": (2, "{0} + {1}"),
    "cpu.sub": (2, "{0} - {1}"),
    "cpu.mul": (2, "{0} * {1}"),
    "cpu.div": (2, "{0} / {1}"),
    "cpu.neg": (1, "-{0}"),
    "cpu.exp": (1, "np.exp({0})"),
    "cpu.log": (1, "np.log({0})"),
    "cpu.power": (2, "{0} ** {1}"),
    "cpu.tanh": (1, {"float32": "tanh_f32({0})", "float64": "np.tanh({0})"}),
    "cpu.sigmoid": (1, {"float32": "sigmoid_f32({0})", "float64": "sigmoid_f64({0})"}),
}
RULE_BACKWARD = ".rule_unary_backward"  # (name, x, y, g): g * the rule's <name>_d(x, y)
# (name, a, b, y, g, need_a, need_b): g * <name>_da(a, b, y) or g * <name>_db(a, b, y); one of
# the two is fused (_single), as a call of its own output slot
BINARY_BACKWARD = "cpu.rule_binary_backward"
# fusion across split and concat (read a split's columns in place, write a concat's columns);
# False traces without it (bench.profile_compiled --ab-across measures the difference)
ACROSS = True
# row reductions and row values in a run (fuse_rows.py); False traces without them
ROWS = True
HEADER = (
    "import numpy as np\n"
    "from numba import njit\n"
    "from minigrad.backends.cpu_kernels import sigmoid_f32, sigmoid_f64, tanh_f32\n"
    "from minigrad.backends.scalar_rules import compiled\n"
)
JIT = "\n\n@njit(cache=True, error_model='numpy', fastmath={'contract'}, boundscheck=False)\n"


def _rule_of(op):
    """The scalar rule a recorded rule_unary_backward call (or a single rule_binary_backward,
    _single) differentiates (no parameters), else None."""
    args = op[2]
    if len(op) > 6 and op[5] == BINARY_BACKWARD:
        rule = scalar_rules.RULES.get(args[0].value)
        return rule if rule is not None and rule.arity == 2 and not rule.params else None
    if not op[5].endswith(RULE_BACKWARD) or len(args) != 4 or type(args[0]) is not Const:
        return None
    rule = scalar_rules.RULES.get(args[0].value)
    return rule if rule is not None and rule.arity == 1 and not rule.params else None


def _derivative(op) -> str:
    """The compiled rule function a rule backward calls: <name>_d, <name>_da or <name>_db."""
    if op[5] == BINARY_BACKWARD:
        return _rule_of(op).name + ("_da" if op[6] == 0 else "_db")
    return _rule_of(op).name + "_d"


def _single(op):
    """A rule_binary_backward call that needs one of its two gradients (no parameters) as a call
    with that gradient's slot as its output (the original kept as op[7], the gradient's index as
    op[6]); other operations as they are."""
    if op[0] != "call" or len(op) != 6 or op[5] != BINARY_BACKWARD or op[3] or \
            len(op[2]) != 7 or type(op[2][0]) is not Const or type(op[4]) is not tuple:
        return op
    need = constants(op[2][5:])
    out = [t for t in op[4] if type(t) is Slot]
    if need not in ((True, False), (False, True)) or len(out) != 1:
        return op
    return ("call", op[1], op[2][:5], {}, out[0], op[5], need.index(True), op)


def _operands(op):
    """The array operands of a fusable call (a rule backward's name is not one)."""
    if op[5].endswith(RULE_BACKWARD) or op[5] == BINARY_BACKWARD:
        return op[2][1:]
    if op[5] in fuse_rows.REDUCTIONS or op[5] == "cpu.broadcast_to":  # then a shape or axis
        return op[2][:1]
    return op[2]


def _expression(op, dtype):
    """The scalar expression of a fusable call over its operands {0}, {1}, ..."""
    rule = _rule_of(op)
    if rule is not None:
        if op[5] == BINARY_BACKWARD:
            return "{3} * " + _derivative(op) + "({0}, {1}, {2})"
        return "{2} * " + rule.name + "_d({0}, {1})"
    _, expression = RULES[op[5]]
    return expression[dtype.name] if isinstance(expression, dict) else expression


def _fusable(op, values):
    """(shape, dtype) of an op that may join a run, else None."""
    if op[0] != "call" or len(op) < 6 or not isinstance(op[5], str):
        return None
    if op[5].startswith("cuda."):  # the CUDA target: whole_cuda.py
        return None if op[3] else \
            whole_cuda.fusable(op[5], _operands(op), op[4], values, _rule_of(op))
    if op[5] in fuse_rows.REDUCTIONS:  # keyword arguments: a reduction's axis and keepdims
        return fuse_rows.reduction(op, values) if ROWS else None
    if op[5] == "cpu.broadcast_to":
        return fuse_rows.broadcast(op, values) if ROWS else None
    if op[3] or not ROWS and op[5] == BINARY_BACKWARD:
        return None
    if op[5] in RULES:
        arity = RULES[op[5]][0]
    elif _rule_of(op) is not None:
        arity = 4 if op[5] == BINARY_BACKWARD else 3
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
    if result.ndim == 2:  # one value per row ((B, 1)) joins a 2-d run of any width
        key = fuse_rows.elementwise(result, args, values)
        if ROWS or key is None:
            return key
        if any(values[a.i].ndim == 2 and values[a.i].shape != result.shape for a in args):
            return None
        return key[:2] + (result.shape[1],) + key[3:]
    for a in args:
        v = values[a.i]
        if type(v) is not np.ndarray or v.dtype != result.dtype or \
                (v.shape != result.shape and v.ndim != 0):
            return None
    return result.shape, result.dtype


def _joined(key, found):
    """The key of a run of key joined by a call of key found, or None when they cannot share a
    kernel: 2-d keys ("2d", B, N, dtype) join when B and the dtype agree and N does or one is a
    row value's (None); other keys when equal."""
    if key is None:
        return found
    if key[0] == "2d" and found[0] == "2d":
        if key[1] != found[1] or key[3] != found[3] or None not in (key[2], found[2]) and \
                key[2] != found[2]:
            return None
        return key if key[2] is not None else found
    return key if key == found else None


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
    keep: slots needed beyond ops (the result, the backward's residuals).

    Two passes: the first only notes which values each run stores, by the body of its kernel
    (the kernel's source with every value stored); the second gives each run the union of what
    the runs of its body store, so they share one kernel (the last step of an unrolled LSTM,
    which need not store its cell state, calls the other steps' kernel instead of a second one:
    one compile less)."""
    stored = _Stored()
    _fuse(ops, values, keep, stored)
    stored.noting = False
    return _fuse(ops, values, keep, stored)


class _Stored:
    """Which of its values (by position in the run) each kernel body stores, over the runs of a
    program: noted in the first pass, read in the second."""

    def __init__(self):
        self.noting, self.positions = True, {}
        self.bodies: dict = {}  # run (indices of its calls) -> its body, made in the first pass

    def outputs(self, body: str, run_slots: list, outputs: list) -> list:
        positions = {run_slots.index(i) for i in outputs}
        if self.noting:
            self.positions.setdefault(body, set()).update(positions)
            return outputs
        return [run_slots[n] for n in sorted(self.positions.get(body, set()) | positions)]


def _fuse(ops, values, keep: set, stored: _Stored):
    ops = [_single(op) for op in ops]
    users: dict[int, int] = {}  # slot -> index of its last use
    readers: dict[int, list] = {}
    for j, op in enumerate(ops):
        for i in slots_read(op):
            users[i] = j
            readers.setdefault(i, []).append(j)
    graph = Across(ops, values, keep, users, readers)
    out, run, key = [], [], None
    for j, op in enumerate(ops + [("end",)]):
        if j in graph.absorbed:  # a concat a kernel already wrote
            continue
        found = _fusable(op, values) if op[0] != "end" else None
        joined = _joined(key, found) if found is not None else None
        if joined is not None:
            run.append(j)
            key = joined
            continue
        if run and found is None and _hoistable(op, {ops[r][4].i for r in run}):
            graph.ready(op)
            out.append(op)  # runs before the run's kernel, which is emitted later
            continue
        for emitted in _emit(graph, run, key, stored):
            graph.ready(emitted)
            out.append(emitted)
        run, key = ([j], found) if found is not None else ([], None)
        if found is None and op[0] != "end" and j not in graph.absorbed:
            graph.ready(op)
            out.append(op)
    out = [op[7] if len(op) == 8 and op[5] == BINARY_BACKWARD else op for op in out]
    return drop_unread(out, keep) if graph.absorbed or graph.columns else out


def _emit(graph, run, key, stored):
    ops, values = graph.ops, graph.values
    if len(run) < 2 and not (run and key[-1] == "cuda" and ACROSS and any(
            whole_cuda.sums_last_axis(ops[j], ops[run[0]][4].i, values)
            for j in graph.readers.get(ops[run[0]][4].i, ()))):  # one call and its row sum
        return [ops[j] for j in run]
    last = run[-1]
    defined = {ops[j][4].i for j in run}
    inputs: list[int] = []
    for j in run:
        for a in _operands(ops[j]):
            if a.i not in defined and a.i not in inputs:
                inputs.append(a.i)
    outputs = [ops[j][4].i for j in run
               if ops[j][4].i in graph.keep or graph.users.get(ops[j][4].i, -1) > last]
    if not outputs:
        return [ops[j] for j in run]
    rows = key[-1] != "cuda" and key[0] == "2d" and \
        fuse_rows.needs_rows(ops, run, values, key[2], _operands)
    result = values[ops[run[0]][4].i]
    if rows:  # a (B, N) stand-in: the run's shape, whatever its first call's
        result = np.broadcast_to(np.empty((), result.dtype), (key[1], key[2]))
        defined = {i for i in defined if values[i].shape == result.shape}
    columns = {i: graph.column(i, result) for i in inputs if values[i].shape == result.shape} \
        if ACROSS else {}
    columns = {i: c for i, c in columns.items() if c is not None}
    dests, before = graph.concat(defined, result, result.dtype) if ACROSS else ({}, [])
    if key[-1] == "cuda":
        kernel, operands, outputs = whole_cuda.kernel(
            [(ops[j][5], _operands(ops[j]), ops[j][4].i, _rule_of(ops[j])) for j in run],
            values, inputs, outputs, columns, dests, graph.row_sums(defined) if ACROSS else {})
        return before + [("call", kernel, tuple(operands), {},
                          tuple(Slot(i) for i in outputs), "fused")]
    rows_parameter = 0  # the parameter of the row count (compiler/row_chain.py), else None
    if rows:
        source, operands, outputs = fuse_rows.emit(
            ops, run, values, inputs, outputs, columns, dests, result.shape,
            lambda op: _expression(op, result.dtype), _operands)
    else:
        by_rows = columns or dests or any(_row(values[i], result) for i in inputs)
        run_slots = [ops[j][4].i for j in run]
        body = stored.bodies.get(tuple(run))
        if body is None:
            body = stored.bodies[tuple(run)] = (
                _rowwise(ops, run, values, inputs, run_slots, columns, dests) if by_rows else
                _flat(ops, run, values, inputs, run_slots))[0]
        outputs = stored.outputs(body, run_slots, outputs)
        if stored.noting:  # the first pass: what the program's calls will be, no kernel yet
            return before + [("call", None, (), {}, tuple(Slot(i) for i in outputs), "fused")]
        if by_rows:
            source, operands, outputs = _rowwise(ops, run, values, inputs, outputs, columns,
                                                 dests)
        else:
            source, operands = _flat(ops, run, values, inputs, outputs)
            rows_parameter = None
    kernel = load(_header(ops, run, result.dtype, rows) + source, "fused").fused
    kernel.rows_parameter = rows_parameter
    return before + [("call", kernel, tuple(operands), {}, tuple(Slot(i) for i in outputs),
                      "fused")]


def _body(ops, run, dtype, names, outputs, indent, store):
    """The loop body's lines: each call's expression as a register t<n>, each output stored
    (store(slot, register) gives its line)."""
    lines = []
    for n, j in enumerate(run):
        slot = ops[j][4].i
        lines.append(f"{indent}t{n} = " + _expression(ops[j], dtype).format(
            *(names[a.i] for a in _operands(ops[j]))))
        names[slot] = f"t{n}"
        if slot in outputs:
            lines.append(indent + store(slot, f"t{n}"))
    return lines


def _flat(ops, run, values, inputs, outputs):
    """A run of one shape with every operand of it: one loop over the flat elements, a strided
    operand copied to a contiguous array once (the loop then vectorises as the backend's own
    flat kernels do)."""
    dtype, ndim = values[ops[run[0]][4].i].dtype, values[ops[run[0]][4].i].ndim
    like = next(k for k, i in enumerate(inputs) if values[i].ndim == ndim)
    names = {i: (f"x{k}" if values[i].ndim else f"c{k}") for k, i in enumerate(inputs)}
    lines = [f"def fused({', '.join(f'i{k}' for k in range(len(inputs)))}):"]
    lines += [f"    f{k} = np.ascontiguousarray(i{k}).reshape(-1)" for k, i in enumerate(inputs)
              if values[i].ndim]
    lines += [f"    c{k} = i{k}[()]" for k, i in enumerate(inputs) if not values[i].ndim]
    lines += [f"    o{m} = np.empty_like(f{like})" for m in range(len(outputs))]
    lines.append(f"    for q in range(f{like}.size):")
    lines += [f"        x{k} = f{k}[q]" for k, i in enumerate(inputs) if values[i].ndim]
    lines += _body(ops, run, dtype, names, outputs, "        ",
                   lambda slot, t: f"o{outputs.index(slot)}[q] = {t}")
    shape = f"i{like}.shape"
    lines.append(f"    return ({''.join(f'o{m}.reshape({shape}), ' for m in range(len(outputs)))})")
    return "\n".join(lines) + "\n", [Slot(i) for i in inputs]


def _rowwise(ops, run, values, inputs, outputs, columns, dests):
    """A 2-d run whose operands include rows (a bias), column slices of a wider array (the
    gates of a split, read in place: its base array and first column) or whose outputs go
    into the columns of a concat's destination: a loop over rows, and in each row a loop over
    its columns, with the row's slice of each wider array taken once (a 1-d contiguous slice:
    the column loop then vectorises, where a 2-d index at a runtime column does not)."""
    result = values[ops[run[0]][4].i]
    dtype = result.dtype
    operands = Parameters()  # the kernel's parameters p<k>, as the program passes them
    param = operands.name

    def row_slice(array, first) -> str:  # row r's columns first.. of a wider array
        base, start = param(Slot(array)), param(Const(first))
        return f"{base}[r, {start}:{start} + {nc}]"

    nr, nc = param(Const(result.shape[0])), param(Const(result.shape[1]))
    head, per_row, load_lines, names = [], [], [], {}
    for k, i in enumerate(inputs):
        names[i] = f"x{k}"
        if i in columns:
            per_row.append(f"b{k} = {row_slice(*columns[i])}")
            load_lines.append(f"x{k} = b{k}[c]")
        elif not values[i].ndim:
            head.append(f"    c{k} = {param(Slot(i))}[()]")
            names[i] = f"c{k}"
        elif _row(values[i], result):
            load_lines.append(f"x{k} = {param(Slot(i))}[c]")
        else:
            head.append(f"    f{k} = np.ascontiguousarray({param(Slot(i))}).reshape(-1)")
            load_lines.append(f"x{k} = f{k}[q]")
    stores, kept = {}, [i for i in outputs if i not in dests]
    for m, i in enumerate(outputs):
        if i in dests:
            per_row.append(f"d{m} = {row_slice(*dests[i])}")
            stores[i] = f"d{m}[c] = {{}}"
        else:
            head.append(f"    o{kept.index(i)} = np.empty({nr} * {nc}, np.{dtype.name})")
            stores[i] = f"o{kept.index(i)}[q] = {{}}"
    lines = [f"def fused({', '.join(f'p{k}' for k in range(len(operands)))}):", *head,
             f"    for r in range({nr}):"]
    lines += ["        " + line for line in per_row]
    lines += [f"        for c in range({nc}):", f"            q = r * {nc} + c"]
    lines += ["            " + line for line in load_lines]
    lines += _body(ops, run, dtype, names, outputs, "            ",
                   lambda slot, t: stores[slot].format(t))
    shape = f"({nr}, {nc})"
    lines.append(f"    return ({''.join(f'o{m}.reshape({shape}), ' for m in range(len(kept)))})")
    return "\n".join(lines) + "\n", operands, kept


@functools.cache
def _digest(name: str) -> str:
    """A hash of a scalar rule's source (read once per process: inspect is slow)."""
    source = inspect.getsource(scalar_rules.RULES[name].factory)
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def _header(ops, run, dtype, rows=False):
    """The kernel module's imports (the row reductions' for a phased kernel), and each rule
    derivative the run calls bound as a global (Numba resolves globals, not attributes), with a
    hash of the rule's source so an edited rule gives a new file and no stale Numba cache."""
    rules = sorted({(_derivative(ops[j]), _rule_of(ops[j]).name) for j in run
                    if _rule_of(ops[j])})
    lines = [HEADER + (fuse_rows.HEADER if rows else "")]
    if rules:
        lines.append(f"_lib = compiled('cpu', np.{dtype.name})\n")
    for function, name in rules:
        lines.append(f"{function} = _lib.{function}  # rule {_digest(name)}\n")
    return "".join(lines) + JIT
