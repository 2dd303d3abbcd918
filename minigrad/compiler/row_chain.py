"""An unrolled loop's per-step chain run on every thread at once, each thread its batch rows.

After batching and fusion (batch.py, fuse.py) a plain-loop recurrence is, per step, a GEMM of a
(B, K) value with a loop-invariant matrix (h_{t-1} W_hh^T forward, dG_t W_hh backward) and the
fused kernels of that step, whose outputs feed the next step's GEMM. Every one of those calls is
row-separable: row r of each (B, .) result reads only row r of the (B, .) operands (the GEMM's
right operand is the same matrix for all rows; a fused kernel is elementwise or reduces along
the last axis). So thread k can run the whole chain, all steps, on its own rows r0:r1 with no
barrier, as the cell compiler's fused recurrences do (run_cpu.py, docs/fused_kernels.md).

``chain_rows(ops, values, keep, new_slot)`` finds such chains: the GEMMs (``cpu.matmul``,
``cpu.matmul_nt``) with one right operand repeated at least MIN_STEPS times; the segment of the
program from each of them to the next is one step. Consecutive steps of one structure (the same
functions, the same constants but a ``take``'s index and a fused kernel's row count, each
operand in the same role) become one call of a generated ``@njit(nogil=True)`` function run on
every thread (cpu_runtime.run) over its share of the rows. An operand's role across the steps:

- local: made earlier in the same step;
- carried: made by the previous step (h_{t-1}, c_{t-1}): kept in a (n + 1, B, .) buffer whose
  row block 0 the first step's input fills; the steps write blocks 1..n;
- invariant: the same slot in every step (a weight, a bias, a buffer the steps take views of);
- per step: a different slot each step made before the chain (an input projection's slice, a
  saved activation): a view ``base[index]`` of one array when every step's is one (take, or a
  chain's own output buffer), else stacked once before the chain.

Anything else (a call of another function, a GEMM whose right operand changes, a value made two
steps back, an operand that is not a view of its rows) leaves the steps as they were. Outputs read
after the chain (the saved activations the backward reads, the last state) are written into
(n, B, .) buffers, and the program binds each step's slot to its block (``unstack``), so the rest
of the program reads what it read before. Each row block is computed by the same calls in the
same order as before on the same operands, and BLAS computes each row of a GEMM from that row
alone, so results equal the program without the pass to float rounding (a row block's GEMM may
block its sums differently).
"""

from __future__ import annotations

import os

import numpy as np

from .batch import PURE, constants
from .chain_emit import Writer
from .chain_ops import kind, outputs, renamed, stepping, unstack
from .program import slots_in, slots_read
from .record import Const, Slot

MIN_STEPS = 3
# False (or MINIGRAD_ROW_CHAINS=0 at import) leaves every chain as separate calls: the A/B
ENABLED = os.environ.get("MINIGRAD_ROW_CHAINS", "1").strip() != "0"


def chain_rows(ops, values, keep, new_slot):
    """ops with each row-separable chain of an unrolled loop's steps run as one threaded call
    (the module's docstring)."""
    if not ENABLED:
        return ops
    ops = _one_transpose(ops, keep)
    tried = set()
    while True:
        found = _first_chain(ops, values, keep, tried)
        if found is None:
            return _read_blocks(ops, keep)
        ops = _Chain(ops, values, keep, *found).rewrite(new_slot)


def _read_blocks(ops, keep):
    """ops with each unstack binding only the blocks something reads (a later chain reads the
    others from the buffer itself)."""
    read = set(keep)
    for op in ops:
        read |= slots_read(op)
    out = []
    for op in ops:
        if op[0] == "call" and op[1] is unstack:
            kept = [(k, s) for k, s in enumerate(op[4]) if s.i in read]
            if not kept:
                continue
            op = ("call", unstack, (op[2][0], Const([op[2][1].value[k] for k, _ in kept])), {},
                  tuple(s for _, s in kept), "view")
        out.append(op)
    return out


def _one_transpose(ops, keep):
    """ops with a transpose repeated in every step (``h @ w.T`` written inside the loop) made
    once: later ones read the first's result (a view of the same memory, so nothing changes)."""
    first: dict = {}
    same: dict[int, int] = {}
    out = []
    for op in ops:
        op = renamed(op, same) if same else op
        if op[0] == "call" and len(op) > 5 and op[5] == "cpu.transpose" and \
                type(op[2][0]) is Slot and type(op[4]) is Slot and op[4].i not in keep and \
                not slots_in(op[2][1:], set()) and not op[3]:
            key = (op[2][0].i, repr(constants(op[2][1:])))
            if key in first:
                same[op[4].i] = first[key]
                continue
            first[key] = op[4]
        out.append(op)
    return out


# ---- finding the steps ---------------------------------------------------------------------

def _first_chain(ops, values, keep, tried):
    """(anchors, first, count) of the first chain not tried: the program positions of its
    GEMMs, the first step of the longest run of equal steps and how many there are."""
    groups: dict = {}
    for j, op in enumerate(ops):
        if kind(op) == "gemm" and isinstance(values[op[2][1].i], np.ndarray):
            groups.setdefault((op[5], op[2][1].i), []).append(j)
    for key, anchors in groups.items():
        if len(anchors) < MIN_STEPS or (key, anchors[0]) in tried:
            continue
        tried.add((key, anchors[0]))
        signatures = [_signature(_steps_ops(ops[a:b])[0]) for a, b in zip(anchors, anchors[1:])]
        best, start = (0, 0), 0
        for t in range(1, len(signatures) + 1):
            if t == len(signatures) or signatures[t] != signatures[start]:
                if signatures[start] is not None and t - start > best[1] - best[0]:
                    best = (start, t)
                start = t
        if best[1] - best[0] >= MIN_STEPS:
            found = (anchors, best[0], best[1] - best[0])
            if _Chain(ops, values, keep, *found).roles is not None:
                return found
    return None


def _steps_ops(segment):
    """(the step's operations, the pure calls among them that read nothing the step made: a
    transpose of a weight, x[t] kept for a backward; they run before the chain)."""
    made, step, free = set(), [], []
    for op in segment:
        if kind(op) is None and op[0] == "call" and len(op) > 5 and op[5] in PURE and \
                not (slots_read(op) & made):
            free.append(op)
            continue
        step.append(op)
        made.update(outputs(op))
    return step, free


def _signature(segment):
    """A step's structure: per operation its function and, per operand, local (made earlier in
    the step: where), outside, or a constant's value (but a take's index and a fused kernel's
    row count); None if an operation cannot be in a chain."""
    made: dict[int, tuple] = {}
    signature = []
    for k, op in enumerate(segment):
        if kind(op) is None:
            return None
        described = []
        for p, a in enumerate(op[2]):
            if type(a) is Slot:
                described.append(made.get(a.i, "outside"))
            else:
                described.append("step" if stepping(op, p) else
                                 ("const", type(a.value).__name__, repr(a.value)))
        signature.append((id(op[1]), tuple(described), len(outputs(op))))
        for o, i in enumerate(outputs(op)):
            made[i] = (k, o)
    return tuple(signature)


# ---- one chain -----------------------------------------------------------------------------

class _Chain:
    """Steps first .. first + count of a chain: each slot operand's role (roles is None if the
    steps are not a chain), then the program with them as one call (rewrite)."""

    def __init__(self, ops, values, keep, anchors, first, count):
        self.ops, self.values, self.keep = ops, values, keep
        self.n = count
        self.starts = anchors[first:first + count + 1]
        self.begin, self.end = self.starts[0], self.starts[-1]
        split = [_steps_ops(ops[a:b]) for a, b in zip(self.starts, self.starts[1:])]
        self.steps = [step for step, _ in split]
        self.free = [op for _, free in split for op in free]
        self.defined_at: dict[int, tuple] = {}
        for j, op in enumerate(ops):
            for o, i in enumerate(outputs(op)):
                self.defined_at[i] = (j, o)
        self.made: dict[int, tuple] = {}  # slot -> (step, position, output)
        for t, step in enumerate(self.steps):
            for k, op in enumerate(step):
                for o, i in enumerate(outputs(op)):
                    self.made[i] = (t, k, o)
        self.hoisted = {i for op in self.free for i in outputs(op)}
        self.rows = values[self.steps[0][0][2][0].i].shape[0]
        self.roles = self._roles()

    def _step_of(self, slot):
        """(step, position, output) of a slot a step makes, else None."""
        return self.made.get(slot)

    def _before(self, slot) -> bool:
        """Whether slot is ready before the chain runs (made before it, or by a pure call of
        a step that runs before it)."""
        return self.defined_at.get(slot, (-1, 0))[0] < self.begin or slot in self.hoisted

    def _view(self, slot):
        """(base slot, index) when slot is one block of an array: a take's, an unstack's."""
        j, o = self.defined_at.get(slot, (-1, 0))
        if j < 0:
            return None
        op = self.ops[j]
        if kind(op) == "take":
            return op[2][0].i, op[2][1].value
        if op[0] == "call" and op[1] is unstack:
            return op[2][0].i, op[2][1].value[o]
        return None

    def batch_rows(self, slot) -> bool:
        v = self.values[slot]
        return isinstance(v, np.ndarray) and v.ndim == 2 and v.shape[0] == self.rows

    def _roles(self):
        """{(position, operand): role} for every slot operand of a step, or None."""
        roles = {}
        whole, sliced, bases = set(), set(), set()  # invariants read whole, by rows, viewed
        for k, op in enumerate(self.steps[0]):
            what = kind(op)
            for p, a in enumerate(op[2]):
                if type(a) is not Slot:
                    continue
                role = self._role(k, [step[k][2][p].i for step in self.steps])
                if role is None:
                    return None
                roles[(k, p)] = role
                right = what == "gemm" and p == 1
                if (right or what == "take") and role[0] != "invariant":
                    return None  # a product with a matrix the steps make mixes rows
                if what == "gemm" and p == 0 and not self.batch_rows(a.i):
                    return None
                if role[0] == "invariant":
                    if what == "take":
                        bases.add(a.i)
                    elif right or not self.batch_rows(a.i):
                        whole.add(a.i)
                    else:
                        sliced.add(a.i)
            if not all(self.batch_rows(i) for i in outputs(op)):
                return None
            if what == "arithmetic" and any(self.values[a.i].dtype != self.values[op[4].i].dtype
                                            for a in op[2]):
                return None  # numpy's promotion, not Numba's
            if what == "gemm":
                a, b = (self.values[op[2][p].i] for p in (0, 1))
                if a.strides[1] != a.itemsize or b.itemsize not in b.strides:
                    return None
        if whole & (sliced | bases):
            return None  # an array some step reads whole that the steps may write by rows
        for op in self.free:  # each reads what is ready, and nothing the steps may write
            read = slots_read(op)
            if read & (sliced | bases) or not all(self._before(i) for i in read):
                return None
        return roles

    def _role(self, k, slots):
        """The role of operand slots (one per step) of the steps' operation k."""
        made = [self._step_of(s) for s in slots]
        if all(m is not None and m[0] == t and m[1:] == made[0][1:] for t, m in enumerate(made)):
            return ("local",)
        if all(s == slots[0] for s in slots):
            return ("invariant", slots[0]) if self._before(slots[0]) else None
        if self._before(slots[0]) and all(
                m is not None and m[0] == t and m[1:] == made[1][1:]
                for t, m in enumerate(made[1:])):
            position, output = made[1][1:]
            op = self.steps[0][position]
            if kind(op) == "take":
                first = self._view(slots[0])
                if first is None or first[0] != op[2][0].i:
                    return None
                return ("view", op[2][0].i,
                        [first[1]] + [step[position][2][1].value for step in self.steps[:-1]])
            made_value = self.values[outputs(op)[output]]
            if self.values[slots[0]].shape != made_value.shape or \
                    self.values[slots[0]].dtype != made_value.dtype:
                return None
            return ("carried", position, output, slots[0])
        if not all(self._before(s) for s in slots) or self.values[slots[0]].ndim == 0:
            return None  # (a number per step would be a scalar, not a 0-d array, in the kernel)
        views = [self._view(s) for s in slots]
        if all(v is not None and v[0] == views[0][0] for v in views):
            return ("view", views[0][0], [v[1] for v in views])
        kinds = {(self.values[s].shape, self.values[s].dtype) for s in slots}
        return ("stacked", slots) if len(kinds) == 1 else None

    # ---- the generated kernel and the rewritten program ------------------------------------

    def rewrite(self, new_slot):
        return Writer(self, new_slot).program()


