"""The operations a row chain (row_chain.py) may hold and the calls its program makes."""

from __future__ import annotations

import numpy as np

from ..backends.cpu_blas import pack_column_tiles, step_tiling
from . import cpu_runtime as rt
from .batch import take
from .program import slots_in
from .record import Const, Slot

GEMMS = {"cpu.matmul": False, "cpu.matmul_nt": True}  # name -> right operand transposed
# a lone elementwise call fusion left as it was (a bias added before a split): exact IEEE
# arithmetic, so numpy's result and the chain kernel's are the same bits
ARITHMETIC = {"cpu.add": "{0} + {1}", "cpu.sub": "{0} - {1}", "cpu.mul": "{0} * {1}",
              "cpu.div": "{0} / {1}", "cpu.neg": "-{0}"}
def unstack(buffer, indices):
    """The blocks buffer[i] for i in indices (a chain's outputs, one per step)."""
    return tuple(buffer[i] for i in indices)


def stack_steps(arrays):
    """Per-step operands of a chain as one (n, ...) array."""
    return np.stack(arrays)


class ChainCall:
    """The program's call of a generated chain: cuts each step's GEMM weights into column tiles
    (packs: (argument, transposed) pairs; the argument after each is its row chunk), allocates
    the output buffers, runs the kernel on each thread's rows and returns the buffers."""

    def __init__(self, kernel, rows: int, steps: int, buffers, packs):
        self.kernel, self.rows, self.steps = kernel, rows, steps
        self.buffers, self.packs = buffers, packs

    def __call__(self, *arrays):
        bounds = rt.parts(self.rows, 1)
        share = max(r1 - r0 for r0, r1 in bounds)
        arrays = list(arrays)
        for k, transposed in self.packs:
            weight = arrays[k].T if transposed else arrays[k]
            chunk, tile = step_tiling(share, *weight.shape)
            arrays[k], arrays[k + 1] = pack_column_tiles(weight, tile), chunk
        buffers = tuple(np.empty(shape, dtype) for shape, dtype in self.buffers)
        rt.run(self.kernel, [(r0, r1, self.steps, *arrays, *buffers) for r0, r1 in bounds])
        return buffers


def renamed(op, same):
    """op reading same[i] where it read slot i."""
    def rename(t):
        kind = type(t)
        if kind is Slot:
            return same.get(t.i, t)
        if kind is tuple or kind is list:
            return kind(rename(x) for x in t)
        if kind is dict:
            return {k: rename(v) for k, v in t.items()}
        return t

    if op[0] == "call":
        return (op[0], op[1], rename(op[2]), rename(op[3]), *op[4:])
    if op[0] == "opaque":
        return (op[0], op[1], rename(op[2]), *op[3:])
    if op[0] == "set":
        return (*op[:3], rename(op[3]), *op[4:])
    return op


def outputs(op) -> list:
    """The slots an operation defines, in order."""
    if op[0] == "load":
        return [op[3].i]
    if op[0] != "call":
        return []
    out = op[4]
    if type(out) is Slot:
        return [out.i]
    if type(out) is tuple and all(type(s) is Slot for s in out):
        return [s.i for s in out]
    return sorted(slots_in(out, set()))


def kind(op) -> str | None:
    """'gemm', 'fused', 'arithmetic' or 'take' for an operation a chain may hold, else None."""
    if op[0] != "call" or len(op) < 6 or op[3]:
        return None
    name, args = op[5], op[2]
    if name in GEMMS and len(args) == 2 and all(type(a) is Slot for a in args) and \
            type(op[4]) is Slot:
        return "gemm"
    if name == "fused" and getattr(op[1], "rows_parameter", False) is not False and \
            type(op[4]) is tuple and all(type(s) is Slot for s in op[4]) and \
            all(type(a) in (Slot, Const) for a in args):
        return "fused"
    if name in ARITHMETIC and len(args) == ARITHMETIC[name].count("{") and \
            all(type(a) is Slot for a in args) and type(op[4]) is Slot:
        return "arithmetic"
    if op[1] is take and len(args) == 2 and type(args[0]) is Slot and type(args[1]) is Const \
            and type(args[1].value) is int:
        return "take"
    return None


def stepping(op, p) -> bool:
    """Whether constant operand p of op may change from step to step (a take's index, a fused
    kernel's row count)."""
    what = kind(op)
    return (what == "take" and p == 1) or (what == "fused" and p == op[1].rows_parameter)
