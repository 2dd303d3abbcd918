"""bench/compile_kernels.py: each Numba compile is counted once, a callee compiled while its
caller is typed is charged to itself and named with its caller, and the totals add up."""

from __future__ import annotations

import numpy as np
from numba import njit

from bench.compile_kernels import KernelTimes


def test_callee_and_caller_times():
    @njit
    def inner(a):
        return np.tanh(a).sum()

    @njit
    def outer(a):
        return inner(a) * 2.0

    times = KernelTimes().install()
    try:
        outer(np.ones(4))
    finally:
        times.uninstall()
    rows = {r["function"]: r for r in times.rows(top=50)}
    inner_row = next(r for name, r in rows.items() if name.endswith("inner"))
    outer_row = next(r for name, r in rows.items() if name.endswith("outer"))
    assert inner_row["compiles"] == outer_row["compiles"] == 1
    assert inner_row["first_caller"].endswith("outer") and outer_row["first_caller"] is None
    assert outer_row["with_callees_s"] >= outer_row["own_s"] + inner_row["own_s"] - 1e-6
    assert 0 <= outer_row["llvm_s"] <= outer_row["own_s"] + 1e-6
    total = rows["(all)"]
    assert total["own_s"] >= outer_row["own_s"] + inner_row["own_s"] - 1e-6
    assert abs(total["with_callees_s"] - outer_row["with_callees_s"]) < 1e-6
    before = len(times.records)
    inner(np.ones(3, np.float32))  # after uninstall(): not counted
    assert len(times.records) == before
