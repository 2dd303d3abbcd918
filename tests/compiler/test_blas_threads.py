"""Compiled programs and the fused recurrences run with every OpenBLAS in the process on one
thread (numpy's own build as well as scipy's): an OpenBLAS pool's worker spins after a threaded
product and took the core minigrad's second thread needed (docs/fused_kernels.md)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import cpu_blas
from minigrad.compiler import whole


def test_single_threaded_blas_sets_every_openblas_to_one_thread_and_restores_it():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def openblas():
        return {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["internal_api"] == "openblas"}

    before = openblas()
    if len(before) < 2:
        pytest.skip(f"expected numpy's and scipy's OpenBLAS, found {sorted(before)}")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        with cpu_blas.single_threaded_blas():
            assert set(openblas().values()) == {1}
        assert set(openblas().values()) == {2}
    assert openblas() == before


def test_a_compiled_call_runs_inside_single_threaded_blas(monkeypatch):
    entered = []

    @contextlib.contextmanager
    def recording():
        entered.append(True)
        yield

    monkeypatch.setattr(whole, "single_threaded_blas", recording)

    @mg.compile
    def f(a, b):
        return (a @ b).sum()

    a = mg.tensor(np.ones((3, 4)))
    b = mg.tensor(np.ones((4, 2)))
    assert float(f(a, b).item()) == 24.0  # the first call traces
    assert float(f(a, b).item()) == 24.0  # the second runs the program
    assert entered
