"""Row reductions inside a fused run (compiler/fuse.py): a user's softmax, layer norm or
log-sum-exp, and their backward chains, as one generated kernel.

A 2-d run may hold, besides the elementwise calls of one (B, N) shape:

- **row reductions** over the last axis with ``keepdims=True``: ``sum`` and ``amax`` of a (B, N)
  array, and ``sum_to`` of one to (B, 1) (a broadcast operand's gradient, summed back);
- **row values** of shape (B, 1): the reductions' results and the elementwise calls on them
  (``var + eps``, ``(.) ** -0.5``, ``log(s) + m``), and operands (B, 1) of a (B, N) call, which
  broadcast along the columns as numpy broadcasts them;
- ``broadcast_to`` of a (B, 1) value to (B, N) (the VJP of a row reduction).

The kernel loops over the rows; each row runs in phases. A phase is one loop over the row's
columns computing the (B, N) calls whose operands are ready; between two phases, the row values
whose reductions the previous phase completed are computed as scalars (registers). A (B, N)
value read by a later phase or reduced is kept in a row buffer: its output's row when the run
writes it out anyway, else one scratch row allocated per call. A user's softmax
``e = exp(x - max(x)); e / sum(e)`` is one kernel of two phases: the max of x's row (before
any loop: x is an input), then exp(x - m) into e's row, its sum, then e / s.

Reductions run in numpy's order (compiler/row_kernels.py: its pairwise sum), so a fused row sum
of a contiguous row equals eager's bit for bit; the elementwise expressions are fuse.py's.
Reductions with ``keepdims=False``, over another axis, or over all axes end the run (the backend
call stays).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from .batch import constants
from .record import Const, Slot

FLOATS = (np.float32, np.float64)
# backend name -> the reduction's call over a row buffer {0} (z: the kernel's row_sum stack)
REDUCTIONS = {"cpu.sum": "row_sum({0}, z)", "cpu.amax": "row_max({0})",
              "cpu.sum_to": "row_sum({0}, z)"}
LAST = ((1,), (-1,), 1, -1)

def _header() -> str:
    """The phased kernels' import of the reductions, with a hash of their source: Numba's cache
    of a kernel does not see an edit of a function it calls, a new file name does."""
    with open(os.path.join(os.path.dirname(__file__), "row_kernels.py"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    return f"from minigrad.compiler.row_kernels import new_stack, row_max, row_sum  # {digest}\n"


HEADER = _header()


def _array(v, dtype=None) -> bool:
    return type(v) is np.ndarray and v.dtype in FLOATS and (dtype is None or v.dtype == dtype)


def reduction(op, values):
    """The key ("2d", B, N, dtype) of a row reduction over the last axis of a (B, N) array that
    keeps its dims (N >= 2), else None."""
    name, args = op[5], op[2]
    if name not in REDUCTIONS or type(op[4]) is not Slot or op[4].scalar or not args or \
            type(args[0]) is not Slot:
        return None
    a, out = values[args[0].i], values[op[4].i]
    if not _array(a) or a.ndim != 2 or a.shape[1] < 2 or not _array(out, a.dtype) or \
            out.shape != (a.shape[0], 1):
        return None
    if name == "cpu.sum_to":
        if len(args) != 2 or op[3] or constants(args[1]) != (a.shape[0], 1):
            return None
    else:
        kwargs = {k: constants(v) for k, v in op[3].items()}
        if len(args) != 1 or set(kwargs) != {"axis", "keepdims"} or \
                kwargs["keepdims"] is not True or kwargs["axis"] not in LAST:
            return None
    return ("2d", a.shape[0], a.shape[1], a.dtype)


def broadcast(op, values):
    """The key of ``broadcast_to`` of a (B, 1) array to (B, N), N >= 2, else None."""
    args = op[2]
    if op[5] != "cpu.broadcast_to" or op[3] or len(args) != 2 or type(args[0]) is not Slot or \
            type(op[4]) is not Slot:
        return None
    a, shape = values[args[0].i], constants(args[1])
    if not _array(a) or a.ndim != 2 or a.shape[1] != 1 or type(shape) is not tuple or \
            len(shape) != 2 or shape[0] != a.shape[0] or type(shape[1]) is not int or \
            shape[1] < 2:
        return None
    return ("2d", a.shape[0], shape[1], a.dtype)


def kind(v, result_shape) -> str | None:
    """How an operand of an elementwise call with a 2-d result of result_shape is read:
    "full" (the result's shape), "row" ((B, 1) of a (B, N) result: one value per row),
    "scalar" (0-d or (1, 1)), "vec" ((N,): one value per column), else None."""
    if type(v) is not np.ndarray:
        return None
    if result_shape[1] == 1:  # a row value's operands: its own shape or 0-d
        return "row" if v.shape == result_shape else "scalar" if v.ndim == 0 else None
    if v.shape == result_shape:
        return "full"
    if v.ndim == 0 or v.shape == (1, 1):
        return "scalar"
    if v.shape == (result_shape[0], 1):
        return "row"
    if v.shape == (result_shape[1],):
        return "vec"
    return None


def elementwise(result, operands, values):
    """The key of an elementwise call with a 2-d result whose operands broadcast by rows or
    columns (some (B, 1) operand of a (B, N) result), else None; N is None for a (B, 1) result
    (a row value: it joins a run of any N)."""
    if not _array(result) or result.ndim != 2:
        return None
    for a in operands:
        v = values[a.i]
        if not _array(v, result.dtype) or kind(v, result.shape) is None:
            return None
    n = result.shape[1] if result.shape[1] != 1 else None
    return ("2d", result.shape[0], n, result.dtype)


def needs_rows(ops, run, values, n, operands_of) -> bool:
    """Whether a 2-d run of width n needs the phased kernel: a reduction, a broadcast, a row
    value or a (B, 1) operand of a (B, N) call."""
    if n is None:
        return False
    for j in run:
        op = ops[j]
        if op[5] in REDUCTIONS or op[5] == "cpu.broadcast_to":
            return True
        shape = values[op[4].i].shape
        if shape[1] != n or any(values[a.i].ndim == 2 and values[a.i].shape != shape
                                for a in operands_of(op)):
            return True
    return False


class _Kernel:
    """The source of one phased kernel, built up as parameters, per-call lines, per-row lines,
    boundary lines and phase loops."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.operands: list = []  # the kernel's parameters p<k>, as the program passes them
        self.head: list[str] = []

    def param(self, operand) -> str:
        if type(operand) is Slot:  # an array passed twice is one parameter
            for k, known in enumerate(self.operands):
                if type(known) is Slot and known.i == operand.i:
                    return f"p{k}"
        self.operands.append(operand)
        return f"p{len(self.operands) - 1}"


def emit(ops, run, values, inputs, outputs, columns, dests, shape, expression, operands_of):
    """(source, operands, outputs kept) of the phased kernel of a row run of shape (B, N)
    (docstring above). expression(op) is an elementwise call's scalar expression over {0}, ..;
    operands_of(op) its array operands; columns: input slot -> (base slot, first column) of a
    split's slice read in place; dests: output slot -> (concat slot, first column)."""
    B, N = shape
    dtype = values[ops[run[0]][4].i].dtype
    k = _Kernel(dtype)
    nr, nc = k.param(Const(B)), k.param(Const(N))
    full: dict[int, bool] = {}  # slot -> True for (B, N) values, False for row values
    phase: dict[int, int] = {}  # full slot -> the phase computing it; row slot -> its boundary
    names: dict[int, str] = {}  # slot -> the register or expression naming it in a row
    rowbuf: dict[int, str] = {}  # full slot -> the 1-d row array holding it
    per_row, loads = [], {}  # loads: full input slot -> the expression of its column c
    for n, i in enumerate(inputs):
        v = values[i]
        if v.shape == (B, N) and N != 1:
            full[i], phase[i] = True, 0
            if i in columns:
                base, first = columns[i]
                per_row.append(f"b{n} = {k.param(Slot(base))}[r, {k.param(Const(first))}:"
                               f"{k.param(Const(first))} + {nc}]")
            else:
                k.head.append(f"    f{n} = np.ascontiguousarray({k.param(Slot(i))}).reshape(-1)")
                per_row.append(f"b{n} = f{n}[r * {nc}:r * {nc} + {nc}]")
            rowbuf[i], loads[i] = f"b{n}", f"b{n}[c]"
            names[i] = f"x{n}"
        elif v.ndim == 1 and v.shape == (N,):  # a bias along the columns
            full[i], phase[i], names[i] = True, 0, f"x{n}"
            loads[i] = f"{k.param(Slot(i))}[c]"
        elif v.ndim == 0 or v.shape == (1, 1):
            k.head.append(f"    x{n} = np.ascontiguousarray({k.param(Slot(i))}).reshape(-1)[0]")
            full[i], phase[i], names[i] = False, 0, f"x{n}"
        else:  # (B, 1)
            k.head.append(f"    h{n} = np.ascontiguousarray({k.param(Slot(i))}).reshape(-1)")
            per_row.append(f"x{n} = h{n}[r]")
            full[i], phase[i], names[i] = False, 0, f"x{n}"
    # phases (full values) and boundaries (row values): a reduction of an input is ready at
    # the row's start, one of a value phase p computes after phase p's loop
    reduced, read_later = set(), set()
    for j in run:
        op, out = ops[j], ops[j][4].i
        args = [a.i for a in operands_of(op)]
        if op[5] in REDUCTIONS:
            full[out] = False
            phase[out] = 0 if args[0] in loads else phase[args[0]] + 1
            if args[0] not in loads:
                reduced.add(args[0])
            continue
        full[out] = op[5] == "cpu.broadcast_to" or values[out].shape == (B, N)
        phase[out] = max([phase[a] for a in args] or [0])
        read_later.update(a for a in args if full[out] and full[a] and a not in loads and
                          phase[a] < phase[out])
    kept = [i for i in outputs if i not in dests]
    stores: dict[int, list] = {}
    for m, i in enumerate(kept):
        if full[i]:
            k.head.append(f"    o{m} = np.empty({nr} * {nc}, np.{dtype.name})")
            per_row.append(f"v{m} = o{m}[r * {nc}:r * {nc} + {nc}]")
            rowbuf[i] = f"v{m}"
            stores.setdefault(i, []).append(f"v{m}[c] = {{}}")
        else:
            k.head.append(f"    o{m} = np.empty({nr}, np.{dtype.name})")
            stores.setdefault(i, []).append(f"o{m}[r] = {{}}")
    for m, i in enumerate(outputs):
        if i in dests:
            base, first = dests[i]
            start = k.param(Const(first))
            per_row.append(f"d{m} = {k.param(Slot(base))}[r, {start}:{start} + {nc}]")
            rowbuf[i] = f"d{m}"
            stores.setdefault(i, []).append(f"d{m}[c] = {{}}")
    order = {ops[j][4].i: n for n, j in enumerate(run)}
    for n, i in enumerate(sorted((reduced | read_later) - set(rowbuf), key=order.get)):
        k.head.append(f"    w{n} = np.empty({nc}, np.{dtype.name})")
        rowbuf[i] = f"w{n}"
        stores.setdefault(i, []).append(f"w{n}[c] = {{}}")
    # the row's code: boundary b's row values, then phase b's loop over the columns
    last = max(phase[ops[j][4].i] for j in run)
    body = [f"    for r in range({nr}):"] + ["        " + line for line in per_row]
    for b in range(last + 1):
        for n, j in enumerate(run):
            op, out = ops[j], ops[j][4].i
            if full[out] or phase[out] != b:
                continue
            if op[5] in REDUCTIONS:
                line = f"t{n} = " + REDUCTIONS[op[5]].format(rowbuf[operands_of(op)[0].i])
            else:
                line = f"t{n} = " + expression(op).format(*(names[a.i] for a in operands_of(op)))
            names[out] = f"t{n}"
            body.append("        " + line)
            body += ["        " + s.format(f"t{n}") for s in stores.get(out, ())]
        loop = []
        here = [(n, j) for n, j in enumerate(run) if full[ops[j][4].i] and
                phase[ops[j][4].i] == b]
        if not here:
            continue
        used = {a.i for _, j in here for a in operands_of(ops[j]) if full[a.i]}
        for i in sorted(used):
            if i in loads:
                loop.append(f"{names[i]} = {loads[i]}")
            elif phase[i] < b:  # its register again, read from its row (names: by position)
                loop.append(f"{names[i]} = {rowbuf[i]}[c]")
        for n, j in here:
            op, out = ops[j], ops[j][4].i
            arguments = [names[a.i] for a in operands_of(op)]
            if op[5] == "cpu.broadcast_to":
                loop.append(f"t{n} = {arguments[0]}")
            else:
                loop.append(f"t{n} = " + expression(op).format(*arguments))
            names[out] = f"t{n}"
            loop += [s.format(f"t{n}") for s in stores.get(out, ())]
        body.append(f"        for c in range({nc}):")
        body += ["            " + line for line in loop]
    returned = "".join(f"o{m}.reshape(({nr}, {nc if full[i] else 1})), "
                       for m, i in enumerate(kept))
    if any("row_sum" in line for line in body):
        k.head.append("    z = new_stack()")
    lines = [f"def fused({', '.join(f'p{n}' for n in range(len(k.operands)))}):", *k.head,
             *body, f"    return ({returned})"]
    return "\n".join(lines) + "\n", k.operands, kept
