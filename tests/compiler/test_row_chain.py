"""mg.compile's row chains (compiler/row_chain.py): an unrolled loop's per-step GEMM with a
loop-invariant matrix and the fused kernels after it run as one call, each thread its batch
rows, all steps. Results equal eager (float64 1e-10, float32 2e-5) for LSTM- and GRU-like loops,
batches not divisible by the threads and a batch of one; steps that mix rows are left alone."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.compiler import cpu_runtime as rt
from minigrad.compiler import row_chain

TOL = {np.float64: 1e-10, np.float32: 2e-5}
T, I, H = 7, 3, 5


@pytest.fixture
def threads():
    """set_num_threads for one test, restored after it."""
    before = rt.get_num_threads()
    yield rt.set_num_threads
    rt.set_num_threads(before)


def _lstm(x, w_ih, w_hh, b_ih, b_hh):
    """A plain-loop LSTM (PyTorch's gates), w_hh.T written inside the loop."""
    h = c = mg.zeros((x.shape[1], H), dtype=x.dtype)
    hs = []
    for t in range(x.shape[0]):
        i, f, g, o = (x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh).split(4, axis=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        hs.append(h)
    return mg.stack(hs)


def _gru(x, w_ih, w_hh, b_ih, b_hh):
    """A plain-loop GRU (PyTorch's r, z, n), the recurrent weights transposed once."""
    w_hh_t = w_hh.T
    h = mg.zeros((x.shape[1], H), dtype=x.dtype)
    hs = []
    for t in range(x.shape[0]):
        i_r, i_z, i_n = (x[t] @ w_ih.T + b_ih).split(3, axis=1)
        h_r, h_z, h_n = (h @ w_hh_t + b_hh).split(3, axis=1)
        r, z = (i_r + h_r).sigmoid(), (i_z + h_z).sigmoid()
        n = (i_n + r * h_n).tanh()
        h = n + z * (h - n)
        hs.append(h)
    return mg.stack(hs)


def _mixing(x, w_ih, w_hh, b_ih, b_hh):
    """A recurrence whose step mixes rows: each h_t reads the batch mean of h_{t-1}."""
    h = mg.zeros((x.shape[1], H), dtype=x.dtype)
    hs = []
    for t in range(x.shape[0]):
        h = (x[t] @ w_ih.T + b_ih + (h - h.mean(axis=0, keepdims=True)) @ w_hh.T).tanh()
        hs.append(h)
    return mg.stack(hs)


def _params(gates, dtype, seed=1):
    r = np.random.default_rng(seed)
    shapes = ((gates * H, I), (gates * H, H), (gates * H,), (gates * H,))
    return [mg.tensor((r.standard_normal(s) * 0.4).astype(dtype), requires_grad=True)
            for s in shapes]


def _train(loop, gates, dtype, batch, compiled, calls=3, params=None):
    """Adam steps on (loop(x)**2).mean(): the parameters (``_params(gates, dtype)`` unless
    given), their gradients and the losses."""
    params = _params(gates, dtype) if params is None else params
    opt = optim.Adam(params, lr=1e-2)

    def step(x):
        opt.zero_grad()
        loss = (loop(x, *params) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    fn = mg.compile(step) if compiled else step
    rng = np.random.default_rng(0)
    losses = [fn(mg.tensor(rng.standard_normal((T, batch, I)).astype(dtype))).item()
              for _ in range(calls)]
    return params, losses, fn


def _chains(fn) -> int:
    return sum(line.endswith("# row chain") for line in fn.programs()[0].source.splitlines())


def _same(eager, compiled, dtype):
    (ep, el, _), (cp, cl, _) = eager, compiled
    tol = TOL[dtype]
    np.testing.assert_allclose(cl, el, rtol=tol, atol=tol)
    for k, (a, b) in enumerate(zip(ep, cp)):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=tol, atol=tol, err_msg=f"param {k}")
        if a.grad is None:  # a parameter the loop does not use
            assert b.grad is None
            continue
        np.testing.assert_allclose(b.grad, a.grad, rtol=tol, atol=tol, err_msg=f"grad {k}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loop, gates", [(_lstm, 4), (_gru, 3)], ids=["lstm", "gru"])
@pytest.mark.parametrize("batch, n_threads", [(6, 2), (5, 2), (7, 3), (1, 2)])
def test_loops_run_as_row_chains_and_equal_eager(threads, loop, gates, dtype, batch, n_threads):
    threads(n_threads)
    eager = _train(loop, gates, dtype, batch, compiled=False)
    compiled = _train(loop, gates, dtype, batch, compiled=True)
    _same(eager, compiled, dtype)
    # LSTM: the forward's steps and the backward's; GRU: the forward's (its backward's gate
    # gradients go to two concats and its dh is accumulated in place: calls a chain leaves)
    assert _chains(compiled[2]) == (2 if loop is _lstm else 1)


def test_two_loops_with_different_fused_bodies_in_one_program(threads):
    """An LSTM loop and a GRU loop in one step: three chain kernels (the LSTM's forward and
    backward, the GRU's forward), each calling its own fused kernels through their compiled
    entries (native_call.py); a call that reached another chain's kernel or passed operands in
    another order would change the result."""
    threads(2)

    def both(x, *p):
        return _lstm(x, *p[:4]) * 0.5 + _gru(x, *p[4:])

    def params():
        return _params(4, np.float64) + _params(3, np.float64, seed=2)

    eager = _train(both, 0, np.float64, 5, compiled=False, params=params())
    compiled = _train(both, 0, np.float64, 5, compiled=True, params=params())
    _same(eager, compiled, np.float64)
    assert _chains(compiled[2]) == 3


def test_a_step_that_mixes_rows_is_left_alone(threads):
    threads(2)
    eager = _train(_mixing, 1, np.float64, 6, compiled=False)
    compiled = _train(_mixing, 1, np.float64, 6, compiled=True)
    _same(eager, compiled, np.float64)
    assert _chains(compiled[2]) == 0


def test_a_product_with_a_matrix_the_steps_make_is_left_alone(threads):
    """h_t = tanh(h_{t-1} @ (h_{t-1}^T h_{t-1}) + x_t W): the GEMM's right operand changes."""
    threads(2)

    def gram(x, w_ih, w_hh, b_ih, b_hh):
        h = mg.tensor(np.full((x.shape[1], H), 0.1, x.dtype))
        hs = []
        for t in range(x.shape[0]):
            h = (x[t] @ w_ih.T + h @ (h.T @ h) * 0.1 + b_ih).tanh()
            hs.append(h)
        return mg.stack(hs)

    eager = _train(gram, 1, np.float64, 6, compiled=False)
    compiled = _train(gram, 1, np.float64, 6, compiled=True)
    _same(eager, compiled, np.float64)
    assert _chains(compiled[2]) == 0


def test_fuse_false_and_the_switch_keep_every_call(threads, monkeypatch):
    threads(2)
    eager = _train(_lstm, 4, np.float64, 4, compiled=False)
    params = _params(4, np.float64)
    unfused = mg.compile(lambda x: _lstm(x, *params).sum(), fuse=False)
    unfused(mg.tensor(np.ones((T, 4, I))))
    assert _chains(unfused) == 0
    monkeypatch.setattr(row_chain, "ENABLED", False)
    off = _train(_lstm, 4, np.float64, 4, compiled=True)
    assert _chains(off[2]) == 0
    _same(eager, off, np.float64)


def test_gradcheck_through_a_compiled_loop_with_live_outputs(threads):
    """The compiled function returns the stacked states (its backward is a second program with
    its own chain); mg.gradcheck holds for the input and every parameter."""
    threads(2)
    params = _params(4, np.float64, seed=3)
    compiled = mg.compile(lambda x, *p: _lstm(x, *p))
    x = np.random.default_rng(4).standard_normal((T, 3, I))
    assert mg.gradcheck(compiled, [x, *[p.numpy() for p in params]])
    out = compiled(mg.tensor(x), *params)
    np.testing.assert_allclose(out.numpy(), _lstm(mg.tensor(x), *params).numpy(),
                               rtol=0, atol=1e-12)
    assert _chains(compiled) >= 1


def test_too_few_steps_stay_calls(threads):
    threads(2)
    params = _params(4, np.float64)
    fn = mg.compile(lambda x: _lstm(x, *params).sum())
    fn(mg.tensor(np.ones((3, 4, I))))
    assert _chains(fn) == 0


CHAIN_SCRIPT = """
import json, sys, numpy as np, minigrad as mg
sys.path.insert(0, "tests/compiler")
from test_row_chain import _lstm, _params
from minigrad.compiler.chain_ops import ChainCall
params = _params(4, np.float32)
def step(x):
    for p in params:
        p.grad = None
    loss = (_lstm(x, *params) ** 2).sum()
    loss.backward()
    return loss
compiled = mg.compile(step)
x = mg.tensor(np.linspace(-1, 1, 6 * 4 * 3).reshape(6, 4, 3).astype(np.float32))
compiled(x)  # the trace
loss = compiled(x).item()  # the program: its chains run
chains = [v.kernel for v in compiled.programs()[0].function.__globals__.values()
          if isinstance(v, ChainCall)]
stats = [[sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())] for k in chains]
print(json.dumps({"stats": stats, "loss": loss}))
"""


def test_chain_kernels_are_cached_on_disk(tmp_path, two_processes):
    """A second process finds the chain kernels on disk: Numba compiles none of them."""
    first, second = two_processes(CHAIN_SCRIPT)
    assert len(first["stats"]) == 2 and all(miss >= 1 for _, miss in first["stats"])
    assert all(hit >= 1 and miss == 0 for hit, miss in second["stats"])
    assert second["loss"] == first["loss"]
    assert len(list((tmp_path / "cells").glob("minigrad_chain_*.py"))) == 2


@pytest.mark.parametrize("damage", ["deleted", "torn"])
def test_chain_kernels_compile_again_when_the_native_records_are_damaged(tmp_path, two_processes,
                                                                         damage):
    """The records of what the chain kernels call (<cache>/native) deleted or torn while the
    kernels stay cached: the second process must not load a kernel calling an unbound symbol
    (LLVM would stop it); it compiles the chains again and gets the same loss."""
    import shutil

    def harm():
        records = tmp_path / "native"
        assert any(records.rglob("*.pkl"))
        if damage == "deleted":
            shutil.rmtree(records)
        else:
            for path in records.rglob("*.pkl"):
                path.write_bytes(path.read_bytes()[:3])

    first, second = two_processes(CHAIN_SCRIPT, between=harm)
    assert second["loss"] == first["loss"]
    assert all(miss >= 1 for _, miss in second["stats"])
