"""mg.compile's batching (compiler/batch.py): a loop's independent GEMMs and row sums become one
call each, results equal eager (float64, 1e-10), and a rewrite is skipped where an operand may be
written in place between its calls."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.backends import cpu
from minigrad.compiler import row_chain
from minigrad.compiler.batch import batch
from minigrad.compiler.record import Const, Slot

TOL = 1e-10
T, B, I, H = 9, 4, 3, 5


def _loop_lstm(x, w_ih, w_hh, b_ih, b_hh):
    """The composed LSTM of bench.peers (PyTorch gate order, transposed weights, split)."""
    h = c = mg.zeros((B, H), dtype=np.float64)
    hs = []
    for t in range(x.shape[0]):
        gates = x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i, f, g, o = gates.split(4, axis=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        hs.append(h)
    return mg.stack(hs)


def _params(seed):
    r = np.random.default_rng(seed)
    return [mg.tensor(r.standard_normal(s) * 0.3, requires_grad=True, dtype=np.float64)
            for s in ((4 * H, I), (4 * H, H), (4 * H,), (4 * H,))]


def _same(a_params, b_params, what):
    for k, (a, b) in enumerate(zip(a_params, b_params)):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=TOL, err_msg=f"{what} {k}")
        np.testing.assert_allclose(b.grad, a.grad, rtol=0, atol=TOL, err_msg=f"{what} grad {k}")


def _calls(program, name):
    return sum(line.endswith(f"# {name}") for line in program.source.splitlines())


def test_loop_gemms_and_bias_sums_are_batched_and_equal_eager(monkeypatch):
    monkeypatch.setattr(row_chain, "ENABLED", False)  # the calls batching leaves, counted
    rng = np.random.default_rng(0)
    xs = [mg.tensor(rng.standard_normal((T, B, I))) for _ in range(3)]
    steps = []
    for _ in range(2):
        params = _params(1)
        opt = optim.Adam(params, lr=1e-2)

        def step(x, params=params, opt=opt):
            opt.zero_grad()
            loss = (_loop_lstm(x, *params) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        steps.append((step, params))
    (eager, ep), (compiled, cp) = steps[0], (mg.compile(steps[1][0]), steps[1][1])
    for k, x in enumerate(xs):
        np.testing.assert_allclose(compiled(x).numpy(), eager(x).numpy(), rtol=0, atol=TOL)
        _same(ep, cp, f"call {k}")
    program = compiled.programs()[0]
    assert _calls(program, "cpu.matmul") == T + 1  # h @ W_hh^T per step, x @ W_ih^T once
    assert _calls(program, "cpu.matmul_tn") == 2  # dW_ih and dW_hh, one GEMM each
    assert _calls(program, "cpu.sum_to") == 1  # db_ih: one row sum; db_hh: its copy
    assert _calls(program, "copy") == 1
    # the gate gradients go into one buffer's row blocks, written by the fused backward kernels
    # themselves (fusion across concat)
    assert _calls(program, "concat_into") == 0
    assert _calls(program, "cpu.add_into") == 0


def test_batched_backward_of_a_compiled_node_equals_eager():
    """A compiled function returning a live output: its backward program is batched too (the
    input's rows become a residual of the forward program)."""
    rng = np.random.default_rng(2)
    x = mg.tensor(rng.standard_normal((T, B, I)))
    up = rng.standard_normal((T, B, H))
    eager_p, comp_p = _params(3), _params(3)
    compiled = mg.compile(lambda x: _loop_lstm(x, *comp_p))
    for _ in range(2):
        for p in eager_p + comp_p:
            p.grad = None
        out_e, out_c = _loop_lstm(x, *eager_p), compiled(x)
        np.testing.assert_allclose(out_c.numpy(), out_e.numpy(), rtol=0, atol=TOL)
        (out_e * mg.tensor(up)).sum().backward()
        (out_c * mg.tensor(up)).sum().backward()
        _same(eager_p, comp_p, "node")
    backward = compiled._cache[next(iter(compiled._cache))][0].node.backward
    assert _calls(backward, "cpu.matmul_tn") == 2


def _values(*arrays):
    return list(arrays)


def test_reduce_is_skipped_when_an_operand_is_written_in_place_between():
    """Synthetic program: four x_k^T d_k accumulated by the walk; a write into d_1 after its
    term keeps the chain as recorded (batching would read the written value)."""
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((3, 2)) for _ in range(8)]  # x_0..x_3, d_0..d_3
    terms = [cpu.matmul_tn(arrays[k], arrays[4 + k]) for k in range(4)]
    acc = cpu.add(terms[0], terms[1])
    values = _values(*arrays, *terms, acc)
    x, d = [Slot(k) for k in range(4)], [Slot(4 + k) for k in range(4)]
    t = [Slot(8 + k) for k in range(4)]

    def program(write_between):
        ops = [("call", cpu.matmul_tn, (x[k], d[k]), {}, t[k], "cpu.matmul_tn")
               for k in range(4)]
        ops.append(("call", cpu.add, (t[0], t[1]), {}, Slot(12), "cpu.add"))
        if write_between:
            ops.append(("call", cpu.add_into, (d[1], Const(np.ones((3, 2)))), {}, None,
                        "cpu.add_into"))
        ops += [("call", cpu.add_into, (Slot(12), t[k]), {}, None, "cpu.add_into")
                for k in (2, 3)]
        return ops

    counter = [len(values)]

    def new_slot(value):
        values.append(value)
        counter[0] += 1
        return Slot(counter[0] - 1)

    batched = batch(program(False), values, {12}, new_slot)
    assert [op[5] for op in batched].count("cpu.matmul_tn") == 1
    kept = batch(program(True), values, {12}, new_slot)
    assert [op[5] for op in kept].count("cpu.matmul_tn") == 4


def test_bias_rows_fuse_and_a_gemm_between_moves_before_the_run():
    """x @ W + b + h @ U + c: the row-broadcast biases join the elementwise run and the GEMM
    h @ U between its adds is called before it, so the adds are one generated kernel."""
    rng = np.random.default_rng(5)
    w, u = rng.standard_normal((3, 6)), rng.standard_normal((6, 6))
    b, c = rng.standard_normal(6), rng.standard_normal(6)
    x, h = mg.tensor(rng.standard_normal((4, 3))), mg.tensor(rng.standard_normal((4, 6)))
    results = {}
    for fused in (True, False):
        params = [mg.tensor(a, requires_grad=True) for a in (w, u, b, c)]

        def step(x, h, params=params):
            for p in params:
                p.grad = None
            loss = (x @ params[0] + params[2] + h @ params[1] + params[3]).tanh().sum()
            loss.backward()
            return loss

        compiled = mg.compile(step, fuse=fused)
        compiled(x, h)
        results[fused] = (compiled(x, h), params, compiled.programs()[0])
    (loss, params, program), (plain_loss, plain_params, _) = results[True], results[False]
    assert _calls(program, "cpu.add") == 0 and _calls(program, "cpu.tanh") == 0
    np.testing.assert_allclose(loss.numpy(), plain_loss.numpy(), rtol=0, atol=TOL)
    for p, q in zip(params, plain_params):
        np.testing.assert_allclose(p.grad, q.grad, rtol=0, atol=TOL)


def _execute(ops, env):
    """Run recorded operations on env (slot -> array); returns env."""
    def value(t):
        if type(t) is Slot:
            return env[t.i]
        if type(t) is Const:
            return t.value
        return type(t)(value(x) for x in t) if type(t) in (tuple, list) else t

    for op in ops:
        out = op[1](*value(op[2]), **{k: value(v) for k, v in op[3].items()})
        if type(op[4]) is Slot:
            env[op[4].i] = out
    return env


def test_a_chain_over_some_rows_of_a_shared_buffer_reads_only_its_rows():
    """Five gate gradients d_k made by concat feed a bias sum over all five (which puts them in
    one buffer) and a weight gradient over d_0..d_3 only: the second must not read d_4's row."""
    rng = np.random.default_rng(8)
    n, values, ops = 5, [], []

    def slot(value):
        values.append(value)
        return Slot(len(values) - 1)

    parts = [[slot(rng.standard_normal((3, 2))) for _ in range(2)] for _ in range(n)]
    xs = [slot(rng.standard_normal((3, 4))) for _ in range(n)]
    d = [slot(np.concatenate([values[p.i] for p in ps], axis=1)) for ps in parts]
    ops += [("call", cpu.concat, (list(ps), Const(1)), {}, d[k], "cpu.concat")
            for k, ps in enumerate(parts)]

    def chain(fn, name, args_of, ks):
        terms = [slot(_execute([("call", fn, args_of(k), {}, Slot(-1))], dict(
            enumerate(values)))[-1]) for k in ks]
        ops.extend(("call", fn, args_of(k), {}, t, name) for k, t in zip(ks, terms))
        acc = slot(values[terms[0].i] + values[terms[1].i])
        ops.append(("call", cpu.add, (terms[0], terms[1]), {}, acc, "cpu.add"))
        ops.extend(("call", cpu.add_into, (acc, t), {}, None, "cpu.add_into") for t in terms[2:])
        return acc

    bias = chain(cpu.sum_to, "cpu.sum_to", lambda k: (d[k], (Const(4),)), range(n))
    weight = chain(cpu.matmul_tn, "cpu.matmul_tn", lambda k: (xs[k], d[k]), range(n - 1))

    def new_slot(value):
        values.append(value)
        return Slot(len(values) - 1)

    inputs = {s.i: values[s.i] for ps in parts for s in ps} | {s.i: values[s.i] for s in xs}
    expected = _execute(ops, dict(inputs))
    batched = batch(ops, values, {bias.i, weight.i}, new_slot)
    assert [op[5] for op in batched].count("cpu.matmul_tn") == 1  # batched, from a copy
    got = _execute(batched, dict(inputs))
    for acc in (bias, weight):
        np.testing.assert_allclose(got[acc.i], expected[acc.i], rtol=0, atol=TOL)


@pytest.mark.parametrize("name", ["lstm", "gru", "lstm-peephole", "lstm-proj", "mingru"])
def test_composed_zoo_models_batched_step_equals_eager(name):
    """lstm's composed layers (the cells' steps as ops, T = 8 >= the batching threshold): an
    adding-task step with clipping and Adam, compiled, equals eager."""
    from lstm.models import build_model
    from lstm.tasks import get_task

    task = get_task("adding", 8)
    models = [build_model(name, task, 8, rng=0, impl="composed", dtype=np.float64)
              for _ in range(2)]
    steps = []
    for model in models:
        opt = optim.Adam(model.parameters(), lr=1e-2)

        def step(x, y, model=model, opt=opt):
            out, _ = model.forward_encoded(x)
            loss = mg.mse_loss(out, y)
            loss.backward()
            optim.clip_grad_norm_(opt.params, 0.5)
            opt.step()
            opt.zero_grad()
            return loss

        steps.append(step)
    eager, compiled = steps[0], mg.compile(steps[1])
    rng = np.random.default_rng(1)
    for _ in range(3):
        x, y = task.make_batch(5, rng)[:2]
        x, y = models[0].encode(x), mg.tensor(np.asarray(y, np.float64))
        x = mg.tensor(x.numpy().astype(np.float64))
        np.testing.assert_allclose(compiled(x, y).numpy(), eager(x, y).numpy(), rtol=0, atol=TOL)
        for a, b in zip(models[0].parameters(), models[1].parameters()):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=TOL)
    assert compiled.cache_info().traces == 1
    assert _calls(compiled.programs()[0], "cpu.matmul_tn") <= 4  # batched: 2 T without
