"""clip_grad_norm_'s scaling folded into the multi-tensor Adam step that follows it.

Eagerly (and as recorded), clipping by the 2-norm is two kernel calls: ``optim.grad_norm`` sums
the squares, ``optim.clip_scaled`` writes every gradient times the factor into new arrays, which
become the parameters' ``.grad``; then ``Optimizer.step`` (Adam's one multi-tensor kernel) reads
them. When a program runs exactly that, ``clip_scaled``, the ``.grad`` sets of its results and
the step, with nothing else reading the scaled copies, the copies are not made: the sets give
``.grad`` the unscaled gradients and the step becomes ``optim.clipped_step``, whose kernel reads
each gradient once, scales it as ``clip_scaled`` would (the same product in the same dtype),
writes it back in place and updates with it. ``.grad`` holds the clipped gradient afterwards,
as eager's does; one pass over the gradients and their allocation are gone.

The unscaled gradient is written in place, so the fold needs each to be a fresh array of the
program (made by a call that returns a new array, not a view, not a parameter's or an input's
state), no two the same, and no later operation reading memory that one of them shares.
"""

from __future__ import annotations

import numpy as np

from .. import optim
from .batch import FRESH
from .program import slots_read
from .record import Const, Slot


def fold_clip(ops, values, keep: set):
    """ops with each clip_scaled -> .grad sets -> Adam.step (multi-tensor) as the sets of the
    unscaled gradients and one clipped_step."""
    definer = {}
    for op in ops:
        if op[0] == "call" and len(op) > 5 and type(op[4]) is Slot:
            definer[op[4].i] = op[5]
    out, j = [], 0
    while j < len(ops):
        folded = _fold(ops, j, values, keep, definer)
        if folded is None:
            out.append(ops[j])
            j += 1
            continue
        replaced, j = folded
        out += replaced
    return out


def _fold(ops, j, values, keep, definer):
    """(the operations replacing ops[j:end], end) for a foldable clip at j, else None."""
    op = ops[j]
    if op[0] != "call" or len(op) < 6 or op[5] != "optim.clip_scaled" or op[3] or \
            len(op[2]) != 3 or type(op[4]) is not tuple:
        return None
    grads, total, max_norm = op[2]
    outs = op[4]
    if type(grads) is not tuple or len(grads) != len(outs) or \
            any(type(t) is not Slot for t in (*grads, *outs)) or \
            len({g.i for g in grads}) != len(grads):
        return None
    k, sets, scaled = j + 1, [], {s.i: g for s, g in zip(outs, grads)}
    while k < len(ops) and ops[k][0] == "set" and ops[k][2] == "grad" and \
            type(ops[k][3]) is Slot and ops[k][3].i in scaled:
        sets.append(("set", ops[k][1], "grad", scaled[ops[k][3].i]))
        k += 1
    if k == len(ops) or not _adam_step(ops[k]):
        return None
    later = [slots_read(o) for o in ops[k + 1:]]
    read_later = set().union(*later) | keep
    if len(sets) != len(outs) or read_later & set(scaled) or \
            any(slots_read(o) & set(scaled) for o in ops[j + 1:k] if o[0] != "set"):
        return None
    for g in grads:  # written in place: a fresh array, nothing after reads its memory
        v = values[g.i]
        if definer.get(g.i) not in FRESH or g.i in read_later or type(v) is not np.ndarray or \
                any(np.may_share_memory(v, values[i]) for i in read_later
                    if type(values[i]) is np.ndarray):
            return None
    step = ("opaque", optim.clipped_step, (ops[k][2][0], total, max_norm, grads))
    return [*sets, step], k + 1


def _adam_step(op) -> bool:
    """An opaque Optimizer.step of an Adam with its multi-tensor kernel."""
    if op[0] != "opaque" or op[1] is not optim.Optimizer.__dict__["step"] or len(op[2]) != 1 or \
            type(op[2][0]) is not Const:
        return False
    opt = op[2][0].value
    return isinstance(opt, optim.Adam) and opt.foreach
