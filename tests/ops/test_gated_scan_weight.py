"""mg.gated_scan(x, ..., weight=W): the input GEMM inside the op equals x @ W.T then the scan
(values and every gradient), its VJP (float64 gradcheck, random upstream), PyTorch's autograd on
the sequential definition, the row-split GEMMs against numpy's, and bad weights named."""

from __future__ import annotations

import platform

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import cpu_gated_scan
from minigrad.backends.scan_gates import GATES


def _case(gate, steps=7, rows=(3,), inputs=5, hidden=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    width = GATES[gate].blocks * hidden
    return (rng.normal(0, 1.0, (steps, *rows, inputs)).astype(dtype),
            rng.normal(0, 0.8, (width, inputs)).astype(dtype),
            rng.normal(0, 0.5, width).astype(dtype),
            rng.uniform(-1, 1, (*rows, hidden)).astype(dtype))


@pytest.mark.parametrize("gate", sorted(GATES))
@pytest.mark.parametrize("masked", [False, True])
def test_equals_the_product_then_the_scan(gate, masked):
    x, w, b, h0 = _case(gate, rows=(2, 3))
    valid = np.random.default_rng(1).uniform(size=x.shape[:-1]) > 0.3 if masked else None
    upstream = np.random.default_rng(2).standard_normal(x.shape[:-1] + (h0.shape[-1],))
    results = []
    for inside in (True, False):
        ts = [mg.tensor(a, requires_grad=True) for a in (x, w, b, h0)]
        if inside:
            out = mg.gated_scan(ts[0], ts[3], gate, ts[2], valid, weight=ts[1])
        else:
            out = mg.gated_scan(ts[0] @ ts[1].T, ts[3], gate, ts[2], valid)
        (out * mg.tensor(upstream)).sum().backward()
        results.append([out.numpy()] + [t.grad for t in ts])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("gate", sorted(GATES))
def test_gradcheck(gate):
    x, w, b, h0 = _case(gate, steps=5, rows=(2,), inputs=3, hidden=3, seed=3)
    upstream = mg.tensor(np.random.default_rng(4).standard_normal((5, 2, 3)))
    assert mg.gradcheck(lambda x, w, b, h: mg.gated_scan(x, h, gate, b, weight=w) * upstream,
                        [x, w, b, h0])
    assert mg.gradcheck(lambda x, w: mg.gated_scan(x, None, gate, weight=w) * upstream, [x, w])


def test_input_without_gradient_gets_none_and_the_weight_its_gradient():
    x, w, b, h0 = _case("mingru")
    weight = mg.tensor(w, requires_grad=True)
    mg.gated_scan(mg.tensor(x), mg.tensor(h0), "mingru", mg.tensor(b), weight=weight).sum() \
        .backward()
    reference = mg.tensor(w, requires_grad=True)
    mg.gated_scan(mg.tensor(x) @ reference.T, mg.tensor(h0), "mingru", mg.tensor(b)).sum() \
        .backward()
    np.testing.assert_allclose(weight.grad, reference.grad, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("gate", sorted(GATES))
def test_matches_torch_autograd_on_the_sequential_definition(gate):
    torch = pytest.importorskip("torch")
    x, w, b, h0 = _case(gate, steps=6, rows=(3,), seed=5)
    upstream = np.random.default_rng(6).standard_normal((6, 3, 4))
    ts = [mg.tensor(a, requires_grad=True) for a in (x, w, b, h0)]
    (mg.gated_scan(ts[0], ts[3], gate, ts[2], weight=ts[1]) * mg.tensor(upstream)).sum() \
        .backward()
    tt = [torch.tensor(a, requires_grad=True) for a in (x, w, b, h0)]

    def g(p):
        return torch.where(p >= 0, p + 0.5, torch.sigmoid(p))

    h, outs = tt[3], []
    for x_t in tt[0]:
        blocks = torch.nn.functional.linear(x_t, tt[1], tt[2]).chunk(GATES[gate].blocks, -1)
        if gate == "mingru":
            z = torch.sigmoid(blocks[0])
            h = (1 - z) * h + z * g(blocks[1])
        else:
            f, i = torch.sigmoid(blocks[0]), torch.sigmoid(blocks[1])
            h = f / (f + i) * h + i / (f + i) * g(blocks[2])
        outs.append(h)
    out = torch.stack(outs)
    (out * torch.tensor(upstream)).sum().backward()
    for ours, theirs in zip(ts, tt):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_split_gemms_equal_numpy(dtype):
    """Enough rows for every thread to take a share (and a remainder): the row-split products
    equal one numpy GEMM to rounding."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1029, 32)).astype(dtype)
    w = rng.standard_normal((96, 32)).astype(dtype)
    g = rng.standard_normal((1029, 96)).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cpu_gated_scan.projection(x, w), x @ w.T, **tol)
    grad_x, grad_w = cpu_gated_scan.projection_backward(x, w, g, True)
    np.testing.assert_allclose(grad_x, g @ w, **tol)
    np.testing.assert_allclose(grad_w, g.T @ x, **tol)
    assert cpu_gated_scan.projection_backward(x, w, g, False)[0] is None


def test_empty_sequence_with_weight():
    x = mg.tensor(np.ones((0, 2, 5)), requires_grad=True)
    w = mg.tensor(np.ones((6, 5)), requires_grad=True)
    out = mg.gated_scan(x, None, "mingru", weight=w)
    assert out.shape == (0, 2, 3)


def test_bad_weight_is_named():
    x = mg.tensor(np.ones((5, 2, 4)))
    with pytest.raises(ValueError, match=r"weight must have shape \(2\*H, 4\)"):
        mg.gated_scan(x, None, "mingru", weight=mg.tensor(np.ones((6, 3))))
    with pytest.raises(ValueError, match=r"weight must have shape \(3\*H, 4\)"):
        mg.gated_scan(x, None, "minlstm", weight=mg.tensor(np.ones((8, 4))))
    with pytest.raises(ValueError, match="weight .* must match pre"):
        mg.gated_scan(x, None, "mingru", weight=mg.tensor(np.ones((6, 4), np.float32)))
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\)"):
        mg.gated_scan(x, None, "mingru", mg.tensor(np.ones(4)), weight=mg.tensor(np.ones((6, 4))))
    with pytest.raises(TypeError, match="weight must be a Tensor"):
        mg.gated_scan(x, None, "mingru", weight=np.ones((6, 4)))


def _two_step_backward(x, w, pre, b, h0, valid, h, g, gate):
    """The backward as two backend calls: the scan's dL/dpre, then the projection's GEMMs."""
    grad_pre, grad_h0, grad_b = cpu_gated_scan.gated_scan_backward(pre, b, h0, valid, h, g, gate)
    grad_x, grad_w = cpu_gated_scan.projection_backward(
        x.reshape(-1, x.shape[-1]), w, grad_pre.reshape(-1, pre.shape[-1]), True)
    return grad_x.reshape(x.shape), grad_h0, grad_b, grad_w


@pytest.mark.parametrize("gate", sorted(GATES))
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("block_steps", [1, 3, 100])
def test_projected_kernels_equal_the_product_then_the_scan(gate, threads, block_steps,
                                                           monkeypatch):
    """gated_scan_projected and its backward (pre and dL/dpre formed a block of steps at a time,
    never stored) equal projection, gated_scan, gated_scan_backward and projection_backward,
    float64, with a mask, uneven blocks (T = 7 in blocks of 1, 3 and all steps) and rows split
    over 1 and 2 threads (5 rows: uneven); without a bias and dL/dx too."""
    import numba

    steps, rows, hidden = 7, 5, 4
    x, w, b, h0 = _case(gate, steps=steps, rows=(rows,), hidden=hidden, seed=11)
    valid = np.random.default_rng(12).uniform(size=(steps, rows)) > 0.3
    g = np.random.default_rng(13).standard_normal((steps, rows, hidden))
    monkeypatch.setattr(cpu_gated_scan, "BLOCK_BYTES",
                        block_steps * -(-rows // threads) * w.shape[0] * x.itemsize)
    previous = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        got = {}
        for bias in (b, None):
            h = cpu_gated_scan.gated_scan_projected(x, w, bias, h0, valid, gate)
            got[bias is None] = (h,) + cpu_gated_scan.gated_scan_projected_backward(
                x, w, bias, h0, valid, h, g, gate, bias is not None)
    finally:
        numba.set_num_threads(previous)
    pre = (x.reshape(steps * rows, -1) @ w.T).reshape(steps, rows, -1)
    for bias in (b, None):
        h = cpu_gated_scan.gated_scan(pre, bias, h0, valid, gate)
        want = (h,) + _two_step_backward(x, w, pre, bias, h0, valid, h, g, gate)
        if bias is None:  # no dL/dx asked for, no bias to differentiate
            assert got[True][1] is None and got[True][3] is None
            want = want[::2]
        for mine, expected in zip((v for v in got[bias is None] if v is not None), want):
            np.testing.assert_allclose(mine, expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("gate", sorted(GATES))
def test_projected_kernels_float32_within_rounding(gate):
    """float32 at the benchmark's shapes cut short (T 300, B 32, I 32, H 128; blocks of 32 steps
    a thread) with out.sum()'s broadcast upstream: the projected kernels' h and gradients equal
    the four calls' to float32 rounding, and the float64 path's to float32 accuracy."""
    steps, rows, inputs, hidden = 300, 32, 32, 128
    x, w, b, h0 = _case(gate, steps=steps, rows=(rows,), inputs=inputs, hidden=hidden, seed=21)
    w = w / np.sqrt(inputs)
    results = {}
    for dtype in (np.float32, np.float64):
        xs, ws, bs, h0s = (a.astype(dtype) for a in (x, w, b, h0))
        g = np.broadcast_to(dtype(1.0), (steps, rows, hidden))
        h = cpu_gated_scan.gated_scan_projected(xs, ws, bs, h0s, None, gate)
        results[dtype] = [(h,) + cpu_gated_scan.gated_scan_projected_backward(
            xs, ws, bs, h0s, None, h, g, gate, True)]
        pre = cpu_gated_scan.projection(xs.reshape(-1, inputs), ws).reshape(steps, rows, -1)
        h = cpu_gated_scan.gated_scan(pre, bs, h0s, None, gate)
        results[dtype].append((h,) + _two_step_backward(xs, ws, pre, bs, h0s, None, h, g, gate))
    for fused, calls, exact in zip(*results[np.float32], results[np.float64][1]):
        scale = np.abs(exact).max()
        np.testing.assert_allclose(fused, calls, rtol=1e-5, atol=1e-6 * scale)
        np.testing.assert_allclose(fused, exact, rtol=1e-3, atol=1e-5 * scale)


@pytest.mark.parametrize("axes", [(0,), (1,), (0, 1), (0, 1, 2)])
def test_broadcast_upstream_equals_the_materialised_one(axes):
    """An upstream broadcast along some of h's axes (stride 0: out.sum()'s 1s along all three)
    is passed with those axes of length 1 and gives what the materialised array gives, in both
    backward kernels."""
    steps, rows, hidden = 6, 4, 3
    x, w, b, h0 = _case("mingru", steps=steps, rows=(rows,), hidden=hidden, seed=31)
    small = np.random.default_rng(32).standard_normal(
        tuple(1 if i in axes else n for i, n in enumerate((steps, rows, hidden))))
    g = np.broadcast_to(small, (steps, rows, hidden))
    full = np.ascontiguousarray(g)
    pre = (x.reshape(steps * rows, -1) @ w.T).reshape(steps, rows, -1)
    h = cpu_gated_scan.gated_scan(pre, b, h0, None, "mingru")
    for backward, args in ((cpu_gated_scan.gated_scan_backward, (pre, b, h0, None, h)),
                           (cpu_gated_scan.gated_scan_projected_backward,
                            (x, w, b, h0, None, h))):
        mine, want = (backward(*args, upstream, "mingru", *((True,) if len(args) == 6 else ()))
                      for upstream in (g, full))
        for a, c in zip(mine, want):
            np.testing.assert_array_equal(a, c)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="flush-to-zero is set through x86's MXCSR")
@pytest.mark.parametrize("gate", sorted(GATES))
def test_backward_flushes_denormals_and_restores_the_callers_state(gate):
    """A gradient that decays along the sequence (the upstream at the last step only, as the
    adding task's loss) runs with flush-to-zero in both backward kernels: no denormal reaches
    dL/dx or dL/dpre (every denormal operation costs about 100 cycles: the minGRU backward at
    T 1000 took 3x its time), and the caller's floating-point state is restored after."""
    x, w, b, h0 = _case(gate, steps=300, rows=(4,), inputs=3, hidden=5, seed=41,
                        dtype=np.float32)
    h = cpu_gated_scan.gated_scan_projected(x, w, b, h0, None, gate)
    g = np.zeros(h.shape, np.float32)
    g[-1] = 1e-30  # dL/dh_t reaches the denormal range within a few dozen steps back
    pre = (x.reshape(-1, x.shape[-1]) @ w.T).reshape(h.shape[:2] + (-1,))
    grads = (cpu_gated_scan.gated_scan_projected_backward(x, w, b, h0, None, h, g, gate,
                                                          True)[0],
             cpu_gated_scan.gated_scan_backward(pre, b, h0, None, h, g, gate)[0])
    tiny = np.finfo(np.float32).tiny
    for grad in grads:
        assert np.abs(grad).max() >= tiny
        assert np.all((grad == 0) | (np.abs(grad) >= tiny))
    assert np.float32(1e-30) * np.float32(1e-10) > 0  # gradual underflow is back outside
