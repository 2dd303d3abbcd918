"""Generate the numba.cuda source of a planned step: one elementwise kernel per stage and sweep.

The lane loops are the CPU generator's (lanes.py, the same plan, slots and saved values); here
one thread runs one (batch row b, lane j) of them, grid-stride over B * L, and every per-piece
view of the CPU loop (``sl0[j]``) becomes an index into the full buffer (``buf[t, b, 0 * L + j]``),
so a kernel creates no array views. The host (run_cuda.py) launches, per step, the tiled GEMM
with the recurrent weights (accumulated into the step's slots, as BLAS does on the CPU), then
``forward1``; a two-stage step adds the GEMM of the intermediate and ``forward2``. Backward per
step: ``backward2``, the intermediate's GEMM, ``backward1`` (each writes the gradients of the
products over the slots), then the GEMM for dL/d(state before the step). No kernel has a barrier
or shares memory: the lanes of a row are independent. Vector-parameter gradients accumulate per
(b, lane) over the steps in ``acc`` (B, n_acc * L), summed over b after the loop, except the
columns equal to a slot's gradient (``FROM_SLOT``): the slot's column sum after the loop.

Kernel arguments (run_cuda passes them in this order):
forward<k>(buf, buf2, mid, carry, extra, <state buffers>, <vector params>, steps, t, prev, nxt)
backward<k>(buf, buf2, mid, carry, extra, <state buffers>, dout, <dS per state>,
            <dN per state>, dcarry, dmid, <vector params>, acc, steps, t, prev, nxt)
"""

from __future__ import annotations

import re

from .emit_cpu import rules_fingerprint
from .lanes import Names, backward_lanes, forward_lanes, slot_sums
from .plan import Plan

CUDA_GENERATOR_VERSION = 1

_INDEX = {"sl": "buf[t, b, {i} * L + j]", "sm": "buf2[t, b, {i} * L + j]",
          "ex": "extra[t, b, {i} * L + j]", "cr": "carry[t, b, {i} * L + j]",
          "md": "mid[t, b, {i} * L + j]", "dcr": "dcarry[b, {i} * L + j]",
          "dmd": "dmid[b, {i} * L + j]", "do_": "dout[td, b, {i} * L + j]",
          "acc": "acc[b, {i} * L + j]"}
_VIEW = re.compile(r"\b([A-Za-z_][A-Za-z_0-9]*)\[j\]")
_PIECE = re.compile(r"^(dcr|dmd|do_|acc|sl|sm|ex|cr|md)(\d+)$")
_STATE = re.compile(r"^(pr|ne|ds|dn)(\d+)_(\d+)$")


def _index(plan: Plan, name: str) -> str:
    """The full-buffer element a CPU view element name[j] stands for."""
    m = _PIECE.match(name)
    if m:
        return _INDEX[m.group(1)].format(i=m.group(2))
    m = _STATE.match(name)
    if m:
        kind, k, p = m.group(1), m.group(2), m.group(3)
        if kind in ("pr", "ne"):
            when = "prev" if kind == "pr" else "nxt"
            return f"st{k}[{when}, b, {p} * L + j]"
        return f"{'dS' if kind == 'ds' else 'dN'}{k}[b, {p} * L + j]"
    for vector in plan.vectors:
        prefix = f"vec_{vector}_"
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            return f"vec_{vector}[{name[len(prefix):]} * L + j]"
    raise AssertionError(f"emit_cuda: no buffer for the view {name!r}")


def _lanes(plan: Plan, lines: list[str]) -> list[str]:
    return [_VIEW.sub(lambda m: _index(plan, m.group(1)), line) for line in lines]


def _slot_sums(lines: list[str], from_slot: dict) -> list[str]:
    """Drop the accumulations whose term is a slot's stored gradient (lanes.slot_sums): that
    column is the slot's column sum over all steps after the loop, which saves a read and a
    write per lane and step. from_slot[column] = (buffer, slot)."""
    kept, sums = slot_sums(lines)
    for column, (view, slot) in sums.items():
        from_slot[column] = ("buf" if view == "sl" else "buf2", slot)
    return kept


def _states(plan: Plan) -> list[str]:
    return [f"st{k}" for k in range(len(plan.state_pieces))]


def _each_lane(plan: Plan, skip: list[str], body: list[str]) -> list[str]:
    lines = ["    L = buf.shape[2] // " + str(plan.n_slots), "    B = st0.shape[1]",
             "    zero = buf.dtype.type(0.0)",
             "    for n in range(cuda.grid(1), B * L, cuda.gridsize(1)):",
             "        b = n // L", "        j = n - b * L", "        if t >= steps[b]:"]
    lines += ["            " + line for line in skip] + ["            continue"]
    return lines + ["        " + line for line in body]


def _per_lane(buffer: str, pieces: int, index: str) -> list[str]:
    return [f"{buffer}[{index}{p} * L + j]" for p in range(pieces)]


def forward_kernel(plan: Plan, names: Names, stage: int) -> list[str]:
    """forward<stage>: the stage's lanes of one step."""
    args = ["buf", "buf2", "mid", "carry", "extra", *_states(plan),
            *[f"vec_{v}" for v in plan.vectors], "steps", "t", "prev", "nxt"]
    skip = []
    if stage == 1:
        for k, pieces in enumerate(plan.state_pieces):
            for p in range(pieces):
                skip.append(f"st{k}[nxt, b, {p} * L + j] = st{k}[prev, b, {p} * L + j]")
        skip += [f"{e} = zero" for e in _per_lane("mid", len(plan.mid_operand), "t, b, ")]
    _, lanes = forward_lanes(names, stage)
    return (["@cuda.jit(cache=True)", f"def forward{stage}({', '.join(args)}):"]
            + _each_lane(plan, skip, _lanes(plan, lanes)) + [""])


def backward_kernel(plan: Plan, names: Names, stage: int, from_slot: dict) -> list[str]:
    """backward<stage>: the stage's reverse sweep of one step."""
    n, two = len(plan.state_pieces), plan.weight_mid is not None
    args = ["buf", "buf2", "mid", "carry", "extra", *_states(plan), "dout",
            *[f"dS{k}" for k in range(n)], *[f"dN{k}" for k in range(n)], "dcarry", "dmid",
            *[f"vec_{v}" for v in plan.vectors], "acc", "steps", "t", "prev", "nxt"]
    passthrough = [f"dN{k}[b, {p} * L + j] = dS{k}[b, {p} * L + j]"
                   for k, pieces in enumerate(plan.state_pieces) for p in range(pieces)]
    if stage == 2:
        skip = [f"{e} = zero" for e in _per_lane("buf2", plan.mid_pieces, "t, b, ")]
        skip += passthrough
    else:
        skip = [f"{e} = zero" for e in _per_lane("buf", plan.n_slots, "t, b, ")]
        skip += [] if two else passthrough
    _, lanes = backward_lanes(names, stage, two)
    lanes = _slot_sums(lanes, from_slot)
    head = ["@cuda.jit(cache=True)", f"def backward{stage}({', '.join(args)}):",
            "    td = t if dout.shape[0] > 1 else 0"]
    return head + _each_lane(plan, skip, _lanes(plan, lanes)) + [""]


def _kinds(plan: Plan) -> dict:
    """Argument kinds per kernel (a3/a2/a1 float arrays, i1 int64 array, i int64), for the PTX
    check: it compiles the float32 kernels for a GPU without one."""
    n = len(plan.state_pieces)
    vectors = ["a1"] * len(plan.vectors)
    forward = ["a3"] * (5 + n) + vectors + ["i1", "i", "i", "i"]
    backward = (["a3"] * (5 + n) + ["a3"] + ["a2"] * (2 * n + 2) + vectors + ["a2", "i1", "i",
                                                                               "i", "i"])
    stages = (1, 2) if plan.weight_mid else (1,)
    kinds = {f"forward{s}": forward for s in stages}
    kinds.update({f"backward{s}": backward for s in stages})
    return kinds


def module_source(plan: Plan, dtype_name: str) -> tuple[str, dict]:
    """The generated CUDA module's text and {(param, piece): [accumulator columns]}."""
    names = Names(plan)
    two = plan.weight_mid is not None
    body = forward_kernel(plan, names, 1) + (forward_kernel(plan, names, 2) if two else [])
    from_slot: dict = {}
    body += backward_kernel(plan, names, 2, from_slot) if two else []
    body += backward_kernel(plan, names, 1, from_slot)
    head = [f'"""Generated by minigrad.compiler (CUDA generator {CUDA_GENERATOR_VERSION}): fused '
            'recurrence kernels. Do not edit."""', "",
            f"# scalar rules: {rules_fingerprint(names.rules)}", "",
            "import numpy as np", "from numba import cuda", "",
            "from minigrad.backends.scalar_rules import compiled", "",
            f"_lib = compiled('cuda', np.{dtype_name})"]
    head += [f"R_{name} = _lib.{name}" for name in sorted(names.rules)]
    head += [f"{name} = np.{dtype_name}({value!r})" for value, name in names.consts.items()]
    head += [f"KINDS = {_kinds(plan)!r}", f"FROM_SLOT = {from_slot!r}"]
    return "\n".join(head + ["", ""] + body), dict(names.param_acc)
