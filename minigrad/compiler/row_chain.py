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

import numpy as np

from ..backends.cpu_blas import pack_column_tiles, step_tiling
from . import cpu_runtime as rt
from .batch import IN_PLACE, PURE, constants, take
from .cache import load
from .program import slots_in, slots_read
from .record import Const, Slot

GEMMS = {"cpu.matmul": False, "cpu.matmul_nt": True}  # name -> right operand transposed
# a lone elementwise call fusion left as it was (a bias added before a split): exact IEEE
# arithmetic, so numpy's result and the chain kernel's are the same bits
ARITHMETIC = {"cpu.add": "{0} + {1}", "cpu.sub": "{0} - {1}", "cpu.mul": "{0} * {1}",
              "cpu.div": "{0} / {1}", "cpu.neg": "-{0}"}
MIN_STEPS = 3
ENABLED = True  # False leaves every chain as separate calls (bench.compiler_ab measures both)


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
        op = _renamed(op, same) if same else op
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


def _renamed(op, same):
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


# ---- finding the steps ---------------------------------------------------------------------

def _outputs(op) -> list:
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


def _kind(op) -> str | None:
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


def _stepping(op, p) -> bool:
    """Whether constant operand p of op may change from step to step (a take's index, a fused
    kernel's row count)."""
    kind = _kind(op)
    return (kind == "take" and p == 1) or (kind == "fused" and p == op[1].rows_parameter)


def _first_chain(ops, values, keep, tried):
    """(anchors, first, count) of the first chain not tried: the program positions of its
    GEMMs, the first step of the longest run of equal steps and how many there are."""
    groups: dict = {}
    for j, op in enumerate(ops):
        if _kind(op) == "gemm" and isinstance(values[op[2][1].i], np.ndarray):
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
        if _kind(op) is None and op[0] == "call" and len(op) > 5 and op[5] in PURE and \
                not (slots_read(op) & made):
            free.append(op)
            continue
        step.append(op)
        made.update(_outputs(op))
    return step, free


def _signature(segment):
    """A step's structure: per operation its function and, per operand, local (made earlier in
    the step: where), outside, or a constant's value (but a take's index and a fused kernel's
    row count); None if an operation cannot be in a chain."""
    made: dict[int, tuple] = {}
    signature = []
    for k, op in enumerate(segment):
        if _kind(op) is None:
            return None
        described = []
        for p, a in enumerate(op[2]):
            if type(a) is Slot:
                described.append(made.get(a.i, "outside"))
            else:
                described.append("step" if _stepping(op, p) else
                                 ("const", type(a.value).__name__, repr(a.value)))
        signature.append((id(op[1]), tuple(described), len(_outputs(op))))
        for o, i in enumerate(_outputs(op)):
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
            for o, i in enumerate(_outputs(op)):
                self.defined_at[i] = (j, o)
        self.made: dict[int, tuple] = {}  # slot -> (step, position, output)
        for t, step in enumerate(self.steps):
            for k, op in enumerate(step):
                for o, i in enumerate(_outputs(op)):
                    self.made[i] = (t, k, o)
        self.hoisted = {i for op in self.free for i in _outputs(op)}
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
        if _kind(op) == "take":
            return op[2][0].i, op[2][1].value
        if op[0] == "call" and op[1] is unstack:
            return op[2][0].i, op[2][1].value[o]
        return None

    def _batch_rows(self, slot) -> bool:
        v = self.values[slot]
        return isinstance(v, np.ndarray) and v.ndim == 2 and v.shape[0] == self.rows

    def _roles(self):
        """{(position, operand): role} for every slot operand of a step, or None."""
        roles = {}
        whole, sliced, bases = set(), set(), set()  # invariants read whole, by rows, viewed
        for k, op in enumerate(self.steps[0]):
            kind = _kind(op)
            for p, a in enumerate(op[2]):
                if type(a) is not Slot:
                    continue
                role = self._role(k, [step[k][2][p].i for step in self.steps])
                if role is None:
                    return None
                roles[(k, p)] = role
                right = kind == "gemm" and p == 1
                if (right or kind == "take") and role[0] != "invariant":
                    return None  # a product with a matrix the steps make mixes rows
                if kind == "gemm" and p == 0 and not self._batch_rows(a.i):
                    return None
                if role[0] == "invariant":
                    if kind == "take":
                        bases.add(a.i)
                    elif right or not self._batch_rows(a.i):
                        whole.add(a.i)
                    else:
                        sliced.add(a.i)
            if not all(self._batch_rows(i) for i in _outputs(op)):
                return None
            if kind == "arithmetic" and any(self.values[a.i].dtype != self.values[op[4].i].dtype
                                            for a in op[2]):
                return None  # numpy's promotion, not Numba's
            if kind == "gemm":
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
            if _kind(op) == "take":
                first = self._view(slots[0])
                if first is None or first[0] != op[2][0].i:
                    return None
                return ("view", op[2][0].i,
                        [first[1]] + [step[position][2][1].value for step in self.steps[:-1]])
            made_value = self.values[_outputs(op)[output]]
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
        return _Writer(self, new_slot).program()


class _Writer:
    """The chain's kernel source, its operands and the program around its call."""

    def __init__(self, chain: _Chain, new_slot):
        self.chain, self.new_slot = chain, new_slot
        self.params, self.args, self.names, self.before = [], [], {}, []
        self.local: dict[tuple, tuple] = {}  # (position, output) -> (expression, whole rows?)
        self.carry_lines: list[str] = []
        self.packs: dict = {}  # ("packed", slot, transposed) -> (argument, transposed)
        after = chain.ops[chain.end:]
        self.read_after = set(chain.keep)
        for op in after:
            self.read_after |= slots_read(op)
        carried = {(r[1], r[2]) for r in chain.roles.values() if r[0] == "carried"}
        self.buffers, self.stored = [], {}  # stored: (k, o) -> (buffer name, offset)
        for k, op in enumerate(chain.steps[0]):
            if _kind(op) == "take":
                continue  # a view: the program takes it again where it is read
            for o, i in enumerate(_outputs(op)):
                needed = any(_outputs(step[k])[o] in self.read_after for step in chain.steps)
                if needed or (k, o) in carried:
                    offset = 1 if (k, o) in carried else 0
                    v = chain.values[i]
                    self.buffers.append(((chain.n + offset, *v.shape), v.dtype, k, o, offset))
                    self.stored[(k, o)] = (f"b{len(self.buffers) - 1}", offset)

    def param(self, key, operand) -> str:
        if key not in self.names:
            self.names[key] = f"a{len(self.params)}"
            self.params.append(self.names[key])
            self.args.append(operand)
        return self.names[key]

    def operand(self, k, p, a, whole: bool) -> str:
        """The expression of operand p of the steps' operation k in step t, on rows r0:r1
        unless whole."""
        chain = self.chain
        if type(a) is Const:
            if not _stepping(chain.steps[0][k], p):
                return repr(a.value)
            if _kind(chain.steps[0][k]) == "fused":
                return "r1 - r0"
            index = np.array([step[k][2][1].value for step in chain.steps], np.int64)
            return self.param(("index", k), Const(index)) + "[t]"
        role, full = chain.roles[(k, p)], True
        if role[0] == "local":
            expr, full = self.local[_made(chain.steps[0], k, a.i)]
        elif role[0] == "invariant":
            expr = self.param(("slot", a.i), a)
        elif role[0] == "carried":
            name = self.stored[(role[1], role[2])][0]
            expr, full = f"{name}[t, r0:r1]", False
            key = ("carry", role[1], role[2])
            if key not in self.names:
                self.carry_lines.append(f"    {name}[0, r0:r1] = "
                                        f"{self.param(key, Slot(role[3]))}[r0:r1]")
        elif role[0] == "view":
            index = self.param(("indices", k, p), Const(np.array(role[2], np.int64)))
            expr = f"{self.param(('slot', role[1]), Slot(role[1]))}[{index}[t]]"
        else:
            values = chain.values
            stacked = self.new_slot(np.stack([values[s] for s in role[1]]))
            self.before.append(("call", stack_steps, ([Slot(s) for s in role[1]],), {},
                                stacked, "stack"))
            expr = f"{self.param(('stacked', k, p), stacked)}[t]"
        return f"{expr}[r0:r1]" if full and not whole and chain._batch_rows(a.i) else expr

    def body(self):
        """The loop body's lines and the fused kernels' imports."""
        chain, lines, imports = self.chain, [], []
        for k, op in enumerate(chain.steps[0]):
            kind, outs = _kind(op), _outputs(op)
            if kind == "take":
                base = self.operand(k, 0, op[2][0], True)
                lines.append(f"v{k}_0 = {base}[{self.operand(k, 1, op[2][1], True)}]")
                self.local[(k, 0)] = (f"v{k}_0", True)
            elif kind == "gemm":
                a, w = self.operand(k, 0, op[2][0], False), op[2][1]
                b = self.param(("packed", w.i, GEMMS[op[5]]), w)
                chunk = self.param(("chunk", w.i, GEMMS[op[5]]), Const(0))
                if ("packed", w.i, GEMMS[op[5]]) not in self.packs:
                    self.packs[("packed", w.i, GEMMS[op[5]])] = (len(self.args) - 2,
                                                                 GEMMS[op[5]])
                if (k, 0) in self.stored:
                    name, offset = self.stored[(k, 0)]
                    lines.append(f"v{k}_0 = {name}[t + {offset}, r0:r1]")
                else:
                    v = chain.values[outs[0]]
                    lines.append(f"v{k}_0 = np.empty((r1 - r0, {v.shape[1]}), np.{v.dtype.name})")
                lines.append(f"gemm_packed({a}, {b}, v{k}_0, 0.0, {chunk})")
                self.local[(k, 0)] = (f"v{k}_0", False)
            elif kind == "arithmetic":
                operands = [self.operand(k, p, a, False) for p, a in enumerate(op[2])]
                lines.append(f"v{k}_0 = " + ARITHMETIC[op[5]].format(*operands))
                self.local[(k, 0)] = (f"v{k}_0", False)
                lines += self.store(k, 0)
            else:
                imports.append(f"from {op[1].__module__} import fused as f{k}")
                operands = ", ".join(self.operand(k, p, a, False) for p, a in enumerate(op[2]))
                lines.append(f"r = f{k}({operands})" if outs else f"f{k}({operands})")
                for o in range(len(outs)):
                    lines.append(f"v{k}_{o} = r[{o}]")
                    self.local[(k, o)] = (f"v{k}_{o}", False)
                    lines += self.store(k, o)
        return lines, imports

    def store(self, k, o) -> list[str]:
        """The line writing output o of operation k into its buffer, if it has one."""
        if (k, o) not in self.stored:
            return []
        name, offset = self.stored[(k, o)]
        return [f"{name}[t + {offset}, r0:r1] = v{k}_{o}"]

    def program(self):
        chain = self.chain
        lines, imports = self.body()
        signature = ["r0", "r1", "n", *self.params, *(f"b{m}" for m in range(len(self.buffers)))]
        source = "\n".join([
            "import numpy as np",
            "from numba import njit",
            "from minigrad.backends.cpu_blas import gemm_packed",
            *sorted(set(imports)),  # generated kernels, imported when their program was made
            "",
            "",
            "@njit(cache=True, nogil=True, error_model='numpy', boundscheck=False)",
            f"def chain({', '.join(signature)}):",
            "    if r1 <= r0:",
            "        return",
            *self.carry_lines,
            "    for t in range(n):",
            *("        " + line for line in lines),
        ]) + "\n"
        kernel = load(source, "chain").chain
        call = ChainCall(kernel, chain.rows, chain.n, [(s, d) for s, d, *_ in self.buffers],
                         list(self.packs.values()))
        slots = [self.new_slot(np.empty(s, d)) for s, d, *_ in self.buffers]
        program = list(chain.ops[:chain.begin]) + chain.free + self.before
        program.append(("call", call, tuple(self.args), {}, tuple(slots), "row chain"))
        for m, (_, _, k, o, offset) in enumerate(self.buffers):
            made = [_outputs(step[k])[o] for step in chain.steps]
            steps = [t for t in range(chain.n) if made[t] in self.read_after]
            if steps:
                program.append(("call", unstack, (slots[m], Const([t + offset for t in steps])),
                                {}, tuple(Slot(made[t]) for t in steps), "view"))
        for k, op in enumerate(chain.steps[0]):  # the views the rest of the program reads
            if _kind(op) == "take":
                program += [step[k] for step in chain.steps
                            if _outputs(step[k])[0] in self.read_after]
        after, same = chain.ops[chain.end:], {}
        written = {i for op in after if op[0] == "call" and len(op) > 5 and op[5] in IN_PLACE
                   for i in slots_read(op)}
        for role in chain.roles.values():  # the first step's input: its copy in block 0
            if role[0] == "carried" and role[3] in self.read_after and role[3] not in written \
                    and role[3] not in chain.keep and role[3] not in same:
                m = int(self.stored[(role[1], role[2])][0][1:])
                same[role[3]] = self.new_slot(chain.values[role[3]])
                program.append(("call", unstack, (slots[m], Const([0])), {}, (same[role[3]],),
                                "view"))
        return program + [_renamed(op, same) for op in after]


def _made(step, k, slot):
    """(position, output) of the operation before k in the step that made slot."""
    for j in range(k):
        outs = _outputs(step[j])
        if slot in outs:
            return j, outs.index(slot)
    raise AssertionError("row_chain: a local operand no earlier operation made")
