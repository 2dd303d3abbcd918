"""What fusion across split and concat (compiler/fuse.py) needs to know of the operations."""

from __future__ import annotations

import numpy as np

from . import whole_cuda
from .batch import constants, take
from .program import slots_in
from .record import Const, Slot


class Across:
    """What fusion across split and concat needs to know of the operations: the column slices
    each ``split`` of a 2-d array along its last axis makes (slot -> (base slot, first column)),
    who reads each slot, and which slots the program has made so far."""

    def __init__(self, ops, values, keep, users, readers):
        self.ops, self.values, self.keep = ops, values, keep
        self.users, self.readers = users, readers
        self.absorbed: set = set()  # indices of concat calls a kernel writes instead
        self.made: set = set()  # slots defined by the operations emitted so far
        self.columns: dict = {}
        for op in ops:
            if op[0] == "call" and len(op) > 5 and op[5] in ("cpu.split", "cuda.split") and \
                    not op[3]:
                self._split(op)

    def _split(self, op):
        if len(op[2]) != 3 or type(op[2][0]) is not Slot or type(op[4]) not in (tuple, list):
            return
        base, indices, axis = op[2][0].i, constants(op[2][1]), constants(op[2][2])
        a = self.values[base]
        if not (type(a) is np.ndarray or whole_cuda.on_device(a)) or a.ndim != 2 or \
                axis not in (1, -1) or \
                any(type(p) is not Slot for p in op[4]):
            return
        if type(indices) is int:
            if indices <= 0 or a.shape[1] % indices:
                return
            indices = list(range(a.shape[1] // indices, a.shape[1], a.shape[1] // indices))
        if type(indices) not in (list, tuple) or any(type(k) is not int or k < 0 for k in indices):
            return
        for piece, first in zip(op[4], [0, *indices]):
            self.columns[piece.i] = (base, first)

    def ready(self, op):
        if op[0] == "call":
            slots_in(op[4], self.made)
        elif op[0] == "load":
            self.made.add(op[3].i)

    def column(self, i, result):
        """(base slot, first column) when slot i is a column slice of the run's shape."""
        found = self.columns.get(i)
        if found is None or result.ndim != 2:
            return None
        base = self.values[found[0]]
        if base.dtype != result.dtype or base.shape[0] != result.shape[0] or \
                found[1] + result.shape[1] > base.shape[1]:
            return None
        return found

    def concat(self, defined: set, result, dtype):
        """{run output slot: (destination slot, first column)} and the ops making the
        destinations, for each concat along the last axis whose arrays are all outputs of this
        run read by nothing else: the kernel writes them into the concat's columns."""
        dests, before = {}, []
        if result.ndim != 2:
            return dests, before
        seen = set()
        for i in sorted(defined):
            for j in self.readers.get(i, ()):
                if j not in seen:
                    seen.add(j)
                    made = self._destination(j, defined, result, dtype, dests)
                    if made is not None:
                        before.append(made)
                        self.absorbed.add(j)
        return dests, before

    def row_sums(self, defined) -> dict:
        """{run output slot: (sum slot, whether anything else reads the output)} for a CUDA sum
        over the last axis of each output of this run: the run's kernel computes it
        (whole_cuda.py), and writes the output only when something else reads it."""
        sums = {}
        for i in sorted(defined):
            readers = self.readers.get(i, ())
            j = next((j for j in readers
                      if whole_cuda.sums_last_axis(self.ops[j], i, self.values)), None)
            if j is not None:
                sums[i] = (self.ops[j][4].i, i in self.keep or any(r != j for r in readers))
                self.absorbed.add(j)
        return sums

    def _destination(self, j, defined, result, dtype, dests):
        op = self.ops[j]
        name = op[5] if op[0] == "call" and len(op) > 5 else None
        if name in ("cpu.concat", "cuda.concat") and len(op[2]) == 2:
            arrays, axis = op[2]
        elif name == "concat_into" and len(op[2]) == 4 and type(op[2][0]) is Slot and \
                op[2][0].i in self.made:
            arrays, axis = op[2][2], op[2][3]
        else:
            return None
        if op[3] or type(op[4]) is not Slot or constants(axis) not in (1, -1) or \
                type(arrays) not in (list, tuple) or not arrays or \
                len({getattr(a, "i", None) for a in arrays}) != len(arrays) or any(
                    type(a) is not Slot or a.i not in defined or a.i in self.keep or
                    self.readers.get(a.i) != [j] for a in arrays):
            return None
        out = self.values[op[4].i]
        if out.dtype != dtype or out.shape != (result.shape[0],
                                               result.shape[1] * len(arrays)):
            return None
        for k, a in enumerate(arrays):
            dests[a.i] = (op[4].i, k * result.shape[1])
        if name in ("cpu.concat", "cuda.concat"):
            empty = np.empty if name == "cpu.concat" else whole_cuda.buffer
            return ("call", empty, (Const(out.shape),), {"dtype": Const(dtype)}, op[4],
                    "buffer")
        return ("call", take, (op[2][0], op[2][1]), {}, op[4], "view")
