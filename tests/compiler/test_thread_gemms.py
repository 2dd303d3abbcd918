"""mg.compile's large GEMMs on the threads (compiler/thread_gemms.py): the batched input
projection and weight gradients of a plain loop, split over the threads, equal eager (float64
1e-10, float32 2e-5) whatever the thread count and row count."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.compiler import cpu_runtime as rt
from minigrad.compiler import thread_gemms


def _loop(x, w_ih, w_hh, b):
    h = mg.zeros((x.shape[1], w_hh.shape[0]), dtype=x.dtype)
    hs = []
    for t in range(x.shape[0]):
        h = (x[t] @ w_ih + h @ w_hh + b).tanh()
        hs.append(h)
    return (mg.stack(hs) ** 2).sum()


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 2e-5)])
@pytest.mark.parametrize("threads, batch", [(2, 300), (3, 7), (2, 1)])
def test_threaded_gemms_equal_eager(monkeypatch, dtype, tol, threads, batch):
    before = rt.get_num_threads()
    rt.set_num_threads(threads)
    monkeypatch.setattr(thread_gemms, "MIN_MULTIPLY_ADDS", 1)
    try:
        rng = np.random.default_rng(0)
        shapes = ((3, 6), (6, 6), (6,))
        x = mg.tensor(rng.standard_normal((5, batch, 3)).astype(dtype))
        results = []
        for compiled in (False, True):
            params = [mg.tensor((np.random.default_rng(1).standard_normal(s) * 0.3)
                                .astype(dtype), requires_grad=True) for s in shapes]

            def step(x, params=params):
                for p in params:
                    p.grad = None
                loss = _loop(x, *params)
                loss.backward()
                return loss

            fn = mg.compile(step) if compiled else step
            losses = [fn(x).item() for _ in range(2)]
            results.append((losses, [p.grad for p in params], fn))
        (el, eg, _), (cl, cg, fn) = results
        np.testing.assert_allclose(cl, el, rtol=tol, atol=tol)
        for a, b in zip(eg, cg):
            np.testing.assert_allclose(b, a, rtol=tol, atol=tol * max(1.0, np.abs(a).max()))
        source = fn.programs()[0].source
        assert "cpu.matmul threaded" in source  # x @ W_ih over all steps' rows
        assert "cpu.matmul_tn threaded" in source  # the weight gradients
    finally:
        rt.set_num_threads(before)


def test_small_products_stay_calls():
    assert thread_gemms.thread_gemms([("call", None, (), {}, None, "cpu.matmul")], []) == [
        ("call", None, (), {}, None, "cpu.matmul")]
