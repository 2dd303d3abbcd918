"""Matrix products (BLAS GEMMs on the CPU)."""

from __future__ import annotations

from ..autograd import record
from ..backends import backend_of
from ..tensor import Tensor
from .elementwise import binary_operands, describe


def matmul(a, b) -> Tensor:
    """a @ b over the last two axes (leading axes broadcast); d/da = g b^T, d/db = a^T g."""
    a, b = binary_operands("matmul", a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dim, got {describe(a)} @ "
                         f"{describe(b)}")
    if a.ndim == 1:  # a row vector whose row axis is dropped again (numpy's rule)
        out_shape = b.shape[:-2] + b.shape[-1:] if b.ndim > 1 else ()
        return matmul(a.reshape(1, -1), b).reshape(out_shape)
    if b.ndim == 1:
        return matmul(a, b.reshape(-1, 1)).reshape(a.shape[:-1])
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"matmul: inner dimensions differ: {describe(a)} @ {describe(b)} "
            f"({a.shape[-1]} != {b.shape[-2]})"
        )
    be = backend_of(a.data)
    x, y = a.data, b.data
    try:
        out = be.matmul(x, y)
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {describe(a)} and {describe(b)} do not "
                         "broadcast") from None

    def backward(g):
        return (be.matmul_nt(g, y) if a.requires_grad else None,
                be.matmul_tn(x, g) if b.requires_grad else None)

    return record("matmul", out, (a, b), backward)
