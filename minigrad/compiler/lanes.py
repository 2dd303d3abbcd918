"""The lane loops of the generated kernels: one stage's forward or backward over the L lanes of
a batch row (loads through per-piece views, the rules, stores), shared by the code generators.
On the CPU a piece is W lanes wide and a thread runs its lanes u0:u1 (L = u1 - u0; all of them
unless the threads split the units, cpu_runtime), so the views start at u0."""

from __future__ import annotations

import re

import numpy as np

from ..backends.scalar_rules import RULES, python
from .plan import Plan
from .saved import derivative_reads, has_grad

_VIEWS = {"slot": ("sl", "g[b, {a}]"), "slot2": ("sm", "g2[b, {a}]"),
          "extra": ("ex", "extra[t, b, {a}]"), "carry": ("cr", "carry[t, b, {a}]"),
          "mid": ("md", "mid[t, b, {a}]"), "dcarry": ("dcr", "dcarry[b, {a}]"),
          "dmid": ("dmd", "dmid[b, {a}]"), "dout": ("do_", "dout_t[b, {a}]"),
          "scr": ("sc", "scr[{a}]"), "gscr": ("gs", "gscr[{a}]"), "red": ("rd", "red[{a}]")}


class Names:
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
        self.scratch = self.gscratch = self.reductions = 0  # row scratch of row reductions

    def const(self, value) -> str:
        return self.consts.setdefault(value, f"C{len(self.consts)}")

    def rule(self, name: str) -> str:
        self.rules.add(name)
        return f"R_{name}"

    def state_buffer(self, k: int) -> tuple[str, str]:
        return ("xh", "I") if k == self.plan.rec_state else (f"st{k}", "0")


def lane_view(used: set, kind: str, index) -> str:
    used.add((kind, index))
    if kind in ("prev", "next", "dS", "dN"):
        return f"{kind[0].lower()}{kind[1].lower()}{index[0]}_{index[1]}"
    return f"{_VIEWS[kind][0]}{index}"


def home_of(names: Names, v: int, used: set) -> str | None:
    """Where value v can be read without computing it (a view element or a constant)."""
    plan, key = names.plan, names.plan.values[v]
    if v in plan.stored:
        where, n = plan.stored[v]
        return f"{lane_view(used, where, n)}[j]"
    if v in names.mid_index:
        return f"{lane_view(used, 'mid', names.mid_index[v])}[j]"
    if v in names.carry_index:
        return f"{lane_view(used, 'carry', names.carry_index[v])}[j]"
    return leaf_home(names, key, used)


def leaf_home(names: Names, key: tuple, used: set) -> str | None:
    """A leaf's element in a lane loop: its slot, the state before the step, a vector parameter
    or a constant (None for a computed value)."""
    if key[0] in ("slot", "slot2"):
        return f"{lane_view(used, key[0], key[1])}[j]"
    if key[0] == "state":
        return f"{lane_view(used, 'prev', (key[1], key[2]))}[j]"
    if key[0] == "param":
        return f"vec_{key[1]}_{key[2]}[j]"
    if key[0] == "const":
        return names.const(key[1])
    return None


def compute_of(names: Names, v: int) -> str:
    key = names.plan.values[v]
    return f"v{v} = {names.rule(key[1])}({', '.join(f'v{a}' for a in key[2:])})"


def row_views(names: Names, used: set, indent: str) -> list[str]:
    lines = []
    for kind, index in sorted(used, key=str):
        if kind in ("prev", "next"):
            k, p = index
            buffer, offset = names.state_buffer(k)
            slot = "prev" if kind == "prev" else "nxt"
            lines.append(f"{lane_view(set(), kind, index)} = {buffer}[{slot}, b, "
                         f"{offset} + {p} * W + u0:{offset} + {p} * W + u1]")
        elif kind in ("dS", "dN"):
            k, p = index
            lines.append(f"{lane_view(set(), kind, index)} = "
                         f"{kind}{k}[b, {p} * W + u0:{p} * W + u1]")
        else:
            target = _VIEWS[kind][1].format(a=f"{index} * W + u0:{index} * W + u1")
            lines.append(f"{_VIEWS[kind][0]}{index} = {target}")
    return [indent + line for line in lines]


def _stage_of(names: Names, v: int) -> int:
    return names.plan.stage[v] if names.plan.stage else 1


def forward_lanes(names: Names, stage: int):
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
            body.append(compute_of(names, v))
        else:
            home = home_source(names, v, used, stage)
            body.append(f"v{v} = {home}")

    for v in sorted(set(roots)):
        emit(v)
    stores = []
    for v, (where, n) in sorted(plan.stored.items()):
        if _stage_of(names, v) == stage:
            stores.append(f"{lane_view(used, where, n)}[j] = v{v}")
    if stage == 1:
        stores += [f"{lane_view(used, 'carry', n)}[j] = v{v}" for n, v in enumerate(plan.carried)]
        stores += [f"{lane_view(used, 'mid', p)}[j] = v{v}" for p, v in enumerate(plan.mid_operand)]
    for k, ids in enumerate(plan.outputs):
        for p, v in enumerate(ids):
            if _stage_of(names, v) == stage:
                stores.append(f"{lane_view(used, 'next', (k, p))}[j] = v{v}")
    return used, body + stores


def home_source(names, v, used, stage):
    """Forward: a leaf or a value of an earlier stage (carried over, or the intermediate)."""
    key = names.plan.values[v]
    if stage == 2 and v in names.carry_index:
        return f"{lane_view(used, 'carry', names.carry_index[v])}[j]"
    if stage == 2 and v in names.mid_index and key[0] == "rule":
        return f"{lane_view(used, 'mid', names.mid_index[v])}[j]"
    home = leaf_home(names, key, used)
    return names.const(key[1]) if home is None else home


def constant_slope(rule: str, suffix: str):
    """The derivative's value when it reads nothing (add: 1, sub: 1 and -1), else None."""
    if RULES[rule].uses:
        return None
    fn = getattr(python(np.float64), rule + suffix)
    return float(fn(*([0.0] * (RULES[rule].arity + 1))))


def derivative_terms(names: Names, key, v, reads, total, grad):
    """(argument, derivative term) pairs of rule value v given its gradient `total` (an
    expression): the slope is inlined when it is the constant 1 or -1."""
    rule = RULES[key[1]]
    args = [f"v{a}" if a in reads else "zero" for a in key[2:]]
    y = f"v{v}" if "y" in rule.uses else "zero"
    for a, suffix in zip(key[2:], ["_d"] if rule.arity == 1 else ["_da", "_db"]):
        if grad[a]:
            slope = constant_slope(key[1], suffix)
            if slope == 1.0:
                yield a, total
            elif slope == -1.0:
                yield a, f"-{total}"
            else:
                yield a, f"{total} * {names.rule(key[1] + suffix)}({', '.join(args)}, {y})"


def materialise(names: Names, v: int, used: set, available: set, body: list) -> None:
    """Append to `body` the lines that make value v (and what it needs) available in a
    backward lane loop: read from where forward left it, else recomputed from its arguments."""
    if v in available:
        return
    available.add(v)
    home = home_of(names, v, used)
    if home is None and v in names.new_state:
        home = f"{lane_view(used, 'next', names.new_state[v])}[j]"
    if home is not None:
        body.append(f"v{v} = {home}")
        return
    for a in names.plan.values[v][2:]:
        materialise(names, a, used, available, body)
    body.append(compute_of(names, v))


def backward_lanes(names: Names, stage: int, two_stage: bool):
    """(views used, lane-loop lines) of one stage's backward sweep."""
    plan = names.plan
    values, grad = plan.values, has_grad(plan.values)
    used, body, available = set(), [], set()

    def need(v):
        materialise(names, v, used, available, body)

    contributions: dict = {}
    for k, ids in enumerate(plan.outputs):
        for p, v in enumerate(ids):
            if _stage_of(names, v) == stage:
                seed = f"{lane_view(used, 'dS', (k, p))}[j]"
                if k == 0:
                    seed += f" + {lane_view(used, 'dout', p)}[j]"
                contributions.setdefault(v, []).append(f"({seed})")
    if stage == 1 and two_stage:
        for n, v in enumerate(plan.carried):
            contributions.setdefault(v, []).append(f"{lane_view(used, 'dcarry', n)}[j]")
        for p, v in enumerate(plan.mid_operand):
            contributions.setdefault(v, []).append(f"{lane_view(used, 'dmid', p)}[j]")
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
        reads = derivative_reads(key, v)
        for a in reads:
            need(a)
        for a, term in derivative_terms(names, key, v, reads, totals[v], grad):
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
        stores.append(f"{lane_view(used, slot_kind, s)}[j] = {total(v)}")
    if stage == 2:
        for n, v in enumerate(plan.carried):
            stores.append(f"{lane_view(used, 'dcarry', n)}[j] = {total(v)}")
    for k, pieces in enumerate(plan.state_pieces):
        for p in range(pieces):
            key = ("state", k, p)
            value = total(values.index(key)) if key in values else "zero"
            if stage == 1 and two_stage:
                if value != "zero":
                    stores.append(f"{lane_view(used, 'dN', (k, p))}[j] += {value}")
            else:
                stores.append(f"{lane_view(used, 'dN', (k, p))}[j] = {value}")
    for k, ids in enumerate(plan.outputs):
        for p, v in enumerate(ids):
            if _stage_of(names, v) == stage:
                stores.append(f"{lane_view(used, 'dS', (k, p))}[j] = {total(v)}")
    for v, key in enumerate(values):
        if key[0] == "param" and contributions.get(v):
            acc_key = " + ".join(contributions[v])
            if acc_key not in names.acc:  # parameters with the same gradient share a column
                names.acc[acc_key] = len(names.acc)
                stores.append(f"acc{names.acc[acc_key]}[j] += {total(v)}")
            names.param_acc.setdefault((key[1], key[2]), []).append(names.acc[acc_key])
    return used, body + sweep + stores


_SLOT_STORE = re.compile(r"^(sl|sm)(\d+)\[j\] = (.+)$")
_ACC_ADD = re.compile(r"^acc(\d+)\[j\] \+= (.+)$")


def slot_sums(lines: list[str]) -> tuple[list[str], dict]:
    """Split off a backward lane loop's accumulations whose term is a slot's stored gradient (the
    LSTM's biases: the gradient of the gate's slot): (the other lines, {accumulator column:
    (view prefix "sl" or "sm", slot)}). The CPU adds those slots into the float64 columns in a
    loop of their own, so the lane loop holds no float64 and vectorises at the full float32
    width; CUDA takes the slot's column sum after the time loop."""
    stored = {}
    for line in lines:
        m = _SLOT_STORE.match(line)
        if m:
            stored.setdefault(m.group(3), (m.group(1), int(m.group(2))))
    kept, from_slot = [], {}
    for line in lines:
        m = _ACC_ADD.match(line)
        if m and m.group(2) in stored:
            from_slot[int(m.group(1))] = stored[m.group(2)]
            continue
        kept.append(line)
    return kept, from_slot
