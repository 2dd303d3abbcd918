"""A spinning barrier between the threads of one fused recurrence, callable from ``@njit`` code.

When the threads split the hidden units of a recurrence (cpu_runtime, "units"), every step needs
the whole state of the step before, so the threads meet once per step. A Python or OS primitive
costs tens of microseconds per meeting (a step is 20-400 us); this one is two atomic operations
on a shared int64 array and a short spin: sync[0] counts the arrivals, sync[1] the completed
barriers. The last thread to arrive resets the count and advances the generation; the others spin
on the generation (with the x86 ``pause`` hint), and after SPINS_BEFORE_YIELD rounds (a few
microseconds) give their core away with ``sched_yield`` each round, so a busy machine that has
descheduled a partner is not made busier by a thread spinning for it. The atomics are
sequentially consistent, so every store a thread made before the barrier is visible to every
thread after it.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ..backends.cpu_blas import X86

SPINS_BEFORE_YIELD = 256

_sched_yield = types.ExternalFunction("sched_yield", types.intc())


def _element_pointer(context, builder, array_type, array, index):
    view = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, view, [index])


def _read_modify_write(op: str):
    """An intrinsic (array, index, value) doing `op` ("add", "xchg") on array[index] atomically
    (sequentially consistent) and returning the old value."""

    @intrinsic
    def rmw(typingctx, array, index, value):
        if not (isinstance(array, types.Array) and array.dtype == types.int64):
            return None

        def codegen(context, builder, sig, args):
            pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1])
            amount = context.cast(builder, args[2], sig.args[2], types.int64)
            return builder.atomic_rmw(op, pointer, amount, "seq_cst")

        return types.int64(array, index, value), codegen

    return rmw


_fetch_add = _read_modify_write("add")
_exchange = _read_modify_write("xchg")


@intrinsic
def _load(typingctx, array, index):
    """array[index], read atomically (sequentially consistent)."""
    if not (isinstance(array, types.Array) and array.dtype == types.int64):
        return None

    def codegen(context, builder, sig, args):
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.load_atomic(pointer, "seq_cst", 8)

    return types.int64(array, index), codegen


@intrinsic
def _pause(typingctx):
    """The x86 spin-wait hint (nothing elsewhere)."""

    def codegen(context, builder, sig, args):
        if X86:
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()

    return types.none(), codegen


def new_sync():
    """The shared state of one barrier: [arrivals, generation]."""
    return np.zeros(2, np.int64)


@njit(cache=True, nogil=True)
def wait(sync, parties, generation):
    """Block until `parties` threads have called wait with the same generation; returns the next
    generation (each thread keeps its own count, starting at 0 on a new_sync())."""
    if parties <= 1:
        return generation + 1
    if _fetch_add(sync, 0, 1) == parties - 1:
        _exchange(sync, 0, 0)
        _fetch_add(sync, 1, 1)
        return generation + 1
    spins = 0
    while _load(sync, 1) == generation:
        if spins < SPINS_BEFORE_YIELD:
            _pause()
            spins += 1
        else:
            _sched_yield()
    return generation + 1


@njit(cache=True, nogil=True)
def wait_for(flags, index, target, rounds):
    """Spin until flags[index] >= target, for at most `rounds` rounds (negative: no limit), with
    `pause` and, after SPINS_BEFORE_YIELD rounds, `sched_yield` each round; returns whether
    flags[index] got there (the spinning pool's hand-off, spin_pool.py)."""
    spins = 0
    while _load(flags, index) < target:
        if rounds >= 0 and spins >= rounds:
            return False
        if spins < SPINS_BEFORE_YIELD:
            _pause()
        else:
            _sched_yield()
        spins += 1
    return True


@njit(cache=True, nogil=True)
def advance(flags, index):
    """flags[index] += 1 atomically (sequentially consistent); returns the new value."""
    return _fetch_add(flags, index, 1) + 1
