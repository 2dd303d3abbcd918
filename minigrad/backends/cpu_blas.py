"""GEMM callable from ``@njit`` code that writes into preallocated (sub)arrays.

``np.dot`` inside Numba allocates its result unless given ``out``, needs contiguous operands and
cannot accumulate (``beta``). The recurrent kernels call BLAS once or twice per time step on slices
of preallocated buffers, often accumulating into them, so they call the same ``numba_xxgemm``
helper Numba's own ``np.dot`` calls (it forwards to scipy's ``cython_blas``; resolved by symbol
name at link time, so functions using it can be cached). Arrays are row-major 2-d views with a
unit inner stride and any row stride; BLAS is column-major, so C = A B is computed as C^T = B^T A^T.
"""

from __future__ import annotations

import contextlib
import ctypes
import platform

import numpy as np
import scipy.linalg.cython_blas  # noqa: F401 - numba_xxgemm looks its sgemm/dgemm up here
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .cpu_tile_gemm import TILE, block_rows, tile_product

_XXGEMM = types.ExternalFunction(
    "numba_xxgemm",
    types.intc(types.char, types.char, types.char, types.intp, types.intp, types.intp,
               types.voidptr, types.voidptr, types.intp, types.voidptr, types.intp,
               types.voidptr, types.voidptr, types.intp),
)
_NO_TRANSPOSE = np.int8(ord("n"))
_TRANSPOSE = np.int8(ord("t"))


@intrinsic
def _data_pointer(typingctx, array):
    """The address of array's first element as void*."""
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, sig, args):
        view = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.bitcast(view.data, cgutils.voidptr_t)

    return types.voidptr(array), codegen


@intrinsic
def _scalar_slot(typingctx, value):
    """A stack slot holding value, as void* (BLAS takes alpha and beta by reference)."""

    def codegen(context, builder, sig, args):
        slot = cgutils.alloca_once_value(builder, args[0])
        return builder.bitcast(slot, cgutils.voidptr_t)

    return types.voidptr(value), codegen


@intrinsic
def _blas_kind(typingctx, array):
    """'s' for float32 arrays, 'd' for float64, as a compile-time int8."""
    kinds = {types.float32: ord("s"), types.float64: ord("d")}
    if not isinstance(array, types.Array) or array.dtype not in kinds:
        return None
    kind = kinds[array.dtype]

    def codegen(context, builder, sig, args):
        return context.get_constant(types.int8, kind)

    return types.int8(array), codegen


X86 = platform.machine().lower() in ("x86_64", "amd64")
_FLUSH_TO_ZERO, _DENORMALS_ARE_ZERO = 1 << 15, 1 << 6


@intrinsic
def _mxcsr(typingctx):
    """The calling thread's SSE control/status register (0 off x86)."""

    def codegen(context, builder, sig, args):
        if not X86:
            return ir.Constant(ir.IntType(32), 0)
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t]),
            "llvm.x86.sse.stmxcsr")
        builder.call(fn, [builder.bitcast(slot, cgutils.voidptr_t)])
        return builder.load(slot)

    return types.uint32(), codegen


@intrinsic
def _set_mxcsr(typingctx, value):
    def codegen(context, builder, sig, args):
        if X86:
            slot = cgutils.alloca_once_value(builder, args[0])
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t]),
                "llvm.x86.sse.ldmxcsr")
            builder.call(fn, [builder.bitcast(slot, cgutils.voidptr_t)])
        return context.get_dummy_value()

    return types.none(types.uint32), codegen


@njit(cache=True, nogil=True)
def denormals_off():
    """Flush denormal results and operands to zero in this thread; returns the previous state.

    Vanishing gradients in float32 reach the denormal range within a few hundred steps, and every
    operation on a denormal then takes ~100 cycles: a 1000-step GRU backward driven by the final
    state only ran 5x slower. The loops (and the BLAS calls they make) run with FTZ/DAZ set and
    restore the caller's state on exit.
    """
    previous = _mxcsr()
    _set_mxcsr(previous | np.uint32(_FLUSH_TO_ZERO | _DENORMALS_ARE_ZERO))
    return previous


@njit(cache=True, nogil=True)
def restore_denormals(previous):
    _set_mxcsr(previous)


@njit(cache=True, nogil=True)
def gemm(a, b, c, transpose_a, transpose_b, alpha, beta):
    """c = alpha op(a) @ op(b) + beta c, op(x) = x.T if transpose_x; 2-d row-major views."""
    m, n = c.shape
    k = a.shape[0] if transpose_a else a.shape[1]
    if m == 0 or n == 0:
        return
    # each operand's elements along its second axis adjacent, and its row stride in elements as
    # BLAS wants it (>= the row length, >= 1); written here, not as helper functions: each
    # helper was one more Numba compile per layout in a cold process
    if not ((a.shape[1] <= 1 or a.strides[1] == a.itemsize) and
            (b.shape[1] <= 1 or b.strides[1] == b.itemsize) and
            (c.shape[1] <= 1 or c.strides[1] == c.itemsize)):
        raise ValueError("gemm: operands need a unit stride along their second axis")
    dtype = c.dtype.type
    status = _XXGEMM(
        _blas_kind(c),
        _TRANSPOSE if transpose_b else _NO_TRANSPOSE,
        _TRANSPOSE if transpose_a else _NO_TRANSPOSE,
        n, m, k,
        _scalar_slot(dtype(alpha)),
        _data_pointer(b), max(b.strides[0] // b.itemsize, b.shape[1], 1),
        _data_pointer(a), max(a.strides[0] // a.itemsize, a.shape[1], 1),
        _scalar_slot(dtype(beta)),
        _data_pointer(c), max(c.strides[0] // c.itemsize, c.shape[1], 1),
    )
    if status != 0:
        raise RuntimeError("BLAS gemm failed (scipy.linalg.cython_blas not usable)")


# ---- per-step GEMMs of a recurrence: small, repeated T times with the same weights --------------
#
# OpenBLAS runs a product of at most about 2^19-2^20 multiply-adds with <= 32 rows through its
# unpacked small-matrix kernels: 1.5-2x faster here than one call for a (32, 128) @ (128, 512)
# step, which repacks all of the weights every time. So the weights are cut once into
# contiguous column tiles (a 4 KB row stride would also alias in L1) and each step runs
# row-chunk x tile products.

SMALL_GEMM_MULTIPLY_ADDS = 3 << 18
MAX_ROW_CHUNK = 32
MIN_TILE = 64


def step_tiling(rows: int, inner: int, columns: int) -> tuple[int, int]:
    """(row_chunk, tile) for a per-step (rows, inner) @ (inner, columns) product: the most rows
    (<= 32) that still allow a 64-column tile within the small-kernel budget, then the widest
    tile (<= 256) that fits."""
    row_chunk = max(1, min(rows, MAX_ROW_CHUNK))
    while row_chunk > 8 and row_chunk * inner * MIN_TILE > SMALL_GEMM_MULTIPLY_ADDS:
        row_chunk //= 2
    tile = MIN_TILE // 2
    while tile < min(256, columns) and row_chunk * inner * tile * 2 <= SMALL_GEMM_MULTIPLY_ADDS:
        tile *= 2
    return row_chunk, tile


def pack_column_tiles(b, tile: int):
    """b (K, N) as (ceil(N / tile), K, tile) contiguous column tiles, the last zero-padded."""
    K, N = b.shape
    n_tiles = -(-N // tile)
    packed = np.zeros((n_tiles, K, tile), b.dtype)
    for k in range(n_tiles):
        packed[k, :, : min(tile, N - k * tile)] = b[:, k * tile:(k + 1) * tile]
    return packed


@njit(cache=True, nogil=True)
def gemm_packed(a, packed, c, beta, row_chunk):
    """c = a @ b + beta c, b given as pack_column_tiles(b, tile); in row_chunk x tile products."""
    rows, columns = c.shape
    tile = packed.shape[2]
    for r0 in range(0, rows, row_chunk):
        r1 = min(r0 + row_chunk, rows)
        for k in range(packed.shape[0]):
            width = min(tile, columns - k * tile)
            gemm(a[r0:r1], packed[k, :, :width], c[r0:r1, k * tile:k * tile + width], False,
                 False, 1.0, beta)


def pack_ranges(b, ranges, tile: int):
    """The columns of b (K, N) in `ranges` ([(start, stop), ...]) as column tiles of at most
    `tile` columns that never cross a range's end: (packed (n, K, tile) zero-padded, starts,
    widths), tile k being b[:, starts[k]:starts[k] + widths[k]]. One range (0, N) gives
    pack_column_tiles(b, tile)."""
    starts = [s for lo, hi in ranges for s in range(lo, hi, tile)]
    widths = [min(tile, hi - s) for lo, hi in ranges for s in range(lo, hi, tile)]
    packed = np.zeros((len(starts), b.shape[0], tile), b.dtype)
    for k, (s, w) in enumerate(zip(starts, widths)):
        packed[k, :, :w] = b[:, s:s + w]
    return packed, np.array(starts, np.int64), np.array(widths, np.int64)


@njit(cache=True, nogil=True)
def gemm_tiles(a, packed, starts, widths, c, beta, row_chunk):
    """c[:, starts[k]:starts[k] + widths[k]] = a @ tile k + beta (the same columns of c), for the
    tiles of pack_ranges; the columns of c no tile covers are left alone. Tiles of TILE columns
    go through the register-blocked microkernel (cpu_tile_gemm) block_rows rows at a time, the
    rest (narrower tiles, the rows past the last whole block) through BLAS."""
    rows = c.shape[0]
    if packed.shape[2] == TILE:
        block = block_rows(c)
        whole = rows - rows % block
        for k in range(packed.shape[0]):
            s, w = starts[k], widths[k]
            if w == TILE:
                for r0 in range(0, whole, block):
                    tile_product(a[r0:r0 + block], packed[k], c[r0:r0 + block, s:s + TILE],
                                 beta)
                if whole < rows:
                    gemm(a[whole:], packed[k], c[whole:, s:s + TILE], False, False, 1.0, beta)
            else:
                gemm(a, packed[k, :, :w], c[:, s:s + w], False, False, 1.0, beta)
        return
    for r0 in range(0, rows, row_chunk):
        r1 = min(r0 + row_chunk, rows)
        for k in range(packed.shape[0]):
            s, w = starts[k], widths[k]
            gemm(a[r0:r1], packed[k, :, :w], c[r0:r1, s:s + w], False, False, 1.0, beta)


@njit(cache=True, nogil=True)
def _gemm_any_a(a, b, c, beta):
    """c = a @ b + beta c through BLAS, a with a unit stride along either axis."""
    if a.strides[1] == a.itemsize:
        gemm(a, b, c, False, False, 1.0, beta)
    else:
        gemm(a.T, b, c, True, False, 1.0, beta)


@njit(cache=True, nogil=True)
def gemm_in_place(a, b, c, beta):
    """c = a @ b + beta c with b (K, N) read where it lies (unit inner stride, any row stride),
    never packed, and a (M, K) with a unit stride along either axis (a transposed view too):
    whole blocks of block_rows rows by TILE columns through the microkernel, the rows past the
    last whole block and the columns past the last whole tile through BLAS. For products whose
    b is small or already in cache (a weight of TILE columns, a block of gradients just
    written), where BLAS packed both operands at every call: the gated scan's dL/dx and
    dL/dW^T blocks ran at 142 and 117 GFLOP/s through BLAS, 224 and 178 here (one core, in
    cache, best of 30)."""
    rows, columns = c.shape
    block = block_rows(c)
    whole_rows, whole_columns = rows - rows % block, columns - columns % TILE
    for s in range(0, whole_columns, TILE):
        for r0 in range(0, whole_rows, block):
            tile_product(a[r0:r0 + block], b[:, s:s + TILE], c[r0:r0 + block, s:s + TILE], beta)
    if whole_rows < rows:
        _gemm_any_a(a[whole_rows:], b[:, :whole_columns], c[whole_rows:, :whole_columns], beta)
    if whole_columns < columns:
        _gemm_any_a(a, b[:, whole_columns:], c[:, whole_columns:], beta)


# Rows of the summed dimension gemm_tn takes per pass: a's block of block_rows columns (one
# cache line a row; a gates buffer's rows are 2 KiB apart, so they share a few L1 sets) and b's
# tiles stay in L1 across the pass.
TN_ROW_BLOCK = 32


@njit(cache=True, nogil=True)
def gemm_tn(a, b, c, beta):
    """c = a^T @ b + beta c for a (R, M) and b (R, N) with unit inner strides, summed over their
    R rows in passes of TN_ROW_BLOCK rows, both operands read where they lie (never packed):
    each pass runs the microkernel on every block_rows x TILE block of c, a's block a transposed
    view (block_rows consecutive values a row) and b's tile TILE columns of its rows; the columns
    past the last whole tile are summed row by row in a vectorised loop (M wide) during the same
    pass, the rows of c past the last whole block through BLAS. For a fused recurrence's weight
    gradient (a the gate gradients, b the [x | h] rows): OpenBLAS packs both and ran it at
    70 GFLOP/s on one core (AMD EPYC, (3200, 512)^T (3200, 130)), this at about 90."""
    R, M = a.shape
    N = b.shape[1]
    if R == 0:  # no pass runs: c = beta c (beta 0 ignores c's old values)
        for i in range(M):
            for j in range(N):
                c[i, j] = 0.0 if beta == 0.0 else beta * c[i, j]
        return
    block = block_rows(c)
    whole_rows, whole_columns = M - M % block, N - N % TILE
    left = N - whole_columns
    rest = np.zeros((left, whole_rows), c.dtype)
    part = np.empty((left, whole_rows), c.dtype)  # one pass's sums, then added (as the blocks')
    for k0 in range(0, R, TN_ROW_BLOCK):
        k1 = min(k0 + TN_ROW_BLOCK, R)
        pass_beta = beta if k0 == 0 else 1.0
        for r0 in range(0, whole_rows, block):
            panel = a[k0:k1, r0:r0 + block].T
            for s in range(0, whole_columns, TILE):
                tile_product(panel, b[k0:k1, s:s + TILE], c[r0:r0 + block, s:s + TILE],
                             pass_beta)
        if left:
            part[:] = 0
            for k in range(k0, k1):
                row = a[k, :whole_rows]
                for q in range(left):
                    value = b[k, whole_columns + q]
                    sums = part[q]
                    for j in range(whole_rows):
                        sums[j] += row[j] * value
            rest += part
    for q in range(left):
        for j in range(whole_rows):
            if beta == 0.0:
                c[j, whole_columns + q] = rest[q, j]
            else:
                c[j, whole_columns + q] = rest[q, j] + beta * c[j, whole_columns + q]
    if whole_rows < M:
        gemm(a[:, whole_rows:], b, c[whole_rows:], True, False, 1.0, beta)


@njit(cache=True, nogil=True)
def gemm_tn_rows(a, b, c, beta):
    """gemm_tn with denormals flushed (one thread's share of a weight gradient)."""
    previous_fp = denormals_off()
    gemm_tn(a, b, c, beta)
    restore_denormals(previous_fp)


# rows of a per call of gemm_tiles in gemm_tiles_rows: a block of 128 rows of a (at most 512 KiB
# float32 for K = 1024) stays in L2 while every packed tile reads it
TILES_ROW_BLOCK = 128


@njit(cache=True, nogil=True)
def gemm_tiles_rows(a, packed, starts, widths, c, lo, hi):
    """Rows lo:hi of c = a @ b for b packed by pack_ranges(b, [(0, N)], TILE), TILES_ROW_BLOCK
    rows at a time through gemm_tiles (the microkernel): a product over all steps, one thread's
    share. The fused recurrences' dx and input projections (docs/fused_kernels.md): on one AMD
    EPYC core 1,600 rows of (1024 -> 64) ran at 82 GFLOP/s through BLAS, 108 here; (1024 ->
    256) 97 against 107; the projections (64 | 256 -> 1024) 86 / 101 against 91 / 105."""
    previous_fp = denormals_off()
    inner = a.shape[1]
    for r0 in range(lo, hi, TILES_ROW_BLOCK):
        r1 = min(hi, r0 + TILES_ROW_BLOCK)
        # a's block typed as a strided view (layout "A"), as the per-step loops pass theirs:
        # gemm_tiles is then the specialisation they compiled, not one more cold compile
        gemm_tiles(a[r0:r1, 0:inner], packed, starts, widths, c[r0:r1], 0.0, TILES_ROW_BLOCK)
    restore_denormals(previous_fp)


@njit(cache=True, nogil=True)
def gemm_rows(a, b, c, transpose_a, transpose_b, alpha, beta, lo, hi):
    """Rows lo:hi of c = alpha op(a) @ op(b) + beta c (one thread's share of a large GEMM)."""
    previous_fp = denormals_off()
    if transpose_a:
        gemm(a[:, lo:hi], b, c[lo:hi], True, transpose_b, alpha, beta)
    else:
        gemm(a[lo:hi], b, c[lo:hi], False, transpose_b, alpha, beta)
    restore_denormals(previous_fp)


def _find_thread_setters():
    """[(set_num_threads, get_num_threads)] of every OpenBLAS in the process: scipy's (the one
    cython_blas, so Numba's BLAS calls, use) and numpy's (a 64-bit-integer build whose symbols
    end in 64_), each a library of its own with its own thread pool."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line})
    except OSError:
        return []
    found = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas_", "openblas_"):
            for suffix in ("", "64_"):
                setter = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    found.append((setter, getter))
                    break
            else:
                continue
            break
    return found


_THREAD_CONTROLS = None  # found on first use: numpy's OpenBLAS is loaded by then


@contextlib.contextmanager
def single_threaded_blas():
    """Run the block with every OpenBLAS in the process (scipy's and numpy's) on one thread: the
    fused kernels and compiled programs split work across minigrad's own threads, and an
    OpenBLAS pool would compete with them otherwise. Its workers spin for a while after each
    multi-threaded call (OpenBLAS's thread timeout), so a product threaded by numpy just before
    a fused recurrence took the core the recurrence's second thread needed."""
    global _THREAD_CONTROLS
    if _THREAD_CONTROLS is None:
        _THREAD_CONTROLS = _find_thread_setters()
    previous = [getter() for _, getter in _THREAD_CONTROLS]
    for (setter, _), n in zip(_THREAD_CONTROLS, previous):
        if n != 1:
            setter(1)
    try:
        yield
    finally:
        for (setter, _), n in zip(_THREAD_CONTROLS, previous):
            if n != 1:
                setter(n)
