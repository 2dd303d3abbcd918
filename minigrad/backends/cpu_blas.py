"""GEMM callable from ``@njit`` code that writes into preallocated (sub)arrays.

``np.dot`` inside Numba allocates its result unless given ``out``, needs contiguous operands and
cannot accumulate (``beta``). The recurrent kernels call BLAS once or twice per time step on slices
of preallocated buffers, often accumulating into them, so they call the same ``numba_xxgemm``
helper Numba's own ``np.dot`` calls (it forwards to scipy's ``cython_blas``; resolved by symbol
name at link time, so functions using it can be cached). Arrays are row-major 2-d views with a
unit inner stride and any row stride; BLAS is column-major, so C = A B is computed as C^T = B^T A^T.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg.cython_blas  # noqa: F401 - numba_xxgemm looks its sgemm/dgemm up here
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

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


@njit(cache=True)
def _leading(array):
    """The row stride in elements, as BLAS wants it (>= the row length, >= 1)."""
    return max(array.strides[0] // array.itemsize, array.shape[1], 1)


@njit(cache=True)
def gemm(a, b, c, transpose_a, transpose_b, alpha, beta):
    """c = alpha op(a) @ op(b) + beta c, op(x) = x.T if transpose_x; 2-d row-major views."""
    m, n = c.shape
    k = a.shape[0] if transpose_a else a.shape[1]
    if m == 0 or n == 0:
        return
    dtype = c.dtype.type
    status = _XXGEMM(
        _blas_kind(c),
        _TRANSPOSE if transpose_b else _NO_TRANSPOSE,
        _TRANSPOSE if transpose_a else _NO_TRANSPOSE,
        n, m, k,
        _scalar_slot(dtype(alpha)),
        _data_pointer(b), _leading(b),
        _data_pointer(a), _leading(a),
        _scalar_slot(dtype(beta)),
        _data_pointer(c), _leading(c),
    )
    if status != 0:
        raise RuntimeError("BLAS gemm failed (scipy.linalg.cython_blas not usable)")
