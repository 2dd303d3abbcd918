"""Runs of one body share one fused kernel: the kernel stores what any of them needs (fuse.py,
``_Stored``), so a loop's last step, which need not store its carried state, calls the other
steps' kernel instead of a kernel of its own."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.compiler import fuse


def _loop(x, w, c):
    """A recurrence whose per-step run (mul, add, tanh) stores the cell c for the next step,
    except at the last step; a GEMM between the steps ends each run."""
    h = x
    for _ in range(4):
        z = h @ w
        c = c * z + z
        h = mg.tanh(c)
    return (h @ w).sum()


@pytest.fixture
def fused_sources(monkeypatch):
    """The sources of the fused kernels the fusion asks for, in order."""
    sources = []
    load = fuse.load

    def recording(source, kind):
        if kind == "fused":
            sources.append(source)
        return load(source, kind)

    monkeypatch.setattr(fuse, "load", recording)
    return sources


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_last_step_calls_the_other_steps_kernel(fused_sources, dtype):
    rng = np.random.default_rng(0)
    x, w, c = (rng.standard_normal(s).astype(dtype) for s in ((5, 6), (6, 6), (5, 6)))
    step = mg.compile(lambda x, w, c: _loop(x, w, c))
    with mg.no_grad():
        got = step(mg.tensor(x), mg.tensor(w), mg.tensor(c))
        want = _loop(mg.tensor(x), mg.tensor(w), mg.tensor(c))
    assert len(fused_sources) >= 4  # one run per step
    assert len(set(fused_sources)) == 1  # every step, the last included, one kernel
    tol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol, atol=tol)


def test_gradients_through_shared_kernels_equal_eager(fused_sources):
    rng = np.random.default_rng(1)
    x, w, c = (rng.standard_normal(s) for s in ((5, 6), (6, 6), (5, 6)))

    def step(x, w, c):
        loss = _loop(x, w, c)
        loss.backward()
        return loss

    leaves = [mg.tensor(v, requires_grad=True) for v in (x, w, c)]
    eager = [mg.tensor(v, requires_grad=True) for v in (x, w, c)]
    got, want = mg.compile(step)(*leaves), step(*eager)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-10)
    for a, b in zip(leaves, eager):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-10, atol=1e-10)
    assert len(fused_sources) > len(set(fused_sources))  # the steps' runs share kernels
