"""A stack of fused layers run as a wavefront over chunks of time (compiler/run_stack.py) equals
the same layers run one after another (float64, 1e-10): outputs, final states, the gradients of
the input, the initial states and every parameter; 2 and 3 layers, odd chunk counts, T not a
multiple of the chunk, lengths, carried states, a second backward, mg.compile."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm import GRU, LSTM, RNN
from minigrad.compiler import cpu_runtime as rt
from minigrad.compiler import run_stack


@pytest.fixture
def two_threads():
    before = rt.get_num_threads()
    rt.set_num_threads(2)
    yield
    rt.set_num_threads(before)


def _step(module, x, state, lengths, weights, pipelined, monkeypatch):
    """(arrays: out, finals, dx, dstates; {param: grad}; the output's node name)."""
    monkeypatch.setenv("MINIGRAD_STACK_PIPELINE", "1" if pipelined else "0")
    xm = mg.tensor(x, requires_grad=True)
    states = [mg.tensor(s, requires_grad=True) for s in state]
    given = None if not states else (states[0] if len(states) == 1 else tuple(states))
    out, finals = module(xm, given, lengths=lengths)
    finals = finals if isinstance(finals, tuple) else (finals,)
    loss = (out * weights[0]).sum()
    for f, w in zip(finals, weights[1:]):
        loss = loss + (f * w).sum()
    module.zero_grad()
    loss.backward()
    grads = {n: p.grad.copy() for n, p in module.named_parameters()}
    arrays = [out.numpy(), *[f.numpy() for f in finals], xm.grad, *[s.grad for s in states]]
    return arrays, grads, out._node[0].name if isinstance(out._node, tuple) else out._node.name


CASES = [  # (layer class, layers, T, B, I, H, chunks, carried state, lengths)
    (LSTM, 2, 37, 5, 3, 8, 3, True, True),  # I <= 16: dx in the loop, projection in the step
    (LSTM, 2, 23, 4, 20, 16, 5, False, False),  # 5 steps a chunk, last chunk 3 steps
    (LSTM, 3, 29, 6, 24, 12, 7, True, False),
    (LSTM, 3, 17, 3, 5, 8, 3, False, True),
    (GRU, 3, 26, 4, 6, 10, 3, True, True),  # the GRU's h-only slot
    (RNN, 2, 19, 5, 18, 9, 4, True, False),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].__name__}-{c[1]}x{c[2]}-k{c[6]}")
def test_pipelined_stack_equals_layer_by_layer(case, two_threads, monkeypatch):
    cls, layers, T, B, I, H, chunks, carried, with_lengths = case
    monkeypatch.setenv("MINIGRAD_STACK_CHUNKS", str(chunks))
    assert len(run_stack.chunk_bounds(T)) >= 2 and T % run_stack.chunk_bounds(T)[0][1]
    rng = np.random.default_rng(layers * 100 + T)
    module = cls(I, H, num_layers=layers, dtype=np.float64, rng=np.random.default_rng(1))
    x = rng.standard_normal((T, B, I))
    n_states = 2 if cls is LSTM else 1
    state = [rng.standard_normal((layers, B, H)) for _ in range(n_states)] if carried else []
    lengths = rng.integers(1, T + 1, B) if with_lengths else None
    weights = [mg.tensor(rng.standard_normal((T, B, H)))] + \
        [mg.tensor(rng.standard_normal((layers, B, H))) for _ in range(n_states)]
    a, grads_a, node_a = _step(module, x, state, lengths, weights, True, monkeypatch)
    b, grads_b, node_b = _step(module, x, state, lengths, weights, False, monkeypatch)
    assert (node_a, node_b) == ("stacked_recurrence", "fused_recurrence")
    for k, (u, v) in enumerate(zip(a, b)):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-10, err_msg=f"output {k}")
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        np.testing.assert_allclose(grads_a[name], grads_b[name], rtol=1e-10, atol=1e-10,
                                   err_msg=name)


def test_one_thread_or_one_chunk_runs_layer_by_layer(monkeypatch):
    module = LSTM(3, 4, num_layers=2, dtype=np.float64)
    x = mg.tensor(np.ones((12, 2, 3)))
    before = rt.get_num_threads()
    try:
        rt.set_num_threads(1)
        assert module(x)[0]._node[0].name == "fused_recurrence"
        rt.set_num_threads(2)
        assert module(x)[0]._node[0].name == "stacked_recurrence"
        monkeypatch.setenv("MINIGRAD_STACK_CHUNKS", "1")
        assert module(x)[0]._node[0].name == "fused_recurrence"
    finally:
        rt.set_num_threads(before)


def test_second_backward_reruns_the_forward(two_threads):
    rng = np.random.default_rng(3)
    module = LSTM(4, 6, num_layers=2, dtype=np.float64)
    x = mg.tensor(rng.standard_normal((13, 3, 4)), requires_grad=True)
    out, _ = module(x)
    loss = (out * out).sum()
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-12, atol=1e-12)


def test_compiled_step_equals_eager_layer_by_layer(two_threads, monkeypatch):
    """mg.compile records the pipelined runners (record.py) and replays them."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((21, 4, 5))
    h0, c0 = rng.standard_normal((2, 2, 4, 7))
    eager = LSTM(5, 7, num_layers=2, dtype=np.float64, rng=np.random.default_rng(2))
    compiled = LSTM(5, 7, num_layers=2, dtype=np.float64, rng=np.random.default_rng(2))
    opt = mg.optim.SGD(compiled.parameters(), lr=0.1)
    eager_opt = mg.optim.SGD(eager.parameters(), lr=0.1)

    @mg.compile
    def train(x, h, c):
        out, (h1, c1) = compiled(x, (h, c))
        loss = (out * out).mean() + (c1 * c1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):
        monkeypatch.setenv("MINIGRAD_STACK_PIPELINE", "0")
        out, (h1, c1) = eager(mg.tensor(x), (mg.tensor(h0), mg.tensor(c0)))
        expected = (out * out).mean() + (c1 * c1).mean()
        eager_opt.zero_grad()
        expected.backward()
        eager_opt.step()
        monkeypatch.setenv("MINIGRAD_STACK_PIPELINE", "1")
        loss = train(mg.tensor(x), mg.tensor(h0), mg.tensor(c0))
        np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=0, atol=1e-10)
        for (name, p), q in zip(compiled.named_parameters(), eager.parameters()):
            np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=0, atol=1e-10, err_msg=name)


def test_chunk_bounds_cover_the_steps_once(monkeypatch):
    for T in (1, 4, 9, 100, 101):
        for chunks in (1, 3, 8):
            bounds = run_stack.chunk_bounds(T, chunks)
            assert bounds[0][0] == 0 and bounds[-1][1] == T
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            assert all(t1 - t0 >= run_stack.MIN_CHUNK_STEPS for t0, t1 in bounds[:-1])
    monkeypatch.setenv("MINIGRAD_STACK_CHUNKS", "0")
    with pytest.raises(ValueError, match="MINIGRAD_STACK_CHUNKS must be a positive integer"):
        run_stack.chunk_bounds(10)
    monkeypatch.setenv("MINIGRAD_STACK_PIPELINE", "yes")
    with pytest.raises(ValueError, match="MINIGRAD_STACK_PIPELINE must be 0 or 1"):
        run_stack.enabled()


def test_tasks_run_in_dependency_order_and_raise_a_failure(two_threads):
    done = []
    tasks = run_stack.Tasks()
    a = tasks.add(5, done.append, "a")
    b = tasks.add(0, done.append, "b", after=(a,))
    tasks.add(1, done.append, "c", after=(a, b))
    tasks.add(9, done.append, "d")
    tasks.run(2)
    assert sorted(done) == ["a", "b", "c", "d"]
    assert done.index("a") < done.index("b") < done.index("c")

    def fail():
        raise RuntimeError("task failed")

    tasks = run_stack.Tasks()
    first = tasks.add(0, fail)
    tasks.add(1, done.append, "never", after=(first,))
    with pytest.raises(RuntimeError, match="task failed"):
        tasks.run(2)
    assert "never" not in done
