"""A row chain's generated kernel and the program around its call (row_chain.py)."""

from __future__ import annotations

import numpy as np

from .batch import IN_PLACE
from .cache import load
from .chain_ops import (
    ARITHMETIC,
    GEMMS,
    ChainCall,
    kind,
    outputs,
    renamed,
    stack_steps,
    stepping,
    unstack,
)
from .native_call import bind
from .program import slots_read
from .record import Const, Slot


class Writer:
    """The chain's kernel source, its operands and the program around its call."""

    def __init__(self, chain, new_slot):
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
            if kind(op) == "take":
                continue  # a view: the program takes it again where it is read
            for o, i in enumerate(outputs(op)):
                needed = any(outputs(step[k])[o] in self.read_after for step in chain.steps)
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
            if not stepping(chain.steps[0][k], p):
                # a parameter, not a literal: Numba would compile the fused kernel again for
                # each literal int it is called with
                return self.param(("const", type(a.value).__name__, repr(a.value)), a)
            if kind(chain.steps[0][k]) == "fused":
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
                source = self.param(key, Slot(role[3]))
                self.carry_lines += ["    " + line for line in
                                     _copy_rows(f"{name}[0, r0 + i, j]", f"{source}[r0 + i, j]",
                                                chain.values[role[3]].shape[1])]
        elif role[0] == "view":
            index = self.param(("indices", k, p), Const(np.array(role[2], np.int64)))
            expr = f"{self.param(('slot', role[1]), Slot(role[1]))}[{index}[t]]"
        else:
            values = chain.values
            stacked = self.new_slot(np.stack([values[s] for s in role[1]]))
            self.before.append(("call", stack_steps, ([Slot(s) for s in role[1]],), {},
                                stacked, "stack"))
            expr = f"{self.param(('stacked', k, p), stacked)}[t]"
        return f"{expr}[r0:r1]" if full and not whole and chain.batch_rows(a.i) else expr

    def body(self):
        """The loop body's lines and the fused kernels' imports."""
        chain, lines, imports = self.chain, [], []
        for k, op in enumerate(chain.steps[0]):
            what, outs = kind(op), outputs(op)
            if what == "take":
                base = self.operand(k, 0, op[2][0], True)
                lines.append(f"v{k}_0 = {base}[{self.operand(k, 1, op[2][1], True)}]")
                self.local[(k, 0)] = (f"v{k}_0", True)
            elif what == "gemm":
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
                lines.append(f"native(gemm_packed, ({a}, {b}, v{k}_0, 0.0, {chunk}))")
                self.local[(k, 0)] = (f"v{k}_0", False)
            elif what == "arithmetic":
                operands = [self.operand(k, p, a, False) for p, a in enumerate(op[2])]
                lines.append(f"v{k}_0 = " + ARITHMETIC[op[5]].format(*operands))
                self.local[(k, 0)] = (f"v{k}_0", False)
                lines += self.store(k, 0)
            else:
                imports.append(f"from {op[1].__module__} import fused as f{k}")
                operands = "".join(self.operand(k, p, a, False) + ", "
                                   for p, a in enumerate(op[2]))
                call = f"native(f{k}, ({operands.rstrip()}))"
                lines.append(f"out{k} = {call}" if outs else call)
                for o in range(len(outs)):
                    lines.append(f"v{k}_{o} = out{k}[{o}]")
                    self.local[(k, o)] = (f"v{k}_{o}", False)
                    lines += self.store(k, o)
        return lines, imports

    def store(self, k, o) -> list[str]:
        """The line writing output o of operation k into its buffer, if it has one."""
        if (k, o) not in self.stored:
            return []
        name, offset = self.stored[(k, o)]
        width = self.chain.values[outputs(self.chain.steps[0][k])[o]].shape[1]
        return _copy_rows(f"{name}[t + {offset}, r0 + i, j]", f"v{k}_{o}[i, j]", width)

    def program(self):
        chain = self.chain
        lines, imports = self.body()
        signature = ["r0", "r1", "n", *self.params, *(f"b{m}" for m in range(len(self.buffers)))]
        source = "\n".join([
            "import numpy as np",
            "from numba import njit",
            "from minigrad.backends.cpu_blas import gemm_packed",
            "from minigrad.compiler.native_call import native",
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
        module = load(source, "chain")
        bound = [bind(getattr(module, name))  # before a chain kernel cached on disk is loaded
                 for name in ("gemm_packed", *(f"f{k}" for k in range(len(chain.steps[0]))))
                 if hasattr(module, name)]
        kernel = module.chain
        if not all(bound):
            # a callee's records are gone or torn: the chain kernel cached on disk (if any)
            # may call a symbol nobody bound, which would stop the process when it is loaded;
            # so it compiles again (its typing binds and records what it calls)
            kernel._cache.flush()
        call = ChainCall(kernel, chain.rows, chain.n, [(s, d) for s, d, *_ in self.buffers],
                         list(self.packs.values()))
        slots = [self.new_slot(np.empty(s, d)) for s, d, *_ in self.buffers]
        program = list(chain.ops[:chain.begin]) + chain.free + self.before
        program.append(("call", call, tuple(self.args), {}, tuple(slots), "row chain"))
        for m, (_, _, k, o, offset) in enumerate(self.buffers):
            made = [outputs(step[k])[o] for step in chain.steps]
            steps = [t for t in range(chain.n) if made[t] in self.read_after]
            if steps:
                program.append(("call", unstack, (slots[m], Const([t + offset for t in steps])),
                                {}, tuple(Slot(made[t]) for t in steps), "view"))
        for k, op in enumerate(chain.steps[0]):  # the views the rest of the program reads
            if kind(op) == "take":
                program += [step[k] for step in chain.steps
                            if outputs(step[k])[0] in self.read_after]
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
        return program + [renamed(op, same) for op in after]


def _copy_rows(target: str, source: str, width: int) -> list[str]:
    """Lines copying rows r0:r1 element by element (i, j): a slice assignment (``b[t, r0:r1] =
    v``) would make Numba compile its shape-mismatch error, whose message formatting (str,
    join over the shapes) took about 4 s of the first chain's cold compile."""
    return ["for i in range(r1 - r0):", f"    for j in range({width}):",
            f"        {target} = {source}"]


def _made(step, k, slot):
    """(position, output) of the operation before k in the step that made slot."""
    for j in range(k):
        outs = outputs(step[j])
        if slot in outs:
            return j, outs.index(slot)
    raise AssertionError("row_chain: a local operand no earlier operation made")
