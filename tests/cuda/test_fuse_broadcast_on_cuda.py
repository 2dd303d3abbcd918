"""Fused CUDA runs (minigrad/compiler/whole_cuda.py) with broadcast operands (a (H,) or (1, H)
bias, a 0-d scalar, a one-element array into a (B, H) run), reading a split's column slices in
place and writing a concat's columns: compiled equals eager to 1e-10 in float64 (forward and the
parameters' gradients), the program keeps no split, concat or elementwise CUDA call, and the
kernels are generated numba.cuda ones cached as minigrad_cudafused_*."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

pytestmark = pytest.mark.cuda
B, H = 3, 5


def _tensors(seed, shapes, grad=True):
    rng = np.random.default_rng(seed)
    return [mg.tensor(rng.standard_normal(s), requires_grad=grad, device="cuda") for s in shapes]


def _fused_kernels(program):
    return [v for v in program.function.__globals__.values()
            if getattr(v, "__name__", "") == "fused"]


def _check(fn, params, data, banned):
    """fn(params, *data) -> loss: each call compiled equals eager (loss and every gradient); the
    program holds fused kernels and none of the banned CUDA calls."""
    compiled = mg.compile(lambda *d: _step(fn, params, d))
    for d in data:
        want, want_grads = _step(fn, params, d), [p.grad.copy_to_host() for p in params]
        got, got_grads = compiled(*d), None
        got_grads = [p.grad.copy_to_host() for p in params]
        assert abs(got.item() - want.item()) <= 1e-10
        for a, b in zip(want_grads, got_grads):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)
    program = compiled.programs()[0]
    kernels = _fused_kernels(program)
    assert kernels and all(k.__module__.startswith("minigrad_cudafused_") for k in kernels)
    for name in banned:
        assert f"# cuda.{name}\n" not in program.source, name
    return program


def _step(fn, params, data):
    for p in params:
        p.grad = None
    loss = fn(params, *data)
    loss.backward()
    return loss


def test_bias_scalar_and_one_element_broadcast_into_a_run():
    params = _tensors(0, [(H,), (1, H), (), (1,)])

    def fn(ps, x):
        bias, row, scale, one = ps
        y = ((x + bias).tanh() * scale - row).sigmoid() * one + x
        return (y * y).sum()

    data = [tuple(_tensors(k + 1, [(B, H)], grad=False)) for k in range(2)]
    program = _check(fn, params, data, ["add", "sub", "mul", "tanh", "sigmoid"])
    forward = program.source.split("# cuda.sum(")[0].split("# cuda.sum\n")[0]
    assert forward.count("# fused") == 1 and "# cuda." not in forward  # the forward: one kernel


def test_split_read_in_place_and_concat_written_by_the_run():
    """An LSTM cell's gates (a split along the last axis of (B, 4H)) and their gradients (the
    split's VJP, a concat): the forward run reads the base array's columns, the backward run
    writes the concat's columns; uneven parts are read in place too."""
    params = _tensors(4, [(2, 4 * H), (4 * H,)])

    def fn(ps, x, c):
        w, b = ps
        i, f, g, o = (x @ w + b).split(4, axis=-1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        a, z = (x @ w).split([3, 4 * H - 3], axis=-1)  # uneven: 3 and 4H - 3 columns
        return (h * h).sum() + (a.tanh() * a).sum() + (z.exp() * z).sum()

    data = [tuple(_tensors(k + 5, [(B, 2), (B, H)], grad=False)) for k in range(2)]
    program = _check(fn, params, data, ["split", "sigmoid", "tanh"])
    # the gates' gradients are written by their run; the uneven split's two parts come from two
    # runs (of different shapes), so their join stays a concat call, as on the CPU
    assert program.source.count("# cuda.concat\n") == 1


def test_a_run_of_other_sizes_shares_the_kernel():
    """The run's shape, columns and widths are arguments: a second trace at another batch size
    uses the same generated kernels."""
    params = _tensors(7, [(H,)])

    def fn(ps, x):
        return ((x + ps[0]).tanh() * x).sum()

    modules = []
    for rows in (2, 4):
        compiled = mg.compile(lambda x: _step(fn, params, (x,)))
        x = _tensors(8, [(rows, H)], grad=False)[0]
        compiled(x)
        compiled(x)
        modules.append({k.__module__ for k in _fused_kernels(compiled.programs()[0])})
    assert modules[0] and modules[0] == modules[1]


def test_row_reduction_results_join_a_run():
    """A layer normalisation written with ops: the row means (B, 1) are reductions (calls of
    the program), and each is read by the following run in place (at the flat index divided by
    the row length), not broadcast to (B, H) first."""
    params = _tensors(9, [(H,), (H,), ()])

    def fn(ps, x):
        gain, bias, eps = ps
        d = x - x.mean(-1, keepdims=True)
        y = d / ((d * d).mean(-1, keepdims=True) + eps * eps + 1.0) * gain + bias
        return (y.tanh() * y).sum()

    data = [tuple(_tensors(k + 10, [(B, H)], grad=False)) for k in range(2)]
    program = _check(fn, params, data, ["sub", "div", "tanh"])
    forward = program.source.split("# cuda.ones")[0]
    # the forward: two row means, and a run after each (d and d * d, reading the first mean;
    # the normalised output and the loss's terms, reading the second), no broadcast copy
    assert forward.count("# fused") == 2 and "# cuda.broadcast_to" not in forward


def test_row_sum_of_a_run_is_reduced_by_its_kernel():
    """A sum over the last axis of a run's output (keepdims or not) is computed by the run's
    kernel (one block per row), the output written too only when something else reads it; a
    softmax written with ops is a kernel for exp and its row sums, then the division."""
    params = _tensors(12, [(H,), (H,)])

    def fn(ps, x):
        w, b = ps
        y = (x * w + b).tanh()
        s = (y * y).sum(-1)  # y * y has no other reader: only summed
        m = y.sum(-1)  # y is read by y * y and the backward too: written and summed
        e = x.exp()
        soft = e / e.sum(-1, keepdims=True)
        return (s * s).sum() + (m * m).sum() + (soft * x).sum()

    data = [tuple(_tensors(k + 13, [(B, H)], grad=False)) for k in range(2)]
    program = _check(fn, params, data, ["tanh", "exp"])
    forward = program.source.split("# cuda.ones")[0]
    sums = [line for line in forward.splitlines() if "# cuda.sum" in line]
    # every sum over the last axis is in a kernel (the full sums of the (B,) s * s and m * m
    # too: one row); the full sum of the (B, H) soft * x stays a call
    assert len(sums) == 1
    # y's run with its two row sums, exp's, and the two (B,) squares', each with its sum
    assert forward.count("# fused") == 4
