"""What backward reads, and where it finds it; the stage and the reduction phase of every value.

Backward reads what the rules' derivatives use (``Rule.uses``). States, parameters and numbers are
at hand; additions, subtractions, products and unary functions of states are recomputed; the rest
(gate activations) is written by the forward over slots whose raw product backward does not need,
else into an extra buffer. Stage-1 values a second stage reads are carried in their own buffer,
and so is the intermediate of the stage-2 product.
"""

from __future__ import annotations

from ..backends.scalar_rules import RULES

CHEAP = ("add", "sub", "mul", "neg")
OPS = ("rule", "rowsum")  # values computed from others: key[2:] are their arguments


def has_grad(values) -> list:
    """Per value: does any gradient flow through it (it depends on a slot, state or param)."""
    flags = []
    for key in values:
        if key[0] in OPS:
            flags.append(any(flags[a] for a in key[2:]))
        else:
            flags.append(key[0] != "const")
    return flags


def derivative_reads(key, v) -> list:
    """The values the rule's derivatives read: its inputs and/or its output, per Rule.uses."""
    rule = RULES[key[1]]
    names = ("x",) if rule.arity == 1 else ("a", "b")
    reads = [a for name, a in zip(names, key[2:]) if name in rule.uses]
    return reads + ([v] if "y" in rule.uses else [])


def saved_values(plan) -> None:
    """Decide, for every value backward reads, whether it is at hand, recomputed or stored."""
    values = plan.values
    grad = has_grad(values)
    new_state = {v for ids in plan.outputs for v in ids}
    reads = set()
    for v, key in enumerate(values):
        if key[0] == "rule" and grad[v]:
            reads.update(derivative_reads(key, v))
    decided: dict = {}
    mid_home, carry_home = set(plan.mid_operand), set(plan.carried)
    raw_slot2 = {values[v][1] for v in range(len(values)) if values[v][0] == "slot2"}

    def at_hand(v):  # a state, parameter, number or new state: read, never stored
        return values[v][0] in ("state", "param", "const") or v in new_state

    def resolve(v):
        if v in decided:
            return decided[v]
        key = values[v]
        if v in mid_home or v in carry_home or v in plan.row_scalars:
            how = "free"  # row scalars: every one is kept in the stats columns
        elif key[0] == "slot2":
            how = "raw"
        elif key[0] == "slot":
            plan.raw_slots.add(key[1])
            how = "raw"
        elif key[0] in ("state", "param", "const") or v in new_state:
            how = "free"
        elif key[1] in CHEAP or (RULES[key[1]].arity == 1 and at_hand(key[2])):
            for a in key[2:]:
                resolve(a)
            plan.recompute.add(v)
            how = "recompute"
        else:
            how = "stored"
        decided[v] = how
        return how

    for v in sorted(reads):
        resolve(v)
    stored = sorted(v for v, how in decided.items() if how == "stored")
    needed_slot2 = {values[v][1] for v, how in decided.items() if how == "raw" and
                    values[v][0] == "slot2"}
    free = {1: [s for s in range(plan.n_slots) if s not in plan.raw_slots],
            2: [s for s in sorted(raw_slot2) if s not in needed_slot2]}
    if plan.row_scalars:  # later forward passes read the raw slots again: keep them
        free = {1: [], 2: []}
    for v in stored:
        stage = plan.stage[v]
        own = _slot_ancestors(values, v, "slot" if stage == 1 else "slot2")
        pick = next((s for s in own if s in free[stage]), None)
        if pick is None and free[stage]:
            pick = free[stage][0]
        if pick is None:
            plan.stored[v] = ("extra", plan.n_extra)
            plan.n_extra += 1
        else:
            free[stage].remove(pick)
            plan.stored[v] = ("slot" if stage == 1 else "slot2", pick)


def _slot_ancestors(values, v, kind) -> list:
    found, stack, seen = [], [v], set()
    while stack:
        u = stack.pop()
        if u in seen:
            continue
        seen.add(u)
        key = values[u]
        if key[0] == kind:
            found.append(key[1])
        elif key[0] in OPS:
            stack.extend(key[2:])
    return found


def row_phases(plan) -> None:
    """Per value, how many row reductions lie behind it (its forward pass), which values are
    per-row scalars, and their columns in the stats (after the extra lanes)."""
    lane = []
    for v, key in enumerate(plan.values):
        if key[0] == "rowsum":
            plan.phase.append(max(plan.phase[a] for a in key[2:]) + 1)
            plan.row_scalars.add(v)
        elif key[0] == "rule":
            plan.phase.append(max(plan.phase[a] for a in key[2:]))
            if not any(lane[a] for a in key[2:]) and \
                    any(a in plan.row_scalars for a in key[2:]):
                plan.row_scalars.add(v)
        else:
            plan.phase.append(0)
        lane.append(key[0] in ("slot", "slot2", "state", "param") or
                    (key[0] == "rule" and any(lane[a] for a in key[2:])))
    plan.stats = {v: n for n, v in enumerate(sorted(plan.row_scalars))}


def stages(plan) -> None:
    """Stage 2 = values computed from the product of an intermediate; stage-1 values that
    stage 2 reads are carried over in a per-step buffer."""
    plan.stage = []
    for key in plan.values:
        if key[0] == "slot2":
            plan.stage.append(2)
        elif key[0] in OPS:
            plan.stage.append(max(plan.stage[a] for a in key[2:]))
        else:
            plan.stage.append(1)
    carried = set()
    for v, key in enumerate(plan.values):
        if key[0] == "rule" and plan.stage[v] == 2:
            for a in key[2:]:
                if plan.stage[a] == 1 and plan.values[a][0] in ("rule", "slot"):
                    carried.add(a)
    plan.carried = sorted(carried)

