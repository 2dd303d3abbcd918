"""A compiled CPU program's large matrix products split over minigrad's threads.

A compiled program runs with every OpenBLAS in the process held to one thread
(``cpu_blas.single_threaded_blas``: an OpenBLAS pool spinning after its call took the core a
fused recurrence's second thread needed; docs/fused_kernels.md, "OpenBLAS's spinning worker").
So the products outside the recurrences, a character model's decoder and its two backward
products for instance, ran on one core while the other waited. This pass gives the program's
``matmul`` / ``matmul_nt`` / ``matmul_tn`` calls stand-ins that split a product of at least
MIN_MULTIPLY_ADDS multiply-adds over minigrad's threads (``cpu_runtime.split_tiles``: rows of the
output; ``weight_gemm`` for a^T b, rows of the summed dimension, the partial products added; both
through the microkernel since session 12, 10% faster than OpenBLAS on the decoder's products),
and call the backend's own kernel otherwise (small products, other dtypes or layouts). With one
thread the same stand-ins make one call over the merged rows: numpy's matmul of a 3-d
operand by a 2-d one calls BLAS once per leading index (the decoder's 100 products of 32 rows:
9.2 ms against 1.5 for one call of 3,200 rows, one thread). Results equal the backend's to float
rounding (the sum over the inner dimension is split for a^T b).
"""

from __future__ import annotations

import numpy as np

from ..backends import cpu
from . import cpu_runtime as rt
from .program import slots_read
from .record import Slot

# below this the threads' hand-off (tens of microseconds) costs more than half the product saves
MIN_MULTIPLY_ADDS = 1 << 22
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _rows_of(a, b):
    """(a as a 2-d row view with its leading axes merged, b or b.T with a unit inner stride,
    whether that is b.T) when the pair is a plain float product this pass splits, else None."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.ndim < 2 or \
            b.ndim != 2 or a.dtype != b.dtype or a.dtype not in FLOATS:
        return None
    a2 = _merged(a)
    if a2 is None:
        return None
    if b.strides[1] == b.itemsize and b.strides[0] % b.itemsize == 0:
        return a2, b, False
    if b.strides[0] == b.itemsize and b.strides[1] % b.itemsize == 0:
        return a2, b.T, True
    return None


def _merged(a):
    """a's leading axes merged into rows without a copy, with a unit inner stride (a row view a
    recurrence's output is, (T, B, H) of its state buffer), else None."""
    if a.strides[-1] != a.itemsize or a.strides[-2] % a.itemsize:
        return None
    try:
        return a.reshape(-1, a.shape[-1], copy=False)
    except ValueError:
        return None


def _product(a, b, transpose_b, fallback):
    """a @ op(b) (op(b) = b^T if transpose_b) split by rows when the pair splits and is large."""
    pair = _rows_of(a, b.T if transpose_b else b)
    if pair is None:
        return fallback(a, b)
    a2, stored, transposed = pair  # op(b) = stored^T if transposed else stored
    columns = stored.shape[0] if transposed else stored.shape[1]
    inner = stored.shape[1] if transposed else stored.shape[0]
    if inner != a2.shape[1] or a2.shape[0] * inner * columns < MIN_MULTIPLY_ADDS:
        return fallback(a, b)
    out = np.empty((a2.shape[0], columns), a.dtype)
    rt.split_tiles(a2, stored.T if transposed else stored, out)
    return out.reshape(a.shape[:-1] + (columns,))


def matmul(a, b):
    """cpu.matmul(a, b), split by rows when large."""
    return _product(a, b, False, cpu.matmul)


def matmul_nt(a, b):
    """cpu.matmul_nt(a, b) = a @ b^T, split by rows when large."""
    return _product(a, b, True, cpu.matmul_nt)


def matmul_tn(a, b):
    """cpu.matmul_tn(a, b) = a^T @ b for 2-d a and b, its summed rows split when large."""
    if _rows_of(b, a) is None or _rows_of(b, a)[2] or a.ndim != 2 or b.ndim != 2 or \
            a.shape[0] != b.shape[0] or \
            a.shape[0] * a.shape[1] * b.shape[1] < MIN_MULTIPLY_ADDS:
        return cpu.matmul_tn(a, b)
    out = np.empty((a.shape[1], b.shape[1]), a.dtype)
    rt.weight_gemm(a, b, out)
    return out


def summed_tn(a, b, shape):
    """cpu.sum_to(cpu.matmul_tn(a, b), shape): for 3-d a (n, R, K) and b (n, R, N) summed to
    (K, N) (a linear layer's weight gradient from 3-d inputs), one a^T b over the n * R merged
    rows instead of n products and their sum, split over the threads when large."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.ndim == 3 and \
            b.ndim == 3 and a.shape[:2] == b.shape[:2] and len(shape) == 2 and \
            tuple(shape) == (a.shape[2], b.shape[2]) and _merged(a) is not None and \
            _merged(b) is not None:
        return matmul_tn(_merged(a), _merged(b))
    return cpu.sum_to(cpu.matmul_tn(a, b), shape)


STAND_INS = {"cpu.matmul": matmul, "cpu.matmul_nt": matmul_nt, "cpu.matmul_tn": matmul_tn}


def _backend_call(op, name):
    return op[0] == "call" and len(op) > 5 and op[5] == name and op[1] is getattr(cpu, name[4:]) \
        and not op[3]


def split_products(ops, keep=frozenset()):
    """ops with the CPU backend's matrix products called through their splitting stand-ins, and
    a matmul_tn whose result only the next operation, a sum_to, reads, fused with it
    (summed_tn); keep: the slots the program returns."""
    out, j = [], 0
    while j < len(ops):
        op = ops[j]
        if _backend_call(op, "cpu.matmul_tn") and j + 1 < len(ops) and \
                _backend_call(ops[j + 1], "cpu.sum_to") and type(op[4]) is Slot and \
                op[4].i not in keep and len(ops[j + 1][2]) == 2 and \
                type(ops[j + 1][2][0]) is Slot and ops[j + 1][2][0].i == op[4].i and \
                all(op[4].i not in slots_read(later) for later in ops[j + 2:]):
            after = ops[j + 1]
            out.append(("call", summed_tn, (*op[2], after[2][1]), {}, after[4],
                        "compiler.summed_tn", *after[6:]))
            j += 2
            continue
        if any(_backend_call(op, name) for name in STAND_INS):
            op = (op[0], STAND_INS[op[5]], *op[2:])
        out.append(op)
        j += 1
    return out
