"""mg.compile's fusion across split and concat (compiler/fuse.py): a fused kernel reads the
column slices a ``split`` makes in place (no copy, no split call) and writes its outputs into the
columns of a ``concat``'s result (no separate concat), equal to eager in float64 (1e-10)."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

TOL = 1e-10
B, H = 5, 7


def _params(seed=1, width=4 * H):
    r = np.random.default_rng(seed)
    return [mg.tensor(r.standard_normal(s) * 0.5, requires_grad=True, dtype=np.float64)
            for s in ((3, width), (width,))]


def _lines(program, name):
    return [line for line in program.source.splitlines() if line.endswith(f"# {name}")]


def _kernel_sources(compiled):
    """The sources of the generated fused kernels a compiled function's programs call."""
    import sys

    from numba.core.registry import CPUDispatcher

    found = []
    for program in compiled.programs():
        for value in program.function.__globals__.values():
            if isinstance(value, CPUDispatcher) and value.__name__ == "fused":
                found.append(value.py_func.__module__)
    return [open(sys.modules[name].__file__).read() for name in found]


def _twins(loss_fn, params_of, inputs, calls=3):
    """Run loss_fn eagerly and compiled (fresh parameters of one seed each), call after call:
    losses and gradients equal to TOL. Returns the compiled function."""
    eager_p, comp_p = params_of(), params_of()

    def step(x, params):
        for p in params:
            p.grad = None
        loss = loss_fn(x, *params)
        loss.backward()
        return loss

    compiled = mg.compile(lambda x: step(x, comp_p))
    for k in range(calls):
        x = inputs(k)
        want, got = step(x, eager_p), compiled(x)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=TOL)
        for j, (a, b) in enumerate(zip(eager_p, comp_p)):
            np.testing.assert_allclose(b.grad, a.grad, rtol=0, atol=TOL,
                                       err_msg=f"call {k} parameter {j}")
    return compiled


def _inputs(k):
    return mg.tensor(np.random.default_rng(10 + k).standard_normal((B, 3)))


def _gates(x, w, b):
    """An LSTM cell's gates from one projection: split into four column slices, each used once
    in an elementwise chain; the backward's four gate gradients meet in the split's concat."""
    i, f, g, o = (x @ w + b).split(4, axis=1)
    c = f.sigmoid() * 0.5 + i.sigmoid() * g.tanh()
    return (o.sigmoid() * c.tanh()).sum()


def test_split_gates_are_read_in_place_and_their_gradients_written_into_the_concat():
    compiled = _twins(_gates, _params, _inputs)
    program = compiled.programs()[0]
    assert not _lines(program, "cpu.concat")  # the gate gradients: written by the kernel
    sources = _kernel_sources(compiled)
    assert any("[r, " in s for s in sources)  # a kernel reads or writes row slices
    # the forward's split is gone: the cell's kernel reads the projection's columns itself
    assert not _lines(program, "cpu.split")


@pytest.mark.parametrize("sizes", [[H, 2 * H, H], [2 * H, 2 * H]])
def test_uneven_split_along_the_last_axis(sizes):
    """Parts of different widths (axis -1): each run reads the slices of its own width."""

    def loss(x, w, b):
        parts = (x @ w + b).split(sizes, axis=-1)
        total = 0.0
        for p in parts:
            total = total + (p.tanh() * p.sigmoid()).sum()
        return total

    _twins(loss, _params, _inputs)


def test_non_contiguous_base_is_read_correctly():
    """A split of a transposed (Fortran-ordered) array: its row slices are strided."""

    def loss(x, w, b):
        y = (w.T @ x.T).T + b  # (B, 4H), computed as the transpose of a product
        y = y.T.T  # views: still the same non-contiguous layout
        i, f, g, o = y.split(4, axis=1)
        return ((f.sigmoid() * g.tanh() + i.exp() * 0.1) * o.sigmoid()).sum()

    _twins(loss, _params, _inputs)


def test_concat_of_run_outputs_and_of_mixed_operands():
    """A concat of a run's outputs is written by the run's kernel; a concat that also takes an
    operand from outside the run, or whose operand is read elsewhere too (by a later call, or
    saved for the backward: exp's output), stays a concat."""

    def loss(x, w, b):
        y = x @ w + b  # (B, 4H)
        a = y.sigmoid()
        u = a * 2.0
        v = a.tanh()
        z = mg.concat([u + 1.0, v * u], axis=1)  # both from one run: written in place
        mixed = mg.concat([v * 3.0, y], axis=1)  # y from outside the run
        shared = u.tanh()
        again = mg.concat([shared, u * u], axis=-1)
        twice = (v - 1.0) * 2.0
        doubled = mg.concat([twice, twice], axis=1)  # one operand twice: stays a concat
        return ((z[:, :H] * 3.0).sum() + z.sum() + (mixed * mixed).sum() + again.sum() +
                (shared * 2.0).sum() + (doubled * doubled).sum())

    compiled = _twins(loss, lambda: _params(3), _inputs)
    assert len(_lines(compiled.programs()[0], "cpu.concat")) == 3


def test_plain_loop_lstm_fused_across_split_and_concat_equals_unfused():
    """The plain-loop LSTM (batched: the gate gradients go into one buffer's row blocks)."""
    T = 6
    rng = np.random.default_rng(4)
    xs = [mg.tensor(rng.standard_normal((T, B, 3))) for _ in range(2)]
    results = {}
    for fuse in (False, True):
        r = np.random.default_rng(5)
        params = [mg.tensor(r.standard_normal(s) * 0.3, requires_grad=True)
                  for s in ((3, 4 * H), (H, 4 * H), (4 * H,))]

        def step(x, params=params):
            w_ih, w_hh, b = params
            for p in params:
                p.grad = None
            h = c = mg.zeros((B, H), dtype=np.float64)
            for x_t in x:
                i, f, g, o = (x_t @ w_ih + h @ w_hh + b).split(4, axis=1)
                c = f.sigmoid() * c + i.sigmoid() * g.tanh()
                h = o.sigmoid() * c.tanh()
            loss = (h * h).sum()
            loss.backward()
            return loss

        compiled = mg.compile(step, fuse=fuse)
        results[fuse] = ([compiled(x).numpy() for x in xs], [p.grad for p in params],
                         compiled)
    (plain, plain_grads, _), (fused, fused_grads, compiled) = results[False], results[True]
    for a, b_ in zip(plain, fused):
        np.testing.assert_allclose(b_, a, rtol=0, atol=TOL)
    for a, b_ in zip(plain_grads, fused_grads):
        np.testing.assert_allclose(b_, a, rtol=0, atol=TOL)
    program = compiled.programs()[0]
    assert not _lines(program, "cpu.split")
    assert not _lines(program, "concat_into") and not _lines(program, "cpu.concat")
    # the first step (its zero state a constant array) runs the kernels of the others: one
    # for the gates, two cells (the last step's keeps fewer values), three backward steps
    kernels = {line.split("(")[0].split()[-1] for line in _lines(program, "fused")}
    assert len(kernels) <= 6
