"""The lane passes of a step with row reductions (layer norm): per batch row, forward runs one
lane loop per reduction depth and backward the same passes in reverse.

Forward, pass k computes the lane values behind k reductions, adds the arguments of the row
sums of depth k + 1 into per-row scalars, and after its loop the scalar rules of those row
scalars (mean, variance, 1 / sqrt(var + eps)); lane values a later pass reads go to a row
scratch (``scr``). Every row scalar is stored in the stats columns of ``extra`` (after the extra
lanes). Backward reads them back, then runs the passes from the deepest down: a lane value's
derivative terms go to values of its own pass directly, to values of earlier passes through a
gradient scratch (``gscr``) and to row scalars as sums over the lanes (``gr<v>``); after a pass's
loop the row scalars of that depth hand their gradients on (scalar rules) and, in the next pass,
each row sum's gradient reaches every lane of its argument (the derivative of a sum).
"""

from __future__ import annotations

from .lanes import Names, compute_of, derivative_terms, home_of, home_source, lane_view, materialise
from .saved import CHEAP, derivative_reads, has_grad

LOOP = "for j in range(L):"


class _Info:
    """Lane flags, the scratch columns and the row sums each value feeds."""

    def __init__(self, plan):
        self.lane = []
        for v, key in enumerate(plan.values):
            if v in plan.row_scalars or key[0] == "const":
                self.lane.append(False)
            elif key[0] == "rule":
                self.lane.append(any(self.lane[a] for a in key[2:]))
            else:
                self.lane.append(True)
        self.sums_of = {}   # lane value -> row sums it is an argument of
        self.cross = set()  # lane values a later pass reads
        for v, key in enumerate(plan.values):
            if key[0] == "rowsum":
                for a in key[2:]:
                    self.sums_of.setdefault(a, []).append(v)
                    if plan.phase[a] < plan.phase[v] - 1 and plan.values[a][0] == "rule":
                        self.cross.add(a)
            elif key[0] == "rule" and self.lane[v]:
                for a in key[2:]:
                    if self.lane[a] and plan.phase[a] < plan.phase[v] and \
                            plan.values[a][0] == "rule":
                        self.cross.add(a)
        # a later pass reads new states and stored values where forward wrote them, and
        # recomputes sums, differences and products of leaves and row scalars (fewer arrays in
        # a lane loop: LLVM vectorises it only while it can check them all for overlap)
        new_state = {v for ids in plan.outputs for v in ids}
        self.reread = {v for v in range(len(plan.values)) if v in new_state or v in plan.stored}
        self.cheap = {v for v in self.cross if v not in self.reread and self._cheap(plan, v)}
        self.cross -= self.reread | self.cheap
        self.scr = {v: n for n, v in enumerate(sorted(self.cross))}

    def _cheap(self, plan, v) -> bool:
        key = plan.values[v]
        if key[0] != "rule" or v in plan.row_scalars or v in self.reread:
            return True
        return key[1] in CHEAP and all(self._cheap(plan, a) for a in key[2:])
        self.gscr = {}      # lane value -> gradient scratch column (set by backward)


def _new_state(names, v, used) -> str:
    return f"{lane_view(used, 'next', names.new_state[v])}[j]"


def _consts(names) -> list:
    return [f"v{v} = {names.const(key[1])}" for v, key in enumerate(names.plan.values)
            if key[0] == "const"]


ROW_TOTAL = """
@njit(inline="always", error_model="numpy", fastmath={"contract"}, boundscheck=False)
def row_total(a):
    n = a.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = a.dtype.type(0.0)
    m = n - n % 8
    for j in range(0, m, 8):
        s0 += a[j]
        s1 += a[j + 1]
        s2 += a[j + 2]
        s3 += a[j + 3]
        s4 += a[j + 4]
        s5 += a[j + 5]
        s6 += a[j + 6]
        s7 += a[j + 7]
    for j in range(m, n):
        s0 += a[j]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
"""


def _scalar(plan, v) -> str:
    return f"extra[t, b, NX + {plan.stats[v]}]"


def forward_rows(names: Names):
    """(views used, row-level lines: the passes' lane loops and scalar code) of forward."""
    plan, info = names.plan, _Info(names.plan)
    names.scratch = len(info.scr)
    used, lines = set(), _consts(names)
    roots = set(names.new_state) | set(plan.stored)
    for k in range(plan.n_phases):
        done, body = set(), []

        def emit(v, done=done, body=body, k=k):
            if v in done:
                return
            done.add(v)
            key = plan.values[v]
            if v in plan.row_scalars:
                return  # a variable of the row, computed after an earlier pass
            if key[0] == "rule" and info.lane[v] and plan.phase[v] < k and v in info.scr:
                body.append(f"v{v} = {lane_view(used, 'scr', info.scr[v])}[j]")
            elif v in info.reread and plan.phase[v] < k:
                body.append(f"v{v} = {home_of(names, v, used) or _new_state(names, v, used)}")
            elif key[0] == "rule":
                for a in key[2:]:
                    emit(a)
                body.append(compute_of(names, v))
            else:
                body.append(f"v{v} = {home_source(names, v, used, 1)}")

        sums = [v for v in sorted(plan.row_scalars) if plan.values[v][0] == "rowsum" and
                plan.phase[v] == k + 1]
        for v in sorted(roots | info.cross):
            if info.lane[v] and plan.phase[v] == k:
                emit(v)
        for v in sums:
            for a in plan.values[v][2:]:
                emit(a)
        stores = [f"{lane_view(used, where, n)}[j] = v{v}" for v, (where, n) in
                  sorted(plan.stored.items()) if plan.phase[v] == k]
        stores += [f"{lane_view(used, 'scr', n)}[j] = v{v}" for v, n in info.scr.items()
                   if plan.phase[v] == k]
        stores += [f"{lane_view(used, 'next', (s, p))}[j] = v{v}"
                   for s, ids in enumerate(plan.outputs) for p, v in enumerate(ids)
                   if plan.phase[v] == k]
        stores += [f"{lane_view(used, 'red', n)}[j] = "
                   f"{' + '.join(f'v{a}' for a in plan.values[s][2:])}" for n, s in enumerate(sums)]
        names.reductions = max(names.reductions, len(sums))
        lines += [LOOP] + ["    " + x for x in body + stores]
        lines += [f"v{s} = row_total({lane_view(used, 'red', n)})" for n, s in enumerate(sums)]
        for v in sorted(plan.row_scalars):  # the row scalars of depth k + 1
            if plan.phase[v] == k + 1:
                if plan.values[v][0] == "rule":
                    lines.append(compute_of(names, v))
                lines.append(f"{_scalar(plan, v)} = v{v}")
    return used, lines


def backward_rows(names: Names):
    """(views used, row-level lines) of backward: the passes in reverse, gradients of the
    slots, states and vector parameters in pass 0 as the one-pass sweep writes them."""
    plan, info = names.plan, _Info(names.plan)
    values, grad = plan.values, has_grad(plan.values)
    used, lines = set(), _consts(names)
    scalars = sorted(plan.row_scalars)
    lines += [f"v{v} = {_scalar(plan, v)}" for v in scalars]
    lines += [f"gr{v} = zero" for v in scalars if grad[v]]
    late, written = {}, set()  # lane value -> gradient scratch column; columns written

    for k in range(plan.n_phases - 1, -1, -1):
        available, body, contributions, totals, sweep = set(plan.row_scalars), [], {}, {}, []
        partial = {}  # row scalar -> its per-lane partial sum column in this pass

        def need(v, available=available, body=body):
            materialise(names, v, used, available, body)

        for s, ids in enumerate(plan.outputs):
            for p, v in enumerate(ids):
                if plan.phase[v] == k:
                    seed = f"{lane_view(used, 'dS', (s, p))}[j]"
                    if s == 0:
                        seed += f" + {lane_view(used, 'dout', p)}[j]"
                    contributions.setdefault(v, []).append(f"({seed})")
        for v in range(len(values) - 1, -1, -1):
            if not info.lane[v] or plan.phase[v] != k or not grad[v]:
                continue
            terms = contributions.get(v, []) + [f"gr{s}" for s in info.sums_of.get(v, [])]
            if v in late:
                terms.append(f"{lane_view(used, 'gscr', late[v])}[j]")
            if not terms:
                continue
            sweep.append(f"g{v} = {' + '.join(terms)}")
            totals[v] = f"g{v}"
            key = values[v]
            if key[0] != "rule":
                continue
            reads = derivative_reads(key, v)
            for a in reads:
                need(a)
            for a, term in derivative_terms(names, key, v, reads, totals[v], grad):
                if a in plan.row_scalars:
                    op = "+=" if a in partial else "="
                    column = partial.setdefault(a, len(partial))
                    sweep.append(f"{lane_view(used, 'red', column)}[j] {op} {term}")
                elif values[a][0] == "param":
                    sweep.append(f"acc{_param_column(names, a)}[j] += {term}")
                elif plan.phase[a] < k:
                    column = late.setdefault(a, len(late))
                    op = "+=" if column in written else "="
                    written.add(column)
                    sweep.append(f"{lane_view(used, 'gscr', column)}[j] {op} {term}")
                else:
                    contributions.setdefault(a, []).append(term)
        stores = []
        if k == 0:
            stores = _leaf_stores(names, used, contributions, totals, info)
        stores += [f"{lane_view(used, 'dS', (s, p))}[j] = {totals.get(v, 'zero')}"
                   for s, ids in enumerate(plan.outputs) for p, v in enumerate(ids)
                   if plan.phase[v] == k]
        lines += [LOOP] + ["    " + x for x in body + sweep + stores]
        lines += [f"gr{a} += row_total({lane_view(used, 'red', n)})" for a, n in partial.items()]
        names.reductions = max(names.reductions, len(partial))
        for v in reversed(scalars):  # row scalars of depth k hand their gradients on
            key = values[v]
            if plan.phase[v] != k or key[0] != "rule" or not grad[v]:
                continue
            reads = derivative_reads(key, v)
            for a, term in derivative_terms(names, key, v, reads, f"gr{v}", grad):
                if a in plan.row_scalars:
                    lines.append(f"gr{a} += {term}")
    names.gscratch = len(late)
    return used, lines



def _leaf_stores(names, used, contributions, totals, info):
    """Pass 0: the products' gradients over the slots, dN of the states, parameter sums."""
    plan, values = names.plan, names.plan.values

    def total(v):
        if v in totals:
            return totals[v]
        terms = contributions.get(v)
        return " + ".join(terms) if terms else "zero"

    stores = [f"{lane_view(used, 'slot', s)}[j] = {total(values.index(('slot', s)))}"
              for s in range(plan.n_slots)]
    for k, pieces in enumerate(plan.state_pieces):
        for p in range(pieces):
            key = ("state", k, p)
            value = total(values.index(key)) if key in values else "zero"
            stores.append(f"{lane_view(used, 'dN', (k, p))}[j] = {value}")
    for v, key in enumerate(values):
        if key[0] == "param" and v in totals:
            stores.append(f"acc{_param_column(names, v)}[j] += {totals[v]}")
    return stores


def _param_column(names, v) -> int:
    """The float64 accumulator column of parameter piece v (every pass adds into it)."""
    key = names.plan.values[v]
    if f"param {v}" not in names.acc:
        names.acc[f"param {v}"] = len(names.acc)
        names.param_acc.setdefault((key[1], key[2]), []).append(names.acc[f"param {v}"])
    return names.acc[f"param {v}"]
