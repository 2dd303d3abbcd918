"""A register-blocked GEMM microkernel for the recurrences' per-step products, emitted as LLVM IR.

A fused recurrence multiplies a few batch rows (16 per thread when two threads split B = 32) by
the same recurrent weights at every step. OpenBLAS's small-matrix path ran those products at
about 100-135 GFLOP/s on one core of this machine (Intel Xeon, AVX-512), against 160-200 for
its own large GEMMs and for MKL's small ones (docs/fused_kernels.md, "The GEMM floors"). The
weights are packed once per call of the runner into contiguous column tiles of TILE columns
(cpu_blas.pack_ranges), so a step's product needs no packing at all: ``tile_product`` computes
one block of ``block_rows`` rows by TILE columns with every partial sum in a vector register,
one pass over K (for k: broadcast a[r, k], fused multiply-add with the tile's row k).

The IR uses explicit vectors of 64 bytes (16 float32 or 8 float64) on AVX-512 hosts, so each is
one zmm register: float32 blocks are 8 rows x 32 columns, float64 4 x 32, 16 accumulators either
way, leaving registers for the tile's row and the broadcasts. Without AVX-512 (AVX2 has 16
registers) the vectors are 32 bytes and the blocks 2 x 32 (float32) and 1 x 32 (float64): 8
accumulators (`_register_file`). The sum over k runs in order with one rounding per multiply-add,
as a BLAS kernel does (results equal OpenBLAS's to float rounding, not bit for bit).
"""

from __future__ import annotations

import os

from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

TILE = 32  # columns of a packed tile the microkernel takes whole


def _register_file() -> tuple[int, int]:
    """(vector bytes, accumulators) for the CPU the kernels are compiled for: 64-byte vectors and
    16 accumulators where AVX-512 gives 32 zmm registers; elsewhere (AVX2's 16 ymm, NEON) 32-byte
    vectors and 8 accumulators, so the block, the tile's row and the broadcast fit the register
    file instead of spilling."""
    features = os.environ.get("NUMBA_CPU_FEATURES")
    if features:  # a portable build's stated features (numba's own setting)
        wide = "+avx512f" in features.split(",")
    else:
        try:
            wide = bool(binding.get_host_cpu_features().get("avx512f"))
        except RuntimeError:  # the host's features cannot be read: the narrow layout is safe
            wide = False
    return (64, 16) if wide else (32, 8)


VECTOR_BYTES, ACCUMULATORS = _register_file()


def _layout(dtype):
    """(vector lanes, vectors per tile row, block rows) for a float dtype."""
    lanes = VECTOR_BYTES // (dtype.bitwidth // 8)
    per_row = TILE // lanes
    return lanes, per_row, ACCUMULATORS // per_row


@intrinsic
def block_rows(typingctx, array):
    """Rows of one microkernel block for array's dtype (8 for float32, 4 for float64)."""
    if not isinstance(array, types.Array) or array.dtype not in (types.float32, types.float64):
        return None
    rows = _layout(array.dtype)[2]

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, rows)

    return types.intp(array), codegen


def _splat(builder, value, vector_type):
    """value broadcast to every lane of vector_type."""
    undef = ir.Constant(vector_type, ir.Undefined)
    zero = ir.Constant(ir.IntType(32), 0)
    mask = ir.Constant(ir.VectorType(ir.IntType(32), vector_type.count), [0] * vector_type.count)
    return builder.shuffle_vector(builder.insert_element(undef, value, zero), undef, mask)


@intrinsic
def tile_product(typingctx, a, tile, c, beta):
    """c = a @ tile + beta c for one block: tile (K, TILE) and c (block_rows, TILE) row views
    with unit inner stride (any row stride: a packed tile, or TILE columns of a wider matrix
    read where it lies); a (block_rows, K) any strides (its elements are broadcast one at a
    time: a transposed view reads K consecutive rows of block_rows values); beta 0 ignores c's
    old values."""
    arrays = (a, tile, c)
    if not all(isinstance(x, types.Array) and x.ndim == 2 for x in arrays) or \
            not a.dtype == tile.dtype == c.dtype or a.dtype not in (types.float32, types.float64):
        return None
    lanes, per_row, rows = _layout(a.dtype)

    def codegen(context, builder, sig, args):
        a_arr, t_arr, c_arr = (context.make_array(ty)(context, builder, v)
                               for ty, v in zip(sig.args[:3], args[:3]))
        dtype = sig.args[0].dtype
        beta_value = context.cast(builder, args[3], sig.args[3], dtype)
        element = context.get_value_type(dtype)
        vec = ir.VectorType(element, lanes)
        vec_ptr = vec.as_pointer()
        align = dtype.bitwidth // 8

        def const(n):
            return ir.Constant(cgutils.intp_t, n)

        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec, vec, vec]),
            f"llvm.fma.v{lanes}f{dtype.bitwidth}")
        lda, a_inner = (builder.sdiv(stride, const(align))
                        for stride in cgutils.unpack_tuple(builder, a_arr.strides, 2))
        ldc = builder.sdiv(cgutils.unpack_tuple(builder, c_arr.strides, 2)[0], const(align))
        ldt = builder.sdiv(cgutils.unpack_tuple(builder, t_arr.strides, 2)[0], const(align))
        k_total = cgutils.unpack_tuple(builder, a_arr.shape, 2)[1]
        zero = ir.Constant(vec, [ir.Constant(element, 0.0)] * lanes)
        # stack slots in the entry block: LLVM promotes them to registers
        acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(per_row)]
               for _ in range(rows)]
        with cgutils.for_range(builder, k_total) as loop:
            k = loop.index
            base = builder.mul(k, ldt)
            b = [builder.load(builder.bitcast(builder.gep(t_arr.data, [builder.add(
                base, const(v * lanes))]), vec_ptr), align=align) for v in range(per_row)]
            for r in range(rows):
                offset = builder.add(builder.mul(const(r), lda), builder.mul(k, a_inner))
                splat = _splat(builder, builder.load(builder.gep(a_arr.data, [offset])), vec)
                for v in range(per_row):
                    builder.store(builder.call(fma, [splat, b[v], builder.load(acc[r][v])]),
                                  acc[r][v])
        beta_splat = _splat(builder, beta_value, vec)
        is_zero = builder.fcmp_ordered("==", beta_value, ir.Constant(element, 0.0))
        with builder.if_else(is_zero) as (then, otherwise):
            for accumulate, block in ((False, then), (True, otherwise)):
                with block:
                    for r in range(rows):
                        row = builder.mul(const(r), ldc)
                        for v in range(per_row):
                            p = builder.bitcast(builder.gep(
                                c_arr.data, [builder.add(row, const(v * lanes))]), vec_ptr)
                            value = builder.load(acc[r][v])
                            if accumulate:
                                value = builder.call(
                                    fma, [beta_splat, builder.load(p, align=align), value])
                            builder.store(value, p, align=align)
        return context.get_dummy_value()

    return types.none(a, tile, c, beta), codegen
