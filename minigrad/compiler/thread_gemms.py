"""A program's large GEMMs on the threads.

A compiled program runs with numpy's and scipy's OpenBLAS held to one thread (whole.py,
docs/fused_kernels.md), so the GEMMs batching made (batch.py: a loop's input projection over
T*B rows, its weight gradients summed over T*B rows) ran on one core. Here each CPU ``matmul``
of 2-d arrays with at least MIN_MULTIPLY_ADDS multiply-adds becomes ``rows_product`` (its rows
split over the threads: each row is computed as before) and each such ``matmul_tn`` becomes
``summed_product`` (the long inner dimension split, one partial per thread, then the partials
added: the run_cpu weight gradients' way; the sum's order changes, so it equals the one-thread
product to float rounding). The threads are the fused recurrences' (cpu_runtime.run), each
calling BLAS on its share.
"""

from __future__ import annotations

import os

import numpy as np

from . import cpu_runtime as rt
from .record import Slot

MIN_MULTIPLY_ADDS = 1 << 22
# False (or MINIGRAD_THREAD_GEMMS=0 at import) keeps every GEMM a one-thread call: the A/B
ENABLED = os.environ.get("MINIGRAD_THREAD_GEMMS", "1").strip() != "0"


def _operand(a):
    return a if a.strides[-1] == a.itemsize else np.ascontiguousarray(a)


def rows_product(a, b):
    """a @ b (2-d), a's rows split over the threads."""
    a, b = _operand(a), _operand(b)
    out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    rt.split_gemm(a, b, out, False, False, 0.0)
    return out


def summed_product(a, b):
    """a^T @ b (2-d), the rows of a and b (the sum) split over the threads."""
    a, b = _operand(a), _operand(b)
    out = np.empty((a.shape[1], b.shape[1]), np.result_type(a, b))
    rt.weight_gemm(a, b, out)
    return out


THREADED = {"cpu.matmul": rows_product, "cpu.matmul_tn": summed_product}


def thread_gemms(ops, values):
    """ops with each large 2-d CPU matmul / matmul_tn of one float dtype on the threads."""
    if not ENABLED or rt.get_num_threads() < 2:
        return ops
    out = []
    for op in ops:
        if op[0] == "call" and len(op) > 5 and op[5] in THREADED and not op[3] and \
                len(op[2]) == 2 and all(type(a) is Slot for a in op[2]) and \
                type(op[4]) is Slot:
            a, b = (values[s.i] for s in op[2])
            if type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == b.ndim == 2 and \
                    a.dtype == b.dtype and a.dtype in (np.float32, np.float64) and \
                    a.shape[0] * a.shape[1] * b.shape[1] >= MIN_MULTIPLY_ADDS:
                op = ("call", THREADED[op[5]], op[2], {}, op[4], op[5] + " threaded")
        out.append(op)
    return out
