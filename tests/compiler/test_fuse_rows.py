"""Row reductions fused with their elementwise producers and consumers (compiler/fuse_rows.py):
a user's softmax, layer norm and log-sum-exp cross-entropy, forward, backward and an Adam step,
compiled == eager (1e-10 in float64), with fewer kernel calls than unfused; the row sum in
numpy's order (bit for bit); reductions the kernel does not take (keepdims=False, another axis)
left to the backend; non-contiguous operands; gradcheck through mg.compile."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.compiler import fuse
from minigrad.compiler.row_kernels import new_stack, row_max, row_sum

B, N = 6, 20
# float32: eager and fused sum in the same order, but the fused kernel keeps each intermediate
# in a register (multiply-adds may contract to one rounding): agreement to a few float32 ulps
TOL = {np.float64: 1e-10, np.float32: 2e-5}


def _softmax(z, g, y):
    m = z.max(-1, keepdims=True)
    e = (z - m).exp()
    p = e / e.sum(-1, keepdims=True)
    return (p * y).sum()


def _layer_norm(z, g, y):
    mu = z.mean(-1, keepdims=True)
    c = z - mu
    var = (c * c).mean(-1, keepdims=True)
    return ((c / (var + 1e-5) ** 0.5 * g) * y).sum()


def _cross_entropy(z, g, y):
    """-sum(y * log_softmax(z)) / B with a hand-written log-sum-exp (y: soft targets)."""
    m = z.max(-1, keepdims=True)
    lse = (z - m).exp().sum(-1, keepdims=True).log() + m
    return -((z - lse) * y).sum() / z.shape[0]


def _keepdims_false(z, g, y):
    """A row sum without keepdims (left to the backend) and one along the first axis."""
    s = (z * z).sum(-1)
    t = (z.tanh() * g).sum(0, keepdims=True)
    return (s * s).sum() + (t * y[:1]).sum()


def _transposed(z, g, y):
    """A row reduction of a transposed (non-contiguous) array."""
    zt = (z * 2.0).T  # (N, B), F-ordered
    m = zt.max(-1, keepdims=True)
    e = (zt - m).exp()
    return ((e / e.sum(-1, keepdims=True)).T * y).sum()


MODELS = {"softmax": _softmax, "layer_norm": _layer_norm, "cross_entropy": _cross_entropy,
          "keepdims_false": _keepdims_false, "transposed": _transposed}


def _params(dtype, seed=3):
    r = np.random.default_rng(seed)
    return [mg.tensor((r.standard_normal(s) * 0.5).astype(dtype), requires_grad=True)
            for s in ((N, N), (N,))]


def _data(k, dtype):
    r = np.random.default_rng(100 + k)
    x = mg.tensor(r.standard_normal((B, N)).astype(dtype))
    y = mg.tensor(r.random((B, N)).astype(dtype))
    return x, y


def _step(model, params, opt):
    w, g = params

    def step(x, y):
        opt.zero_grad()
        loss = model(x @ w, g, y)
        loss.backward()
        opt.step()
        return loss

    return step


def _twins(name, dtype, calls=3, fuse=True):
    """The model's training step (forward, backward, Adam) eagerly and compiled, call after call:
    losses, gradients and parameters equal to TOL. Returns the compiled step."""
    eager_p, comp_p = _params(dtype), _params(dtype)
    eager = _step(MODELS[name], eager_p, mg.optim.Adam(eager_p, lr=1e-2))
    compiled = mg.compile(_step(MODELS[name], comp_p, mg.optim.Adam(comp_p, lr=1e-2)),
                          fuse=fuse)
    tol = TOL[dtype]
    for k in range(calls):
        x, y = _data(k, dtype)
        want, got = eager(x, y), compiled(x, y)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol, atol=tol)
        for j, (a, b) in enumerate(zip(eager_p, comp_p)):
            assert (a.grad is None) == (b.grad is None)
            if a.grad is not None:
                np.testing.assert_allclose(b.grad, a.grad, rtol=tol, atol=tol,
                                           err_msg=f"{name} call {k} gradient {j}")
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=tol, atol=tol,
                                       err_msg=f"{name} call {k} parameter {j}")
    assert compiled.cache_info().traces == 1
    return compiled


def _calls(compiled, name):
    return sum(line.endswith(f"# {name}") for line in compiled.programs()[0].source.splitlines())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_compiled_equals_eager(name, dtype):
    _twins(name, dtype)


@pytest.mark.parametrize("name", ["softmax", "layer_norm", "cross_entropy"])
def test_row_reductions_join_the_fused_kernels(name, monkeypatch):
    """The forward's row reductions and the backward's row sums (sum_to (B, 1)) are inside
    fused kernels: none is a backend call of the program, and it has fewer calls than unfused."""
    fused = _twins(name, np.float64)
    monkeypatch.setattr(fuse, "ROWS", False)
    elementwise_only = _twins(name, np.float64)
    def reductions(compiled):
        return sum(_calls(compiled, r) for r in ("cpu.amax", "cpu.sum", "cpu.sum_to"))

    assert _calls(fused, "cpu.amax") == 0
    assert reductions(fused) < reductions(elementwise_only)  # what stays: sums over rows
    keepdims = [line for line in fused.programs()[0].source.splitlines()
                if line.endswith("# cpu.sum") and "keepdims=True" in line]
    assert not keepdims
    # softmax 32 -> 17 calls, layer norm 37 -> 19, cross-entropy 39 -> 23 (docs/compiler.md)
    assert fused.programs()[0].n_calls <= 0.65 * elementwise_only.programs()[0].n_calls


def test_reductions_the_kernel_does_not_take_stay_backend_calls():
    compiled = _twins("keepdims_false", np.float64)
    assert _calls(compiled, "cpu.sum") >= 2  # keepdims=False along -1, and along axis 0


def test_gradcheck_through_compile():
    """A compiled function with live outputs (its backward is the compiled node's): a user's
    softmax and layer norm of one input, gradchecked with a random upstream gradient."""
    r = np.random.default_rng(7)
    g = mg.tensor(r.standard_normal(N), requires_grad=True)
    up = mg.tensor(r.standard_normal((B, N)))

    @mg.compile
    def f(x):
        m = x.max(-1, keepdims=True)
        e = (x - m).exp()
        p = e / e.sum(-1, keepdims=True)
        mu = p.mean(-1, keepdims=True)
        c = x - mu
        return c / ((c * c).mean(-1, keepdims=True) + 1e-5) ** 0.5 * g * up

    x = mg.tensor(r.standard_normal((B, N)), requires_grad=True)
    assert mg.gradcheck(lambda a, b: f(a) * 1.0 + b.sum() * 0.0, [x, g])
    assert f.cache_info().hits >= 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 5, 8, 9, 127, 128, 129, 300, 1000, 4099, 40000])
def test_row_sum_is_numpys_order(n, dtype):
    x = (np.random.default_rng(n).standard_normal((4, n)) * 10.0 ** np.arange(4)[:, None])
    x = x.astype(dtype)
    want = x.sum(-1)
    stack = new_stack()
    got = np.array([row_sum(row, stack) for row in x], dtype=dtype)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.array([row_max(row) for row in x]), x.max(-1))


def test_row_max_and_sum_propagate_nan_and_inf():
    assert np.isnan(row_max(np.array([1.0, np.nan, 3.0])))
    assert np.isnan(row_max(np.array([np.nan, 1.0])))
    assert row_sum(np.array([np.inf, 1.0]), new_stack()) == np.inf
    assert row_max(np.array([-np.inf, -1.0])) == -1.0


def test_layer_norm_lstm_composed_compiled_equals_eager():
    """lstm-ln's cell (three layer norms per step) as a composed loop with a readout, Adam and
    clipping, compiled == eager in float64, its norms' reductions inside fused kernels."""
    from bench.peers.compiled_models import mg_adding_step
    from lstm import Recurrent, cell_zoo

    T, Bs, I, H = 5, 3, 4, 8

    def build():
        layer = Recurrent(cell_zoo.LayerNormLSTMCell, I, H, impl="composed",
                          rng=np.random.default_rng(0), dtype=np.float64)
        readout = mg.nn.Linear(H, 2, rng=np.random.default_rng(1), dtype=np.float64)
        return layer, readout, layer.parameters() + readout.parameters()

    eager_parts, comp_parts = build(), build()
    eager = mg_adding_step(*eager_parts[:2])
    compiled = mg.compile(mg_adding_step(*comp_parts[:2]))
    for k in range(3):
        r = np.random.default_rng(20 + k)
        x, y = mg.tensor(r.standard_normal((T, Bs, I))), mg.tensor(r.standard_normal((Bs, 2)))
        want, got = eager(x, y), compiled(x, y)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-10)
        for a, b in zip(eager_parts[2], comp_parts[2]):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-10)
            np.testing.assert_allclose(b.grad, a.grad, rtol=0, atol=1e-10)
    assert _calls(compiled, "cpu.amax") == 0
    source = compiled.programs()[0].source
    assert not [line for line in source.splitlines()
                if line.endswith("# cpu.sum") and "keepdims=True" in line]
