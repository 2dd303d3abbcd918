"""The CPU runtime of the fused recurrences, owned by the compiler (``run_cpu`` runs the time
loops ``emit_cpu`` generates from each cell's step): threads, row-split GEMMs and the per-step
packed GEMMs. (It was ``backends/cpu_recurrent.py``; nothing in the backends uses it.)

Threads: batch elements never interact, so by default each thread runs the whole time loop over
its own batch rows ("rows"); or each thread runs every row over its own hidden units and their
weight columns, meeting the others at a spinning barrier once per step ("units", set_split: a
thread's GEMM has all B rows and reads only its share of the weights). The big GEMMs are split by
rows; scipy's OpenBLAS runs single-threaded meanwhile.
Costs and layout: docs/fused_kernels.md and docs/cell_compiler.md.
"""

from __future__ import annotations

import numbers
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..backends.cpu_blas import (
    gemm_rows,
    gemm_tiles_rows,
    gemm_tn_rows,
    pack_column_tiles,
    pack_ranges,
    step_tiling,
)
from ..backends.cpu_tile_gemm import TILE, VECTOR_BYTES
from .barrier import new_sync
from .spin_pool import SpinningPool, env_int, spin_microseconds, spin_rounds

# Below this input size dx is computed step by step while the gate gradients are in cache; above
# it one GEMM over all steps is faster.
FUSED_DX_MAX_INPUT = 16
# Up to this input size (when every slot takes both products, as the LSTM's) the forward's input
# projection is folded into the per-step GEMM, [x_t | h] @ [W_x | W_h]^T: a GEMM over all steps
# with K = I that small writes the whole gates buffer for a few flops per element, which the
# loop then reads back.
FUSED_PROJECTION_MAX_INPUT = 16
MIN_ROWS_PER_THREAD = 4


def _default_threads() -> int:
    """MINIGRAD_NUM_THREADS, else NUMBA_NUM_THREADS, else the CPUs this process may run on: a
    process pool that gives each worker one core sets the variables, so the workers' fused loops
    do not oversubscribe the machine."""
    for name in ("MINIGRAD_NUM_THREADS", "NUMBA_NUM_THREADS"):
        n = env_int(name, 1)
        if n is not None:
            return n
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


_threads = None  # read from the environment on first use: a bad value is an error there, not
# an import-time traceback (the lstm command checks it first and prints one line)
_pool, _pool_owner, _pool_size = None, None, 0
_spinning = None  # spin_pool.SpinningPool when MINIGRAD_POOL_SPIN_US > 0


def set_num_threads(n: int) -> None:
    """Threads the fused recurrences use (default: the CPUs this process may run on)."""
    global _threads
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"set_num_threads: n must be an integer, got {n!r}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _threads = int(n)


def get_num_threads() -> int:
    """The fused recurrences' threads; ValueError naming the variable when it is malformed."""
    global _threads
    if _threads is None:
        _threads = _default_threads()
    return _threads


# ---- threads -----------------------------------------------------------------------------------


def run(fn, calls):
    """fn(*args) for each args in calls, all at once: the first here, the rest on pool threads (fn
    releases the GIL). The pool is made per process, so a forked child starts its own. Calls from
    several Python threads take turns: the calls of a loop split by units meet at a barrier, so
    they must all be running together. With MINIGRAD_POOL_SPIN_US > 0 the pool's threads spin
    that long between calls before sleeping (spin_pool.py; opt-in)."""
    global _pool, _pool_owner, _pool_size, _spinning
    if len(calls) == 1:
        fn(*calls[0])
        return
    spin_us = spin_microseconds()
    if spin_us:
        with _run_lock:
            if _spinning is None or _spinning.pid != os.getpid() or \
                    _spinning.n < len(calls) - 1 or _spinning.rounds != spin_rounds(spin_us):
                _spinning = SpinningPool(len(calls) - 1, spin_us)
            _spinning.run(fn, calls)
        return
    with _run_lock:
        if _pool_owner != os.getpid() or _pool_size < len(calls) - 1:
            _pool = ThreadPoolExecutor(max_workers=len(calls) - 1,
                                       thread_name_prefix="minigrad-recurrent")
            _pool_owner, _pool_size = os.getpid(), len(calls) - 1
        futures = [_pool.submit(fn, *args) for args in calls[1:]]
        fn(*calls[0])
        for future in futures:
            future.result()


def _new_lock():
    global _run_lock
    _run_lock = threading.Lock()  # a forked child's copy may be held by a thread it lacks


_new_lock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock)


def parts(n, min_rows=MIN_ROWS_PER_THREAD):
    """Row bounds splitting n rows over the threads (fewer parts if rows are few)."""
    parts = max(1, min(get_num_threads(), n // min_rows))
    return [(n * k // parts, n * (k + 1) // parts) for k in range(parts)]


SPLITS = ("rows", "units", "auto")


def set_split(how: str) -> None:
    """How a fused recurrence shares its time loops between threads: "rows" (each thread runs the
    whole loop over its own batch rows; the default), "units" (each thread runs every row over
    its own hidden units and weight columns, meeting the others once per step) or "auto" (by the
    shape, `choose_split`). The default comes from MINIGRAD_RECURRENT_SPLIT when it is set."""
    global _split
    if how not in SPLITS:
        raise ValueError(f"set_split: how must be 'rows', 'units' or 'auto', got {how!r}")
    _split = how


def get_split() -> str:
    """set_split's value; on first use MINIGRAD_RECURRENT_SPLIT, else "rows"."""
    global _split
    if _split is None:
        value = os.environ.get("MINIGRAD_RECURRENT_SPLIT", "").strip() or "rows"
        if value not in SPLITS:
            raise ValueError(f"MINIGRAD_RECURRENT_SPLIT must be 'rows', 'units' or 'auto', got "
                             f"{value!r}")
        _split = value
    return _split


_split = None
UNIT_ALIGN = 16  # a thread's units start on a multiple of this (whole float32 vectors)
# "auto" splits by units when the step's weights (which every row-split thread reads whole each
# step) are at least this many bytes
UNITS_MIN_WEIGHT_BYTES = 1 << 19


def choose_split(B: int, L: int, weight_bytes: int, eligible: bool) -> str:
    """"rows" or "units" for a recurrence with B rows, L units per piece and per-step weights of
    weight_bytes, under set_split and the thread count; "units" only where the kernels allow it
    (eligible: one stage, no row reductions, no norms asked for) and every thread gets units."""
    n = get_num_threads()
    how = get_split()
    if n < 2 or not eligible or L < UNIT_ALIGN * n or how == "rows":
        return "rows"
    if how == "units":
        return "units"
    return "units" if weight_bytes >= UNITS_MIN_WEIGHT_BYTES else "rows"


def _unit_bounds(L: int, n: int):
    cuts = [L * k // n // UNIT_ALIGN * UNIT_ALIGN for k in range(n)] + [L]
    return list(zip(cuts[:-1], cuts[1:]))


def step_gemm() -> str:
    """How the per-step products run: "micro" (the register-blocked microkernel on tiles of TILE
    columns, cpu_tile_gemm; the default) or "blas" (OpenBLAS on wider tiles, as before session
    9), from MINIGRAD_STEP_GEMM; read at each call, for side-by-side measurements."""
    value = os.environ.get("MINIGRAD_STEP_GEMM", "").strip() or "micro"
    if value not in ("micro", "blas"):
        raise ValueError(f"MINIGRAD_STEP_GEMM must be 'micro' or 'blas', got {value!r}")
    return value


def _step_tiles(rows, inner, columns):
    """(row chunk, tile width) for the per-step product of w1: the microkernel's TILE unless
    step_gemm() is "blas" (then step_tiling's, which is never TILE for the shapes measured)."""
    chunk, tile = step_tiling(rows, inner, columns)
    if step_gemm() == "micro":
        return chunk, TILE
    return chunk, tile if tile != TILE else 2 * TILE


def each_thread(loop, B, L, w1, w2, split, arguments):
    """Run a generated time loop on the threads, split by "rows" or "units" (choose_split), with
    each thread's per-step weights w1 (K, N: N a multiple of L) packed as the column tiles of the
    units it owns (every column when split by rows) and w2 (two-stage cells, rows only) in column
    tiles: arguments(k, w1 tiles, packed w2, split arguments) builds thread k's call (k: for
    its own accumulators); the split arguments end every kernel's signature (emit_cpu)."""
    sync = new_sync()
    if split == "units":
        n = get_num_threads()
        calls = []
        for k, (u0, u1) in enumerate(_unit_bounds(L, n)):
            chunk, tile = _step_tiles(B, w1.shape[0], u1 - u0)
            ranges = [(p * L + u0, p * L + u1) for p in range(w1.shape[1] // L)]
            calls.append(arguments(k, pack_ranges(w1, ranges, tile), pack_column_tiles(w2, 32),
                                   (0, B, chunk, 1, u0, u1, B * k // n, B * (k + 1) // n, sync,
                                    n)))
        run(loop, calls)
        return
    rows = parts(B)
    widest = max(hi - lo for lo, hi in rows)
    chunk1, tile1 = _step_tiles(widest, *w1.shape)
    chunk2, tile2 = step_tiling(widest, *w2.shape)
    tiles1 = pack_ranges(w1, [(0, w1.shape[1])], tile1)
    packed2 = pack_column_tiles(w2, tile2)
    run(loop, [arguments(k, tiles1, packed2, (lo, hi, chunk1, chunk2, 0, L, lo, hi, sync, 1))
               for k, (lo, hi) in enumerate(rows)])


def split_gemm(a, b, c, transpose_a, transpose_b, beta):
    """c = op(a) @ op(b) + beta c with c's rows split over the threads."""
    run(gemm_rows, [(a, b, c, transpose_a, transpose_b, 1.0, beta, lo, hi)
                    for lo, hi in parts(c.shape[0], 64)])


# weight gradients up to this size go through cpu_blas.gemm_tn (the microkernel on the operands
# where they lie, passes of TN_ROW_BLOCK rows): the output is read and written once a pass, so
# it must stay in L2; larger ones (the character model's 1024 x 320 and 1024 x 512) ran as fast
# or faster through OpenBLAS. Only where the microkernel has AVX-512's registers (8-row blocks):
# the only hosts it was measured on.
TN_MAX_OUTPUT_BYTES = 1 << 19


def weight_path() -> str:
    """How weight_gemm runs a^T b: "tiles" (cpu_blas.gemm_tn where the shape suits it, the
    default) or "blas" (OpenBLAS always), from MINIGRAD_WEIGHT_GEMM; read at each call, for
    side-by-side measurements."""
    value = os.environ.get("MINIGRAD_WEIGHT_GEMM", "").strip() or "tiles"
    if value not in ("tiles", "blas"):
        raise ValueError(f"MINIGRAD_WEIGHT_GEMM must be 'tiles' or 'blas', got {value!r}")
    return value


def _tiles_suit(d, inputs, out) -> bool:
    """Whether gemm_tn takes d^T @ inputs into out: float operands with unit inner strides, at
    least one whole tile of columns and an output that stays in L2."""
    return (out.dtype in (np.float32, np.float64) and d.dtype == inputs.dtype == out.dtype
            and d.strides[1] == d.itemsize and inputs.strides[1] == inputs.itemsize
            and out.shape[1] >= TILE and out.nbytes <= TN_MAX_OUTPUT_BYTES
            and VECTOR_BYTES == 64 and weight_path() == "tiles")

def sequence_gemm() -> str:
    """How the products over all steps of split_tiles run (input projections, dx): "micro" (the
    microkernel, cpu_blas.gemm_tiles_rows; the default) or "blas" (OpenBLAS, as before session
    12), from MINIGRAD_SEQUENCE_GEMM; read at each call, for side-by-side measurements (the two
    were measured on an AMD EPYC only: docs/fused_kernels.md)."""
    value = os.environ.get("MINIGRAD_SEQUENCE_GEMM", "").strip() or "micro"
    if value not in ("micro", "blas"):
        raise ValueError(f"MINIGRAD_SEQUENCE_GEMM must be 'micro' or 'blas', got {value!r}")
    return value


def split_tiles(a, b, c):
    """c = a @ b with c's rows split over the threads, b (K, N) packed once into column tiles
    and each thread's rows run through the microkernel (cpu_blas.gemm_tiles_rows): the products
    over all steps of the fused recurrences (input projections, dx)."""
    rows = parts(c.shape[0], 64)
    if sequence_gemm() == "blas":
        unit = b.strides[1] == b.itemsize
        run(gemm_rows, [(a, b if unit else b.T, c, False, not unit, 1.0, 0.0, lo, hi)
                        for lo, hi in rows])
        return
    packed, starts, widths = pack_ranges(b, [(0, b.shape[1])], TILE)
    run(gemm_tiles_rows, [(a, packed, starts, widths, c, lo, hi) for lo, hi in rows])


def weight_gemm(d, inputs, out):
    """out = d^T @ inputs summed over all T*B rows: each thread takes a share of the rows (the
    long inner dimension) into its own partial product, then the partials are added. Measured
    5-20% faster than splitting the output, and each thread reads only its share. Small outputs
    (a recurrence's weight gradient at H 128) go through cpu_blas.gemm_tn: 1.2-1.27x OpenBLAS's
    rate on one core at the adding step's (1600, 512)^T (1600, 130). (The character model's
    larger ones through the microkernel in blocks of rows: 1-2% of its step for 1.5 s more of
    cold compile; not kept, docs/fused_kernels.md.)"""
    rows = parts(d.shape[0], 256)
    tiles = _tiles_suit(d, inputs, out)

    def call(a, b, c):
        return (a, b, c, 0.0) if tiles else (a, b, c, True, False, 1.0, 0.0, 0, c.shape[0])

    kernel = gemm_tn_rows if tiles else gemm_rows
    if len(rows) == 1:
        run(kernel, [call(d, inputs, out)])
        return
    partial = np.empty((len(rows),) + out.shape, out.dtype)
    run(kernel, [call(d[lo:hi], inputs[lo:hi], partial[k]) for k, (lo, hi) in enumerate(rows)])
    np.sum(partial, axis=0, out=out)


# ---- shared ------------------------------------------------------------------------------------


def outputs(hs, steps, reverse):
    """The states after each step (a view of the state buffer), zero where a step is past its
    sequence's length (then a new array)."""
    T = hs.shape[0] - 1
    out = hs[:T] if reverse else hs[1:]
    if np.all(steps >= T):
        return out
    valid = np.arange(T)[:, None] < steps[None, :]
    return out * valid[:, :, None].astype(out.dtype)


def state_grad(g, B, H, dtype):
    """The upstream gradient of a final state as a C-contiguous (B, H) array (zeros if None)."""
    return np.zeros((B, H), dtype) if g is None else np.array(g, dtype=dtype, order="C")


def dout_array(dout, B, H, dtype):
    """The upstream gradient of the outputs as a contiguous array ((1, B, H) zeros if None)."""
    return np.zeros((1, B, H), dtype) if dout is None else np.ascontiguousarray(dout, dtype)
