"""Generate the Numba source of a planned step: the forward and backward time loops (CPU).

The loops are shaped like the hand-written ones of docs/fused_kernels.md: per step one packed
GEMM with the recurrent weights (accumulated into the step's slots), then per batch row one loop
over the L lanes that loads every piece through its own view, runs the step's rules (calls to
``scalar_rules.compiled("cpu", dtype).<rule>``, inlined), and stores new states and saved values;
backward overwrites the slots with the gradients of the products in place, accumulates vector
parameter gradients in float64 and runs one GEMM for dL/d(state before the step).

Kernel arguments (the runtime passes them in this order):
forward(buf, extra, xh, <other state buffers>, w_packed, <vector params>, steps, reverse, lo, hi,
        row_chunk)
backward(buf, extra, xh, <other state buffers>, w_packed, w_x_t, dout, <dS per state>,
         <dN per state>, <vector params>, acc, dx, steps, reverse, <norms per state>, lo, hi,
         row_chunk)
"""

from __future__ import annotations

import numpy as np

from ..backends.scalar_rules import RULES, python
from .plan import Plan, derivative_reads, has_grad

GENERATOR_VERSION = 1
_JIT = ('cache=True, error_model="numpy", fastmath={"contract"}, boundscheck=False, '
        'nogil=True')


class _Names:
    """Variable names of the generated code."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.consts = {}
        self.rules = set()
        self.acc = {}

    def const(self, value) -> str:
        return self.consts.setdefault(value, f"C{len(self.consts)}")

    def rule(self, name: str) -> str:
        self.rules.add(name)
        return f"R_{name}"

    def state(self, k: int, when: str, p: int) -> str:
        return f"s{when}{k}_{p}"

    def state_buffer(self, k: int) -> tuple[str, str]:
        return ("xh", "I") if k == self.plan.rec_state else (f"st{k}", "0")


def _state_args(plan: Plan) -> list[str]:
    return [f"st{k}" for k in range(len(plan.state_pieces)) if k != plan.rec_state]


def _vector_args(plan: Plan) -> list[str]:
    return [f"vec_{name}" for name in plan.vectors]


def _load(names: _Names, v: int, used_views: set) -> str:
    """The expression that loads value v in the lane loop (a view read or a constant)."""
    key = names.plan.values[v]
    if key[0] == "slot":
        used_views.add(("slot", key[1]))
        return f"sl{key[1]}[j]"
    if key[0] == "state":
        used_views.add(("prev", key[1], key[2]))
        return f"{names.state(key[1], 'p', key[2])}[j]"
    if key[0] == "param":
        return f"vec_{key[1]}_{key[2]}[j]"
    if key[0] == "const":
        return names.const(key[1])
    raise AssertionError(key)


def _compute(names: _Names, v: int) -> str:
    key = names.plan.values[v]
    args = ", ".join(f"v{a}" for a in key[2:])
    return f"v{v} = {names.rule(key[1])}({args})"


def _views(names: _Names, used: set, indent: str) -> list[str]:
    """Per-row views: slots of buf[t], pieces of states, extras, gradients."""
    lines = []
    for view in sorted(used, key=str):
        kind = view[0]
        if kind == "slot":
            lines.append(f"sl{view[1]} = g[b, {view[1]} * L:{view[1] + 1} * L]")
        elif kind in ("prev", "next"):
            k, p = view[1], view[2]
            buffer, offset = names.state_buffer(k)
            slot = "prev" if kind == "prev" else "nxt"
            lines.append(f"{names.state(k, kind[0], p)} = {buffer}[{slot}, b, {offset} + {p} * L:"
                         f"{offset} + {p + 1} * L]")
        elif kind == "extra":
            lines.append(f"ex{view[1]} = extra[t, b, {view[1]} * L:{view[1] + 1} * L]")
        elif kind == "dS":
            lines.append(f"ds{view[1]}_{view[2]} = dS{view[1]}[b, {view[2]} * L:"
                         f"{view[2] + 1} * L]")
        elif kind == "dN":
            lines.append(f"dn{view[1]}_{view[2]} = dN{view[1]}[b, {view[2]} * L:"
                         f"{view[2] + 1} * L]")
        elif kind == "dout":
            lines.append(f"do_{view[1]} = dout_t[b, {view[1]} * L:{view[1] + 1} * L]")
    return [indent + line for line in lines]


def _vector_views(plan: Plan, indent: str) -> list[str]:
    return [f"{indent}vec_{name}_{p} = vec_{name}[{p} * L:{p + 1} * L]"
            for name, n in plan.vectors.items() for p in range(n)]


def _time_header(indent: str, backward: bool) -> list[str]:
    order = "s if reverse else T - 1 - s" if backward else "T - 1 - s if reverse else s"
    return [f"{indent}for s in range(T):", f"{indent}    t = {order}",
            f"{indent}    prev = t + 1 if reverse else t",
            f"{indent}    nxt = t if reverse else t + 1",
            f"{indent}    g = buf[t]"]


def _prologue(plan: Plan) -> list[str]:
    rec_width = plan.state_pieces[plan.rec_state]
    return ["    previous_fp = denormals_off()", "    T = buf.shape[0]",
            f"    L = buf.shape[2] // {plan.n_slots}", f"    I = xh.shape[2] - {rec_width} * L",
            "    one = buf.dtype.type(1.0)", "    zero = buf.dtype.type(0.0)"]


def forward_source(plan: Plan, names: _Names) -> list[str]:
    """The forward time loop."""
    args = ["buf", "extra", "xh", *_state_args(plan), "w_packed", *_vector_args(plan), "steps",
            "reverse", "lo", "hi", "row_chunk"]
    lines = ["@njit(" + _JIT + ")", f"def forward({', '.join(args)}):"]
    lines += _prologue(plan) + _vector_views(plan, "    ") + _time_header("    ", False)
    if plan.weight_h is not None:
        lines.append(f"        gemm_packed(xh[prev, lo:hi, I:], w_packed, g[lo:hi, "
                     f"{plan.h_first} * L:], {1.0 if plan.h_first < plan.x_slots else 0.0}, "
                     "row_chunk)")
    lines += ["        for b in range(lo, hi):", "            if t >= steps[b]:"]
    for k in range(len(plan.state_pieces)):
        buffer, offset = names.state_buffer(k)
        lines.append(f"                {buffer}[nxt, b, {offset}:] = {buffer}[prev, b, {offset}:]")
    lines.append("                continue")
    needed = set(v for ids in plan.outputs for v in ids) | set(plan.stored)
    order = _closure(plan, needed)
    used, body, stores = set(), [], []
    for v in order:
        key = plan.values[v]
        body.append(_compute(names, v) if key[0] == "rule"
                    else f"v{v} = {_load(names, v, used)}")
    for v, (where, n) in sorted(plan.stored.items()):
        if where == "slot":
            used.add(("slot", n))
            stores.append(f"sl{n}[j] = v{v}")
        else:
            used.add(("extra", n))
            stores.append(f"ex{n}[j] = v{v}")
    for k, ids in enumerate(plan.outputs):
        for p, v in enumerate(ids):
            used.add(("next", k, p))
            stores.append(f"{names.state(k, 'n', p)}[j] = v{v}")
    lines += _views(names, used, "            ")
    lines.append("            for j in range(L):")
    lines += ["                " + line for line in body + stores]
    lines += ["    restore_denormals(previous_fp)", ""]
    return lines


def _closure(plan: Plan, roots) -> list[int]:
    """roots and every value they are computed from, in topological order."""
    seen, stack = set(), list(roots)
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            if plan.values[v][0] == "rule":
                stack.extend(plan.values[v][2:])
    return sorted(seen)


def backward_source(plan: Plan, names: _Names) -> list[str]:
    """The reverse time loop: slot gradients in place, states' gradients, vector accumulators."""
    n_states = len(plan.state_pieces)
    args = ["buf", "extra", "xh", *_state_args(plan), "w_packed", "w_x_t", "dout",
            *[f"dS{k}" for k in range(n_states)], *[f"dN{k}" for k in range(n_states)],
            *_vector_args(plan), "acc", "dx", "steps", "reverse",
            *[f"norms{k}" for k in range(n_states)], "lo", "hi", "row_chunk"]
    lines = ["@njit(" + _JIT + ")", f"def backward({', '.join(args)}):"]
    lines += _prologue(plan) + _vector_views(plan, "    ")
    lines.append("    want_norms = norms0.shape[0] > 0")
    body, used, stores = _backward_body(plan, names)
    for a in sorted(names.acc.values()):
        lines.append(f"    acc{a} = acc[{a} * L:{a + 1} * L]")
    lines += _time_header("    ", True)
    lines += ["        dout_t = dout[t if dout.shape[0] > 1 else 0]",
              "        for b in range(lo, hi):", "            if t >= steps[b]:",
              "                g[b] = zero"]
    for k in range(n_states):
        lines.append(f"                dN{k}[b] = dS{k}[b]")
    lines.append("                continue")
    lines += _views(names, used, "            ")
    lines.append("            for j in range(L):")
    lines += ["                " + line for line in body + stores]
    lines.append("        if want_norms:")
    for k in range(n_states):
        lines.append(f"            row_norms(dS{k}[lo:hi], norms{k}[t, lo:hi])")
    lines += ["        if dx.shape[0] == T:",
              "            project_rows(g[lo:hi], w_x_t, dx[t, lo:hi])"]
    if plan.weight_h is not None:
        lines.append(f"        gemm_packed(g[lo:hi, {plan.h_first} * L:], w_packed, "
                     f"dN{plan.rec_state}[lo:hi], 1.0, row_chunk)")
    for k in range(n_states):
        lines.append(f"        dS{k}[lo:hi] = dN{k}[lo:hi]")
    lines += ["    restore_denormals(previous_fp)", ""]
    return lines


def _backward_body(plan: Plan, names: _Names):
    """Loads, recomputation, the reverse sweep over the rules and the stores of one lane."""
    values, grad = plan.values, has_grad(plan.values)
    used, body, stores = set(), [], []
    available = set()

    def need(v):
        if v in available:
            return
        key = values[v]
        new_state = next(((k, p) for k, ids in enumerate(plan.outputs)
                          for p, u in enumerate(ids) if u == v), None)
        if v in plan.stored:
            where, n = plan.stored[v]
            used.add(("slot", n) if where == "slot" else ("extra", n))
            body.append(f"v{v} = {'sl' if where == 'slot' else 'ex'}{n}[j]")
        elif key[0] in ("slot", "state", "param", "const"):
            body.append(f"v{v} = {_load(names, v, used)}")
        elif new_state is not None:
            used.add(("next", *new_state))
            body.append(f"v{v} = {names.state(new_state[0], 'n', new_state[1])}[j]")
        else:
            for a in key[2:]:
                need(a)
            body.append(_compute(names, v))
        available.add(v)

    contributions: dict = {}
    for k, ids in enumerate(plan.outputs):
        for p, v in enumerate(ids):
            used.add(("dS", k, p))
            seed = f"ds{k}_{p}[j]"
            if k == 0:
                used.add(("dout", p))
                seed += f" + do_{p}[j]"
            contributions.setdefault(v, []).append(f"({seed})")
    sweep = []
    totals = {}
    for v in range(len(values) - 1, -1, -1):
        terms = contributions.get(v)
        if not terms or not grad[v]:
            continue
        key = values[v]
        if len(terms) == 1 and terms[0].isidentifier():
            totals[v] = terms[0]  # one consumer with slope 1: the same gradient, no new name
        else:
            sweep.append(f"g{v} = {' + '.join(terms)}")
            totals[v] = f"g{v}"
        g_v = totals[v]
        if key[0] != "rule":
            continue
        rule = RULES[key[1]]
        for a in derivative_reads(key, v):
            need(a)
        reads = set(derivative_reads(key, v))
        arg_names = [f"v{a}" if a in reads else "zero" for a in key[2:]]
        y = f"v{v}" if "y" in rule.uses else "zero"
        suffixes = ["_d"] if rule.arity == 1 else ["_da", "_db"]
        for a, suffix in zip(key[2:], suffixes):
            if grad[a]:
                slope = _constant_slope(key[1], suffix)
                if slope == 1.0:
                    term = g_v
                elif slope == -1.0:
                    term = f"-{g_v}"
                else:
                    call = f"{names.rule(key[1] + suffix)}({', '.join(arg_names)}, {y})"
                    term = f"{g_v} * {call}"
                contributions.setdefault(a, []).append(term)
    body += sweep
    for s in range(plan.n_slots):
        v = values.index(("slot", s))
        used.add(("slot", s))
        stores.append(f"sl{s}[j] = {totals.get(v, 'zero')}")
    for k, pieces in enumerate(plan.state_pieces):
        for p in range(pieces):
            used.add(("dN", k, p))
            v = values.index(("state", k, p)) if ("state", k, p) in values else None
            stores.append(f"dn{k}_{p}[j] = {totals.get(v, 'zero') if v is not None else 'zero'}")
    for k, ids in enumerate(plan.outputs):
        for p, v in enumerate(ids):
            stores.append(f"ds{k}_{p}[j] = {totals.get(v, 'zero')}")
    for v, key in enumerate(values):
        if key[0] == "param" and v in totals:
            acc_key = _acc_key(contributions[v])
            if acc_key not in names.acc:  # parameters with the same gradient share a column
                names.acc[acc_key] = len(names.acc)
                stores.append(f"acc{names.acc[acc_key]}[j] += {totals[v]}")
    plan_params = {}
    for v, key in enumerate(values):
        if key[0] == "param":
            plan_params[(key[1], key[2])] = names.acc.get(_acc_key(contributions.get(v, [])), -1)
    names.param_acc = plan_params
    return body, used, stores


def _constant_slope(rule: str, suffix: str):
    """The derivative's value when it reads nothing (add: 1, sub: 1 and -1), else None."""
    if RULES[rule].uses:
        return None
    fn = getattr(python(np.float64), rule + suffix)
    return float(fn(*([0.0] * (RULES[rule].arity + 1))))


def _acc_key(terms) -> str:
    return " + ".join(terms)


def module_source(plan: Plan, dtype_name: str) -> tuple[str, dict]:
    """The generated module's text and {(param, piece): accumulator column or -1}."""
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
    for name in sorted(names.rules):
        head.append(f"R_{name} = _lib.{name}")
    for value, name in names.consts.items():
        head.append(f"{name} = np.{dtype_name}({value!r})")
    head += ["", ""]
    return "\n".join(head + forward + [""] + backward), dict(names.param_acc)
