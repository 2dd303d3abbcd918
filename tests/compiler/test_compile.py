"""mg.compile: whole training steps compiled == eager (float64 to 1e-10), guards, named errors."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

import minigrad as mg
from lstm import LSTM, tasks
from minigrad import optim

TOL = 1e-10


def _twin(build):
    """Two identical setups (the same seeds): (eager step, compiled step, eager params, compiled
    params); build() -> (step, params)."""
    eager, eager_params = build()
    compiled, compiled_params = build()
    return eager, mg.compile(compiled), eager_params, compiled_params


def _assert_same(a_params, b_params, what):
    for k, (a, b) in enumerate(zip(a_params, b_params)):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=TOL,
                                   err_msg=f"{what}: parameter {k} data")
        if a.grad is None:
            assert b.grad is None, f"{what}: parameter {k} has a grad only when compiled"
        else:
            np.testing.assert_allclose(b.grad, a.grad, rtol=0, atol=TOL,
                                       err_msg=f"{what}: parameter {k} grad")


def _run_twins(build, batches, steps=4):
    eager, compiled, ep, cp = _twin(build)
    for k in range(steps):
        args = batches(k)
        expected = eager(*args)
        got = compiled(*args)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=0, atol=TOL,
                                   err_msg=f"loss at call {k}")
        _assert_same(ep, cp, f"call {k}")
    info = compiled.cache_info()
    assert info.traces == 1 and info.hits == steps - 1, info
    return compiled


def test_readme_lstm_example_step_compiled_equals_eager():
    """The README's LSTM example (fused LSTM, readout, RMSprop, clipping), in float64."""
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((20, 8, 4)), rng.standard_normal((8, 1))) for _ in range(4)]

    def build():
        model = LSTM(input_size=4, hidden_size=16, forget_bias=1.0, rng=0, dtype=np.float64)
        readout = mg.nn.Linear(16, 1, rng=1, dtype=np.float64)
        params = model.parameters() + readout.parameters()
        opt = mg.optim.RMSprop(params, lr=1e-2, alpha=0.9)

        def step(x, target):
            out, (h_n, c_n) = model(x)
            loss = mg.mse_loss(readout(out[-1]), target)
            opt.zero_grad()
            loss.backward()
            mg.optim.clip_grad_norm_(params, 0.1)  # small: the clipping acts on every call
            opt.step()
            return loss

        return step, params

    _run_twins(build, lambda k: (mg.tensor(data[k][0]), mg.tensor(data[k][1])))


def _plain_lstm(params, x, h, c):
    """A user's own LSTM written as a Python loop over time (no Cell, no fused kernel)."""
    w_ih, w_hh, b = params
    H = h.shape[1]
    for x_t in x:
        gates = x_t @ w_ih + h @ w_hh + b
        i, f, g, o = (gates[:, :H].sigmoid(), gates[:, H:2 * H].sigmoid(),
                      gates[:, 2 * H:3 * H].tanh(), gates[:, 3 * H:].sigmoid())
        c = f * c + i * g
        h = o * c.tanh()
    return h


def test_plain_loop_lstm_with_adam_compiled_equals_eager():
    rng = np.random.default_rng(1)
    T, B, I, H = 12, 5, 3, 7
    data = [(rng.standard_normal((T, B, I)), rng.standard_normal((B, 1))) for _ in range(4)]

    def build():
        r = np.random.default_rng(2)
        params = [mg.tensor(r.standard_normal(s) * 0.3, requires_grad=True, dtype=np.float64)
                  for s in ((I, 4 * H), (H, 4 * H), (4 * H,), (H, 1))]
        opt = optim.Adam(params, lr=1e-2)
        h0 = mg.zeros(B, H, dtype=np.float64)

        def step(x, y):
            opt.zero_grad()
            h = _plain_lstm(params[:3], x, h0, h0)
            loss = ((h @ params[3] - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        return step, params

    _run_twins(build, lambda k: (mg.tensor(data[k][0]), mg.tensor(data[k][1])))


def test_adding_task_step_adam_clipping_compiled_equals_eager():
    """An lstm-train-like adding step: LSTM (forget bias 1), Adam, norm clipping."""
    rng = np.random.default_rng(3)
    batches = [tasks.adding(6, 15, rng) for _ in range(4)]

    def build():
        model = LSTM(2, 12, forget_bias=1.0, rng=4, dtype=np.float64)
        readout = mg.nn.Linear(12, 1, rng=5, dtype=np.float64)
        params = model.parameters() + readout.parameters()
        opt = optim.Adam(params, lr=1e-2)

        def step(x, y):
            out, _ = model(x)
            loss = mg.mse_loss(readout(out[-1]), y)
            loss.backward()
            optim.clip_grad_norm_(params, 0.05)
            opt.step()
            opt.zero_grad()
            return loss

        return step, params

    _run_twins(build, lambda k: tuple(mg.tensor(a.astype(np.float64)) for a in batches[k]))


def test_copy_task_step_cross_entropy_compiled_equals_eager():
    rng = np.random.default_rng(6)
    batches = [tasks.copy(4, 6, rng, n_symbols=5, n_copy=3) for _ in range(4)]

    def build():
        embed = mg.nn.Embedding(10, 6, rng=7, dtype=np.float64)
        model = LSTM(6, 9, rng=8, dtype=np.float64)
        readout = mg.nn.Linear(9, 10, rng=9, dtype=np.float64)
        params = embed.parameters() + model.parameters() + readout.parameters()
        opt = optim.SGD(params, lr=0.1, momentum=0.9)

        def step(x, y):
            out, _ = model(embed(x))
            loss = mg.cross_entropy(readout(out), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        return step, params

    _run_twins(build, lambda k: (mg.tensor(batches[k][0]), mg.tensor(batches[k][1])))


def test_gradients_accumulate_across_calls_without_zero_grad():
    """No zero_grad: the first call finds .grad None, later ones add to it (a guard retraces)."""
    def build():
        w = mg.tensor(np.linspace(-1, 1, 6).reshape(3, 2), requires_grad=True, dtype=np.float64)

        def step(x):
            loss = (x @ w).tanh().sum()
            loss.backward()
            return loss

        return step, [w]

    rng = np.random.default_rng(10)
    xs = [mg.tensor(rng.standard_normal((4, 3))) for _ in range(4)]
    eager, compiled, ep, cp = _twin(build)
    for x in xs:
        eager(x)
        compiled(x)
        _assert_same(ep, cp, "accumulating")
    assert compiled.cache_info().traces == 2  # .grad None, then .grad an array


def test_retrace_on_new_shape_dtype_and_constant():
    w = mg.tensor(np.ones((3, 2)), requires_grad=True, dtype=np.float64)

    def f(x, scale):
        w.grad = None
        loss = ((x @ w) * scale).sum()
        loss.backward()
        return loss

    step = mg.compile(f)
    a = mg.tensor(np.ones((4, 3)))
    assert step(a, 2.0).item() == 48.0
    assert step(a, 2.0).item() == 48.0
    assert step(mg.tensor(np.ones((5, 3))), 2.0).item() == 60.0  # new shape
    assert step(a, 3.0).item() == 72.0  # new Python constant
    np.testing.assert_array_equal(w.grad, np.full((3, 2), 12.0))
    info = step.cache_info()
    assert (info.traces, info.hits, info.misses, info.size) == (3, 1, 3, 3)


def test_cache_is_bounded():
    w = mg.tensor(np.ones(3), dtype=np.float64)
    step = mg.compile(lambda x: (x * w).sum(), max_traces=2)
    for n in (1, 2, 3, 1):
        step(mg.tensor(np.ones((n, 3))))
    info = step.cache_info()
    assert info.size == 2 and info.traces == 4 and info.max_size == 2


def test_closed_over_constant_is_part_of_the_signature():
    scale = 2.0
    w = mg.tensor(np.ones(2), dtype=np.float64)

    def f(x):
        return (x * w * scale).sum()

    step = mg.compile(f)
    x = mg.tensor(np.ones(2))
    assert step(x).item() == 4.0
    scale = 5.0
    assert step(x).item() == 10.0
    assert step.cache_info().traces == 2


def test_item_inside_is_one_clear_error_naming_the_op_and_line():
    w = mg.tensor(np.ones(2), requires_grad=True, dtype=np.float64)

    def f(x):
        loss = (x * w).sum()
        if loss.item() > 0:  # the offending line
            loss = loss * 2
        return loss

    with pytest.raises(mg.CompileError) as err:
        mg.compile(f)(mg.tensor(np.ones(2)))
    message = str(err.value)
    assert "cannot compile .item() in" in message and "if loss.item() > 0" in message
    assert "test_compile.py" in message and "without mg.compile" in message


@pytest.mark.parametrize("read, op", [("x.numpy()", ".numpy()"), ("bool(x.sum() > 0)",
                                                                  "bool(tensor)")])
def test_host_reads_are_named(read, op):
    def f(x):
        value = eval(read)  # noqa: S307 - the read under test
        return x * 2 if value is not None else x

    with pytest.raises(mg.CompileError, match=op.replace("(", r"\(").replace(")", r"\)")):
        mg.compile(f)(mg.tensor(np.ones(2)))


def test_numpy_argument_is_an_error():
    step = mg.compile(lambda x: x * 2)
    with pytest.raises(mg.CompileError, match="numpy ndarray"):
        step(np.ones(2))


def test_forward_only_under_no_grad_and_outputs_are_fresh():
    w = mg.tensor(np.arange(6.0).reshape(3, 2), dtype=np.float64)
    step = mg.compile(lambda x: ((x @ w).tanh(), (x * 2).sum()))
    rng = np.random.default_rng(11)
    for _ in range(3):
        x = rng.standard_normal((4, 3))
        y, s = step(mg.tensor(x))
        np.testing.assert_allclose(y.numpy(), np.tanh(x @ w.numpy()), rtol=0, atol=TOL)
        assert s.item() == pytest.approx(2 * x.sum(), abs=TOL)
        assert not y.requires_grad


def test_gradcheck_on_a_compiled_function():
    """A compiled function whose output has a graph is one tape node; its backward program is
    the ops' own VJPs: gradcheck holds, and a parameter it closes over gets eager's .grad."""
    w = mg.tensor(np.random.default_rng(12).standard_normal((4, 3)), requires_grad=True,
                  dtype=np.float64)

    def f(x, y):
        return ((x @ w).tanh() * y.sigmoid()).sum(axis=0) + (x * x).mean()

    compiled = mg.compile(f)
    rng = np.random.default_rng(13)
    assert mg.gradcheck(compiled, [rng.standard_normal((5, 4)), rng.standard_normal((5, 3))])
    for _ in range(3):
        x = mg.tensor(rng.standard_normal((5, 4)), requires_grad=True)
        y = mg.tensor(rng.standard_normal((5, 3)), requires_grad=True)
        upstream = rng.standard_normal(3)
        w.grad = None
        f(x, y).backward(upstream)
        expected = [x.grad, y.grad, w.grad]
        x.grad = y.grad = w.grad = None
        out = compiled(x, y)
        assert out.requires_grad and not out.is_leaf
        out.backward(upstream)
        for got, want in zip([x.grad, y.grad, w.grad], expected):
            np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_compiled_node_inside_a_larger_graph():
    rng = np.random.default_rng(14)
    a = mg.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    inner = mg.compile(lambda h: (h * h).tanh())
    for _ in range(2):
        a.grad = None
        loss = inner(a.exp() * 2.0).sum()  # the argument has a graph of its own
        loss.backward()
        x = a.numpy()
        expected = (1 - np.tanh((2 * np.exp(x)) ** 2) ** 2) * 2 * (2 * np.exp(x)) * 2 * np.exp(x)
        np.testing.assert_allclose(a.grad, expected, rtol=1e-12, atol=1e-12)


def _peak_bytes(fn, *args):
    gc.collect()
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_compiled_step_peaks_no_higher_than_eager():
    """The buffer plan: each program variable dies after its last use and no tape holds any, so
    a compiled step's peak of numpy allocations is at most eager's (tracemalloc)."""
    rng = np.random.default_rng(15)
    T, B, I, H = 30, 8, 4, 16
    x = mg.tensor(rng.standard_normal((T, B, I)))
    y = mg.tensor(rng.standard_normal((B, 1)))

    def build():
        r = np.random.default_rng(16)
        params = [mg.tensor(r.standard_normal(s) * 0.3, requires_grad=True, dtype=np.float64)
                  for s in ((I, 4 * H), (H, 4 * H), (4 * H,), (H, 1))]
        opt = optim.SGD(params, lr=1e-2)
        h0 = mg.zeros(B, H, dtype=np.float64)

        def step(x, y):
            opt.zero_grad()
            loss = ((_plain_lstm(params[:3], x, h0, h0) @ params[3] - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        return step

    eager, compiled = build(), mg.compile(build())
    eager(x, y)
    compiled(x, y)
    compiled(x, y)
    assert _peak_bytes(compiled, x, y) <= _peak_bytes(eager, x, y)


def test_fusion_makes_fewer_calls_and_equals_the_unfused_program():
    rng = np.random.default_rng(17)
    T, B, I, H = 10, 4, 3, 6
    x = mg.tensor(rng.standard_normal((T, B, I)))
    steps = {}
    for fused in (False, True):
        r = np.random.default_rng(18)
        params = [mg.tensor(r.standard_normal(s) * 0.3, requires_grad=True, dtype=np.float64)
                  for s in ((I, 4 * H), (H, 4 * H), (4 * H,))]
        h0 = mg.zeros(B, H, dtype=np.float64)

        def step(x, params=params, h0=h0):
            for p in params:
                p.grad = None
            loss = _plain_lstm(params, x, h0, h0).sum()
            loss.backward()
            return loss

        compiled = mg.compile(step, fuse=fused)
        compiled(x)
        steps[fused] = (compiled, compiled(x), params)
    (plain, loss_plain, p_plain), (fused, loss_fused, p_fused) = steps[False], steps[True]
    assert fused.programs()[0].n_calls < plain.programs()[0].n_calls * 0.7
    assert "fused" in fused.programs()[0].source
    np.testing.assert_allclose(loss_fused.numpy(), loss_plain.numpy(), rtol=0, atol=TOL)
    _assert_same(p_plain, p_fused, "fused")


FUSED_SCRIPT = """
import json, numpy as np, minigrad as mg
from numba.core.registry import CPUDispatcher
w = mg.tensor(np.linspace(-1, 1, 12).reshape(3, 4).astype(np.float32), requires_grad=True)
def step(x):
    w.grad = None
    loss = ((x @ w).tanh() * (x @ w).sigmoid() - 1.0).sum()
    loss.backward()
    return loss
compiled = mg.compile(step)
compiled(mg.tensor(np.ones((2, 3), np.float32)))  # the trace
loss = compiled(mg.tensor(np.ones((2, 3), np.float32))).item()  # the program: its kernels run
kernels = [v for v in compiled.programs()[0].function.__globals__.values()
           if isinstance(v, CPUDispatcher) and v.__name__ == "fused"]
stats = [[sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())] for k in kernels]
print(json.dumps({"stats": stats, "loss": loss}))
"""


def test_fused_kernels_are_cached_on_disk(tmp_path, two_processes):
    """A second process finds the generated kernels on disk: Numba compiles none of them."""
    first, second = two_processes(FUSED_SCRIPT)
    assert first["stats"] and all(miss >= 1 for _, miss in first["stats"])
    assert all(hit >= 1 and miss == 0 for hit, miss in second["stats"])
    assert second["loss"] == first["loss"]
    assert list((tmp_path / "cells").glob("minigrad_fused_*.py"))


def test_two_layer_gru_with_dropout_compiled_equals_eager():
    """Dropout masks come from the model's Generator on every call, compiled as eager."""
    from lstm import GRU

    rng = np.random.default_rng(19)
    data = [(rng.standard_normal((8, 3, 2)), rng.standard_normal((3, 1))) for _ in range(3)]

    def build():
        model = GRU(2, 5, num_layers=2, dropout=0.3, rng=20, dtype=np.float64)
        readout = mg.nn.Linear(5, 1, rng=21, dtype=np.float64)
        params = model.parameters() + readout.parameters()
        opt = optim.Adam(params, lr=1e-2)

        def step(x, y):
            out, _ = model(x)
            loss = mg.mse_loss(readout(out[-1]), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        return step, params

    _run_twins(build, lambda k: (mg.tensor(data[k][0]), mg.tensor(data[k][1])), steps=3)


def test_dropout_with_a_seed_is_an_error_inside_compile():
    def f(x):
        return mg.dropout(x, 0.5, rng=3).sum()

    with pytest.raises(ValueError, match="numpy Generator"):
        mg.compile(f)(mg.tensor(np.ones(4)))


def test_variable_lengths_are_read_by_the_program_and_checked_on_every_call():
    """lengths (a Tensor) reach the fused recurrence (the primitive; lstm's layers read them on
    the host, a named error) as a program value: new lengths on every call compile once and
    equal eager; a bad length still raises, compiled."""
    rng = np.random.default_rng(22)
    T, B = 7, 4
    calls = [(rng.standard_normal((T, B, 3)), rng.integers(1, T + 1, B),
              rng.standard_normal((B, 1))) for _ in range(3)]

    from minigrad.ops.recurrent import lstm_sequence

    def build():
        r = np.random.default_rng(23)
        params = [mg.tensor(r.standard_normal(s) * 0.3, requires_grad=True, dtype=np.float64)
                  for s in ((20, 3), (20, 5), (20,), (5, 1))]
        opt = optim.SGD(params, lr=0.1)
        h0 = mg.zeros(B, 5, dtype=np.float64)

        def step(x, lengths, y):
            _, h_n, _ = lstm_sequence(x, h0, h0, params[0], params[1], params[2],
                                      lengths=lengths)
            loss = mg.mse_loss(h_n @ params[3], y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        return step, params

    compiled = _run_twins(build, lambda k: (mg.tensor(calls[k][0]), mg.tensor(calls[k][1]),
                                            mg.tensor(calls[k][2])), steps=3)
    bad = np.full(B, T + 1)
    with pytest.raises(ValueError, match="lengths must lie in"):
        compiled(mg.tensor(calls[0][0]), mg.tensor(bad), mg.tensor(calls[0][2]))
