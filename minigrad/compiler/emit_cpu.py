"""Generate the Numba source of a planned step: the forward and backward time loops (CPU).

The loops are shaped like the hand-written ones of docs/fused_kernels.md: per step one packed
GEMM with the recurrent weights (accumulated into the step's slots), then per batch row one loop
over the L lanes that loads every piece through its own view, runs the step's rules (calls to
``scalar_rules.compiled("cpu", dtype).<rule>``, inlined), and stores new states and saved values;
backward overwrites the slots with the gradients of the products in place, accumulates vector
parameter gradients in float64 and runs one GEMM for dL/d(state before the step). A two-stage
step (a product of an intermediate) runs, per step, stage 1's lanes, the stage-2 GEMM of the
intermediate (kept in ``mid``) into ``buf2``, then stage 2's lanes; stage-1 values stage 2 reads
pass through ``carry``; backward runs the stages in reverse with one GEMM between them.

Kernel arguments (the runtime passes them in this order):
forward(buf, buf2, mid, carry, extra, xh, <other state buffers>, w_packed, w2_packed,
        <vector params>, steps, reverse, lo, hi, row_chunk, row_chunk2)
backward(buf, buf2, mid, carry, extra, xh, <other state buffers>, w_packed, w2_packed, w_x_t,
         dout, <dS per state>, <dN per state>, dcarry, dmid, <vector params>, acc, dx, steps,
         reverse, <norms per state>, lo, hi, row_chunk, row_chunk2)
"""

from __future__ import annotations

import numpy as np

from ..backends.scalar_rules import RULES, python
from .plan import Plan, derivative_reads, has_grad

GENERATOR_VERSION = 2
_JIT = ('cache=True, error_model="numpy", fastmath={"contract"}, boundscheck=False, '
        'nogil=True')
_VIEWS = {"slot": ("sl", "g[b, {a}]"), "slot2": ("sm", "g2[b, {a}]"),
          "extra": ("ex", "extra[t, b, {a}]"), "carry": ("cr", "carry[t, b, {a}]"),
          "mid": ("md", "mid[t, b, {a}]"), "dcarry": ("dcr", "dcarry[b, {a}]"),
          "dmid": ("dmd", "dmid[b, {a}]"), "dout": ("do_", "dout_t[b, {a}]")}


class _Names:
    """Variable names and the bookkeeping shared by the generated functions."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.consts, self.rules, self.acc = {}, set(), {}
        self.param_acc: dict = {}
        self.new_state = {}
        for k, ids in enumerate(plan.outputs):
            for p, v in enumerate(ids):
                self.new_state.setdefault(v, (k, p))
        self.mid_index = {}
        for p, v in enumerate(plan.mid_operand):
            self.mid_index.setdefault(v, p)
        self.carry_index = {v: n for n, v in enumerate(plan.carried)}

    def const(self, value) -> str:
        return self.consts.setdefault(value, f"C{len(self.consts)}")

    def rule(self, name: str) -> str:
        self.rules.add(name)
        return f"R_{name}"

    def state_buffer(self, k: int) -> tuple[str, str]:
        return ("xh", "I") if k == self.plan.rec_state else (f"st{k}", "0")


def _view(used: set, kind: str, index) -> str:
    used.add((kind, index))
    if kind in ("prev", "next", "dS", "dN"):
        return f"{kind[0].lower()}{kind[1].lower()}{index[0]}_{index[1]}"
    return f"{_VIEWS[kind][0]}{index}"


def _home(names: _Names, v: int, used: set) -> str | None:
    """Where value v can be read without computing it (a view element or a constant)."""
    plan, key = names.plan, names.plan.values[v]
    if v in plan.stored:
        where, n = plan.stored[v]
        return f"{_view(used, where, n)}[j]"
    if v in names.mid_index:
        return f"{_view(used, 'mid', names.mid_index[v])}[j]"
    if v in names.carry_index:
        return f"{_view(used, 'carry', names.carry_index[v])}[j]"
    if key[0] in ("slot", "slot2"):
        return f"{_view(used, key[0], key[1])}[j]"
    if key[0] == "state":
        return f"{_view(used, 'prev', (key[1], key[2]))}[j]"
    if key[0] == "param":
        return f"vec_{key[1]}_{key[2]}[j]"
    if key[0] == "const":
        return names.const(key[1])
    return None


def _compute(names: _Names, v: int) -> str:
    key = names.plan.values[v]
    return f"v{v} = {names.rule(key[1])}({', '.join(f'v{a}' for a in key[2:])})"


def _row_views(names: _Names, used: set, indent: str) -> list[str]:
    lines = []
    for kind, index in sorted(used, key=str):
        if kind in ("prev", "next"):
            k, p = index
            buffer, offset = names.state_buffer(k)
            slot = "prev" if kind == "prev" else "nxt"
            lines.append(f"{_view(set(), kind, index)} = {buffer}[{slot}, b, {offset} + {p} * L:"
                         f"{offset} + {p + 1} * L]")
        elif kind in ("dS", "dN"):
            k, p = index
            lines.append(f"{_view(set(), kind, index)} = {kind}{k}[b, {p} * L:{p + 1} * L]")
        else:
            target = _VIEWS[kind][1].format(a=f"{index} * L:{index + 1} * L")
            lines.append(f"{_VIEWS[kind][0]}{index} = {target}")
    return [indent + line for line in lines]


def _stage_of(names: _Names, v: int) -> int:
    return names.plan.stage[v] if names.plan.stage else 1


def _forward_lanes(names: _Names, stage: int):
    """(views used, lane-loop lines) of one stage's forward."""
    plan = names.plan
    roots = [v for v in names.new_state if _stage_of(names, v) == stage]
    roots += [v for v in plan.stored if _stage_of(names, v) == stage]
    if stage == 1:
        roots += list(plan.carried) + list(plan.mid_operand)
    used, body, done = set(), [], set()

    def emit(v):
        if v in done:
            return
        done.add(v)
        key = plan.values[v]
        if key[0] == "rule" and _stage_of(names, v) == stage:
            for a in key[2:]:
                emit(a)
            body.append(_compute(names, v))
        else:
            home = _home_source(names, v, used, stage)
            body.append(f"v{v} = {home}")

    for v in sorted(set(roots)):
        emit(v)
    stores = []
    for v, (where, n) in sorted(plan.stored.items()):
        if _stage_of(names, v) == stage:
            stores.append(f"{_view(used, where, n)}[j] = v{v}")
    if stage == 1:
        stores += [f"{_view(used, 'carry', n)}[j] = v{v}" for n, v in enumerate(plan.carried)]
        stores += [f"{_view(used, 'mid', p)}[j] = v{v}" for p, v in enumerate(plan.mid_operand)]
    for k, ids in enumerate(plan.outputs):
        for p, v in enumerate(ids):
            if _stage_of(names, v) == stage:
                stores.append(f"{_view(used, 'next', (k, p))}[j] = v{v}")
    return used, body + stores


def _home_source(names, v, used, stage):
    """Forward: a leaf or a value of an earlier stage (carried over, or the intermediate)."""
    key = names.plan.values[v]
    if stage == 2 and v in names.carry_index:
        return f"{_view(used, 'carry', names.carry_index[v])}[j]"
    if stage == 2 and v in names.mid_index and key[0] == "rule":
        return f"{_view(used, 'mid', names.mid_index[v])}[j]"
    if key[0] in ("slot", "slot2"):
        return f"{_view(used, key[0], key[1])}[j]"
    if key[0] == "state":
        return f"{_view(used, 'prev', (key[1], key[2]))}[j]"
    if key[0] == "param":
        return f"vec_{key[1]}_{key[2]}[j]"
    return names.const(key[1])


def _constant_slope(rule: str, suffix: str):
    """The derivative's value when it reads nothing (add: 1, sub: 1 and -1), else None."""
    if RULES[rule].uses:
        return None
    fn = getattr(python(np.float64), rule + suffix)
    return float(fn(*([0.0] * (RULES[rule].arity + 1))))


def _backward_lanes(names: _Names, stage: int, two_stage: bool):
    """(views used, lane-loop lines) of one stage's backward sweep."""
    plan = names.plan
    values, grad = plan.values, has_grad(plan.values)
    used, body, available = set(), [], set()

    def need(v):
        if v in available:
            return
        available.add(v)
        home = _home(names, v, used)
        if home is None and v in names.new_state:
            home = f"{_view(used, 'next', names.new_state[v])}[j]"
        if home is not None:
            body.append(f"v{v} = {home}")
            return
        for a in values[v][2:]:
            need(a)
        body.append(_compute(names, v))

    contributions: dict = {}
    for k, ids in enumerate(plan.outputs):
        for p, v in enumerate(ids):
            if _stage_of(names, v) == stage:
                seed = f"{_view(used, 'dS', (k, p))}[j]"
                if k == 0:
                    seed += f" + {_view(used, 'dout', p)}[j]"
                contributions.setdefault(v, []).append(f"({seed})")
    if stage == 1 and two_stage:
        for n, v in enumerate(plan.carried):
            contributions.setdefault(v, []).append(f"{_view(used, 'dcarry', n)}[j]")
        for p, v in enumerate(plan.mid_operand):
            contributions.setdefault(v, []).append(f"{_view(used, 'dmid', p)}[j]")
    sweep, totals = [], {}
    for v in range(len(values) - 1, -1, -1):
        terms = contributions.get(v)
        key = values[v]
        if not terms or not grad[v]:
            continue
        if key[0] == "rule" and _stage_of(names, v) != stage:
            continue  # a stage-1 value reached from stage 2: handed over through dcarry
        if len(terms) == 1 and terms[0].isidentifier():
            totals[v] = terms[0]
        else:
            sweep.append(f"g{v} = {' + '.join(terms)}")
            totals[v] = f"g{v}"
        if key[0] != "rule":
            continue
        rule = RULES[key[1]]
        reads = derivative_reads(key, v)
        for a in reads:
            need(a)
        args = [f"v{a}" if a in reads else "zero" for a in key[2:]]
        y = f"v{v}" if "y" in rule.uses else "zero"
        for a, suffix in zip(key[2:], ["_d"] if rule.arity == 1 else ["_da", "_db"]):
            if grad[a]:
                slope = _constant_slope(key[1], suffix)
                if slope == 1.0:
                    term = totals[v]
                elif slope == -1.0:
                    term = f"-{totals[v]}"
                else:
                    term = f"{totals[v]} * {names.rule(key[1] + suffix)}({', '.join(args)}, {y})"
                contributions.setdefault(a, []).append(term)

    def total(v):
        if v in totals:
            return totals[v]
        terms = contributions.get(v)
        return " + ".join(terms) if terms else "zero"

    stores = []
    slot_kind, count = ("slot", plan.n_slots) if stage == 1 else ("slot2", plan.mid_pieces)
    for s in range(count):
        v = values.index((slot_kind, s))
        stores.append(f"{_view(used, slot_kind, s)}[j] = {total(v)}")
    if stage == 2:
        for n, v in enumerate(plan.carried):
            stores.append(f"{_view(used, 'dcarry', n)}[j] = {total(v)}")
    for k, pieces in enumerate(plan.state_pieces):
        for p in range(pieces):
            key = ("state", k, p)
            value = total(values.index(key)) if key in values else "zero"
            if stage == 1 and two_stage:
                if value != "zero":
                    stores.append(f"{_view(used, 'dN', (k, p))}[j] += {value}")
            else:
                stores.append(f"{_view(used, 'dN', (k, p))}[j] = {value}")
    for k, ids in enumerate(plan.outputs):
        for p, v in enumerate(ids):
            if _stage_of(names, v) == stage:
                stores.append(f"{_view(used, 'dS', (k, p))}[j] = {total(v)}")
    for v, key in enumerate(values):
        if key[0] == "param" and contributions.get(v):
            acc_key = " + ".join(contributions[v])
            if acc_key not in names.acc:  # parameters with the same gradient share a column
                names.acc[acc_key] = len(names.acc)
                stores.append(f"acc{names.acc[acc_key]}[j] += {total(v)}")
            names.param_acc.setdefault((key[1], key[2]), []).append(names.acc[acc_key])
    return used, body + sweep + stores


def _time_header(backward: bool) -> list[str]:
    order = "s if reverse else T - 1 - s" if backward else "T - 1 - s if reverse else s"
    return ["    for s in range(T):", f"        t = {order}",
            "        prev = t + 1 if reverse else t", "        nxt = t if reverse else t + 1",
            "        g = buf[t]", "        g2 = buf2[t]"]


def _prologue(plan: Plan) -> list[str]:
    rec_width = plan.state_pieces[plan.rec_state]
    lines = ["    previous_fp = denormals_off()", "    T = buf.shape[0]",
             f"    L = buf.shape[2] // {plan.n_slots}", f"    I = xh.shape[2] - {rec_width} * L",
             "    zero = buf.dtype.type(0.0)"]
    return lines + [f"    vec_{name}_{p} = vec_{name}[{p} * L:{p + 1} * L]"
                    for name, n in plan.vectors.items() for p in range(n)]


def _rows(names, used, lane_lines, skip) -> list[str]:
    lines = ["        for b in range(lo, hi):", "            if t >= steps[b]:"]
    lines += ["                " + line for line in skip] + ["                continue"]
    lines += _row_views(names, used, "            ") + ["            for j in range(L):"]
    return lines + ["                " + line for line in lane_lines]


def _signature(plan: Plan, backward: bool) -> list[str]:
    n = len(plan.state_pieces)
    states = [f"st{k}" for k in range(n) if k != plan.rec_state]
    vectors = [f"vec_{name}" for name in plan.vectors]
    head = ["buf", "buf2", "mid", "carry", "extra", "xh", *states, "w_packed", "w2_packed"]
    tail = ["steps", "reverse", "lo", "hi", "row_chunk", "row_chunk2"]
    if not backward:
        return head + vectors + tail
    return (head + ["w_x_t", "dout", *[f"dS{k}" for k in range(n)], *[f"dN{k}" for k in range(n)],
                    "dcarry", "dmid", *vectors, "acc", "dx"] + tail[:2] +
            [f"norms{k}" for k in range(n)] + tail[2:])


def forward_source(plan: Plan, names: _Names) -> list[str]:
    """The forward time loop."""
    two = plan.weight_mid is not None
    lines = ["@njit(" + _JIT + ")", f"def forward({', '.join(_signature(plan, False))}):"]
    lines += _prologue(plan) + _time_header(False)
    if plan.weight_h is not None:
        beta = 1.0 if plan.h_first < plan.x_slots else 0.0
        lines.append(f"        gemm_packed(xh[prev, lo:hi, I:], w_packed, g[lo:hi, "
                     f"{plan.h_first} * L:], {beta}, row_chunk)")
    skip = []
    for k in range(len(plan.state_pieces)):
        buffer, offset = names.state_buffer(k)
        skip.append(f"{buffer}[nxt, b, {offset}:] = {buffer}[prev, b, {offset}:]")
    if two:
        skip.append("mid[t, b] = zero")
    used, lanes = _forward_lanes(names, 1)
    lines += _rows(names, used, lanes, skip)
    if two:
        lines.append("        gemm_packed(mid[t, lo:hi], w2_packed, g2[lo:hi], 0.0, row_chunk2)")
        used, lanes = _forward_lanes(names, 2)
        lines += _rows(names, used, lanes, [])
    return lines + ["    restore_denormals(previous_fp)", ""]


def backward_source(plan: Plan, names: _Names) -> list[str]:
    """The reverse time loop: slot gradients in place, states' gradients, vector accumulators."""
    n_states, two = len(plan.state_pieces), plan.weight_mid is not None
    lines = ["@njit(" + _JIT + ")", f"def backward({', '.join(_signature(plan, True))}):"]
    lines += _prologue(plan) + ["    want_norms = norms0.shape[0] > 0"]
    stages = [_backward_lanes(names, 2, True)] if two else []
    stages.append(_backward_lanes(names, 1, two))
    lines += [f"    acc{a} = acc[{a} * L:{a + 1} * L]" for a in sorted(names.acc.values())]
    lines += _time_header(True) + ["        dout_t = dout[t if dout.shape[0] > 1 else 0]"]
    passthrough = [f"dN{k}[b] = dS{k}[b]" for k in range(n_states)]
    if two:
        used, lanes = stages[0]
        lines += _rows(names, used, lanes, ["g2[b] = zero"] + passthrough)
        lines.append("        gemm_packed(g2[lo:hi], w2_packed, dmid[lo:hi], 0.0, row_chunk2)")
    used, lanes = stages[-1]
    lines += _rows(names, used, lanes, ["g[b] = zero"] + ([] if two else passthrough))
    lines.append("        if want_norms:")
    lines += [f"            row_norms(dS{k}[lo:hi], norms{k}[t, lo:hi])" for k in range(n_states)]
    lines += ["        if dx.shape[0] == T:",
              "            project_rows(g[lo:hi], w_x_t, dx[t, lo:hi])"]
    if plan.weight_h is not None:
        lines.append(f"        gemm_packed(g[lo:hi, {plan.h_first} * L:], w_packed, "
                     f"dN{plan.rec_state}[lo:hi], 1.0, row_chunk)")
    lines += [f"        dS{k}[lo:hi] = dN{k}[lo:hi]" for k in range(n_states)]
    return lines + ["    restore_denormals(previous_fp)", ""]


def module_source(plan: Plan, dtype_name: str) -> tuple[str, dict]:
    """The generated module's text and {(param, piece): [accumulator columns]}."""
    names = _Names(plan)
    forward = forward_source(plan, names)
    backward = backward_source(plan, names)
    head = [f'"""Generated by minigrad.compiler (generator {GENERATOR_VERSION}): fused '
            'recurrence kernels. Do not edit."""', "",
            "import numpy as np", "from numba import njit", "",
            "from minigrad.backends.cpu_blas import denormals_off, gemm_packed, "
            "restore_denormals",
            "from minigrad.backends.cpu_recurrent_loops import project_rows, row_norms",
            "from minigrad.backends.scalar_rules import compiled", "",
            f"_lib = compiled('cpu', np.{dtype_name})"]
    head += [f"R_{name} = _lib.{name}" for name in sorted(names.rules)]
    head += [f"{name} = np.{dtype_name}({value!r})" for value, name in names.consts.items()]
    return "\n".join(head + ["", ""] + forward + [""] + backward), dict(names.param_acc)
