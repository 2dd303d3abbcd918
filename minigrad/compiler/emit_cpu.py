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
forward(buf, buf2, mid, carry, extra, xh, <other state buffers>, w_packed, w_starts, w_widths,
        w2_packed, <vector params>, steps, reverse, <split>)
backward(buf, buf2, mid, carry, extra, xh, <other state buffers>, w_packed, w_starts, w_widths,
         w2_packed, w_x_t, dout, <dS per state>, <dN per state>, dcarry, dmid, <vector params>,
         acc, dx, steps, reverse, <norms per state>, <split>)
with <split> = lo, hi, row_chunk, row_chunk2, u0, u1, r0, r1, sync, parties: a thread runs batch
rows lo:hi and lanes (hidden units) u0:u1 of every piece; the per-step weights are packed as
cpu_blas.pack_ranges tiles of the columns it owns. Split by rows (cpu_runtime, "rows"), u0:u1 is
0:L and the threads never meet; split by units ("units"), every thread runs all rows, its own
units and weight columns, and the `parties` threads meet at barrier.wait once per step (after the
lanes), then take rows r0:r1 of the work that needs whole rows (dx, the norms).
"""

from __future__ import annotations

import hashlib
import inspect

from ..backends import cpu_blas, cpu_tile_gemm, scalar_rules
from ..backends.vectorise import ALIAS_CHECKS
from . import barrier
from .lanes import Names, backward_lanes, forward_lanes, row_views, slot_sums
from .passes import ROW_TOTAL, backward_rows, forward_rows
from .plan import Plan

GENERATOR_VERSION = 6
_JIT = ('cache=True, error_model="numpy", fastmath={"contract"}, boundscheck=False, '
        'nogil=True')

def _time_header(backward: bool) -> list[str]:
    order = "s if reverse else T - 1 - s" if backward else "T - 1 - s if reverse else s"
    return ["    for s in range(T):", f"        t = {order}",
            "        prev = t + 1 if reverse else t", "        nxt = t if reverse else t + 1",
            "        g = buf[t]", "        g2 = buf2[t]"]


def _own(target: str, pieces: int, value: str, at: str = "0") -> list[str]:
    """target = value over this thread's units u0:u1 of each of `pieces` W-wide pieces from
    column `at` (target and value are format strings with {c} for the columns; a value without
    {c} is one number), element by element: a slice assignment of an array would make Numba
    compile its shape-mismatch error (the message's str and join over the shapes: about 2 s of
    each kernel's cold compile). The loop runs over one-dimensional views of the rows, as the
    lane loops do: indexed as row[c0 + j] of the 2-d arrays it did not vectorise (the backward's
    state-gradient copies after each step's GEMM took 0.7 ms of the adding step's 6 ms loop)."""
    columns = "c0 + u0:c0 + u1"
    lines = [f"for q in range({pieces}):", f"    c0 = {at} + q * W",
             f"    own_to = {target.format(c=columns)}"]
    if "{c}" not in value:
        return lines + ["    for j in range(L):", f"        own_to[j] = {value}"]
    return lines + [f"    own_from = {value.format(c=columns)}", "    for j in range(L):",
                    "        own_to[j] = own_from[j]"]


def _prologue(plan: Plan) -> list[str]:
    rec_width = plan.state_pieces[plan.rec_state]
    lines = ["    previous_fp = denormals_off()", "    T = buf.shape[0]",
             f"    W = buf.shape[2] // {plan.n_slots}", f"    I = xh.shape[2] - {rec_width} * W",
             "    L = u1 - u0",
             "    zero = buf.dtype.type(0.0)", "    generation = 0"]
    return lines + [f"    vec_{name}_{p} = vec_{name}[{p} * W + u0:{p} * W + u1]"
                    for name, n in plan.vectors.items() for p in range(n)]



def _rows(names, used, lane_lines, skip, passes=False, sums=None) -> list[str]:
    """The batch-row loop around one lane loop (or, with passes, around row-level lines that
    hold their own lane loops); sums ({column: (view, slot)}, lanes.slot_sums) adds stored slot
    gradients into float64 accumulator columns in a second loop over the row's lanes."""
    lines = ["        for b in range(lo, hi):", "            if t >= steps[b]:"]
    lines += ["                " + line for line in skip] + ["                continue"]
    lines += row_views(names, used, "            ")
    if passes:
        return lines + ["            " + line for line in lane_lines]
    lines.append("            for j in range(L):")
    lines += ["                " + line for line in lane_lines]
    if sums:
        lines.append("            for j in range(L):")
        lines += [f"                acc{a}[j] += {view}{slot}[j]"
                  for a, (view, slot) in sorted(sums.items())]
    return lines


def _scratch(plan: Plan, names) -> list[str]:
    """Row scratch of a step with row reductions; the stats columns follow the extra lanes."""
    if not plan.row_scalars:
        return []
    return [f"    NX = {plan.n_extra} * W",
            f"    scr = np.empty({max(names.scratch, 1)} * L, buf.dtype)",
            f"    gscr = np.empty({max(names.gscratch, 1)} * L, buf.dtype)",
            f"    red = np.empty({max(names.reductions, 1)} * L, buf.dtype)"]


def _signature(plan: Plan, backward: bool) -> list[str]:
    n = len(plan.state_pieces)
    states = [f"st{k}" for k in range(n) if k != plan.rec_state]
    vectors = [f"vec_{name}" for name in plan.vectors]
    head = ["buf", "buf2", "mid", "carry", "extra", "xh", *states, "w_packed", "w_starts",
            "w_widths", "w2_packed"]
    tail = ["steps", "reverse", "lo", "hi", "row_chunk", "row_chunk2", "u0", "u1", "r0", "r1",
            "sync", "parties"]
    if not backward:
        return head + vectors + tail
    return (head + ["w_x_t", "dout", *[f"dS{k}" for k in range(n)], *[f"dN{k}" for k in range(n)],
                    "dcarry", "dmid", *vectors, "acc", "dx"] + tail[:2] +
            [f"norms{k}" for k in range(n)] + tail[2:])


def forward_source(plan: Plan, names: Names) -> list[str]:
    """The forward time loop."""
    two = plan.weight_mid is not None
    lines = ["@njit(" + _JIT + ")", f"def forward({', '.join(_signature(plan, False))}):"]
    passes = forward_rows(names) if plan.row_scalars else None
    lines += _prologue(plan) + _scratch(plan, names) + _time_header(False)
    if plan.weight_h is not None:
        # w_packed holds W_h, or [W_x | W_h] when the runtime folds the input projection into
        # the step (plan.all_shared, small I): then the GEMM reads [x_t | h] and overwrites
        beta = 1.0 if plan.h_first < plan.x_slots else 0.0
        lines += ["        k0 = xh.shape[2] - w_packed.shape[1]",
                  f"        gemm_tiles(xh[prev, lo:hi, k0:], w_packed, w_starts, w_widths, "
                  f"g[lo:hi, {plan.h_first} * W:], {beta} if k0 > 0 else 0.0, row_chunk)"]
    skip = []
    for k in range(len(plan.state_pieces)):
        buffer, offset = names.state_buffer(k)
        skip += _own(f"{buffer}[nxt, b, {{c}}]", plan.state_pieces[k],
                     f"{buffer}[prev, b, {{c}}]", offset)
    if two:
        skip.append("mid[t, b] = zero")
    if passes:
        lines += _rows(names, *passes, skip, passes=True)
        return lines + ["    restore_denormals(previous_fp)", ""]
    used, lanes = forward_lanes(names, 1)
    lines += _rows(names, used, lanes, skip)
    if two:
        lines.append("        gemm_packed(mid[t, lo:hi], w2_packed, g2[lo:hi], 0.0, row_chunk2)")
        used, lanes = forward_lanes(names, 2)
        lines += _rows(names, used, lanes, [])
    lines.append("        generation = wait(sync, parties, generation)")
    return lines + ["    restore_denormals(previous_fp)", ""]


def backward_source(plan: Plan, names: Names) -> list[str]:
    """The reverse time loop: slot gradients in place, states' gradients, vector accumulators."""
    n_states, two = len(plan.state_pieces), plan.weight_mid is not None
    lines = ["@njit(" + _JIT + ")", f"def backward({', '.join(_signature(plan, True))}):"]
    lines += _prologue(plan) + ["    want_norms = norms0.shape[0] > 0"]
    stages = [backward_lanes(names, 2, True)] if two else []
    stages.append(backward_rows(names) if plan.row_scalars else backward_lanes(names, 1, two))
    lines += _scratch(plan, names)
    lines += [f"    acc{a} = acc[{a} * W + u0:{a} * W + u1]" for a in sorted(names.acc.values())]
    lines += _time_header(True) + ["        dout_t = dout[t if dout.shape[0] > 1 else 0]"]
    passthrough = [line for k in range(n_states)
                   for line in _own(f"dN{k}[b, {{c}}]", plan.state_pieces[k], f"dS{k}[b, {{c}}]")]
    zero_slots = _own("g[b, {c}]", plan.n_slots, "zero")
    if two:
        used, lanes = stages[0]
        lanes, sums = slot_sums(lanes)
        lines += _rows(names, used, lanes, ["g2[b] = zero"] + passthrough, sums=sums)
        lines.append("        gemm_packed(g2[lo:hi], w2_packed, dmid[lo:hi], 0.0, row_chunk2)")
    used, lanes = stages[-1]
    lanes, sums = (lanes, None) if plan.row_scalars else slot_sums(lanes)
    lines += _rows(names, used, lanes, zero_slots + ([] if two else passthrough),
                   passes=bool(plan.row_scalars), sums=sums)
    lines.append("        generation = wait(sync, parties, generation)")
    lines.append("        if want_norms:")
    lines += [f"            row_norms(dS{k}[r0:r1], norms{k}[t, r0:r1])" for k in range(n_states)]
    lines += ["        if dx.shape[0] == T:",
              "            project_rows(g[r0:r1], w_x_t, dx[t, r0:r1])"]
    if plan.weight_h is not None:
        lines.append(f"        gemm_tiles(g[lo:hi, {plan.h_first} * W:], w_packed, w_starts, "
                     f"w_widths, dN{plan.rec_state}[lo:hi], 1.0, row_chunk)")
    for k in range(n_states):
        lines += ["        for r in range(lo, hi):"] + [
            "            " + line
            for line in _own(f"dS{k}[r, {{c}}]", plan.state_pieces[k], f"dN{k}[r, {{c}}]")]
    return lines + ["    restore_denormals(previous_fp)", ""]


def module_source(plan: Plan, dtype_name: str) -> tuple[str, dict]:
    """The generated module's text and {(param, piece): [accumulator columns]}."""
    names = Names(plan)
    forward = forward_source(plan, names)
    backward = backward_source(plan, names)
    head = [f'"""Generated by minigrad.compiler (generator {GENERATOR_VERSION}): fused '
            'recurrence kernels. Do not edit."""', "",
            f"# scalar rules: {rules_fingerprint(names.rules)}", "",
            "import numpy as np", "from numba import njit", "",
            "from minigrad.backends.cpu_blas import denormals_off, gemm_packed, gemm_tiles, "
            "restore_denormals",
            "from minigrad.compiler.barrier import wait",
            "from minigrad.backends.cpu_recurrent_loops import project_rows, row_norms",
            "from minigrad.backends.scalar_rules import compiled",
            "from minigrad.backends.vectorise import allow_alias_checks", "",
            f"allow_alias_checks()  # LLVM's cap raised to {ALIAS_CHECKS} checks: the lane loops "
            "vectorise", f"_lib = compiled('cpu', np.{dtype_name})"]
    head += [f"R_{name} = _lib.{name}" for name in sorted(names.rules)]
    head += [f"{name} = np.{dtype_name}({value!r})" for value, name in names.consts.items()]
    if plan.row_scalars:
        head += ROW_TOTAL.splitlines()
    return "\n".join(head + ["", ""] + forward + [""] + backward), dict(names.param_acc)


def rules_fingerprint(used) -> str:
    """A hash of the source of the rules the kernels inline (and the float32 tanh, the barrier
    and the per-step GEMM they call): Numba's cache does not see a change in an inlined
    function, the file name (a hash of the text) does."""
    names = set()
    for name in used:
        for suffix in ("", "_da", "_db", "_d"):
            if name.endswith(suffix) and name[:len(name) - len(suffix)] in scalar_rules.RULES:
                names.add(name[:len(name) - len(suffix)])
                break
    names = sorted(names)
    parts = [inspect.getsource(scalar_rules.tanh_f32), inspect.getsource(barrier),
             inspect.getsource(cpu_blas.gemm_tiles), inspect.getsource(cpu_tile_gemm)]
    parts += [inspect.getsource(scalar_rules.RULES[n].factory) for n in names
              if n in scalar_rules.RULES]
    return hashlib.sha256("".join(parts).encode()).hexdigest()[:16]
