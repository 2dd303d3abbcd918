"""mg.gated_scan given the weight (the input GEMM inside the scan, in chunks of steps): equal to
the scan of x W^T in float64 for every chunking, its VJP (gradcheck, random upstream, every
input), the mask, an upstream of any strides, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import cpu_gated_scan
from minigrad.backends.scan_gates import GATES


def _inputs(gate, steps=11, batch=3, inputs=4, hidden=5, seed=0):
    rng = np.random.default_rng(seed)
    width = GATES[gate].blocks * hidden
    return (rng.normal(0, 1.5, (steps, batch, inputs)), rng.normal(0, 0.8, (width, inputs)),
            rng.normal(0, 1.0, width), rng.uniform(-1, 1, (batch, hidden)))


def _chunk_steps(monkeypatch, steps, batch, width):
    """Chunks of `steps` steps of (batch, width) float64 pre-activations."""
    monkeypatch.setattr(cpu_gated_scan, "CHUNK_BYTES", steps * batch * width * 8)


def _run(gate, x, weight, bias, h0, valid, upstream, linear):
    """(h, dx, dweight, dbias, dh0) through the weight form or through x W^T then the scan."""
    xt, wt, bt, ht = (mg.tensor(a, requires_grad=True) for a in (x, weight, bias, h0))
    if linear:
        h = mg.gated_scan(xt, ht, gate, bt, valid, weight=wt)
    else:
        pre = (xt.reshape(-1, x.shape[-1]) @ wt.T).reshape(x.shape[:-1] + (weight.shape[0],))
        h = mg.gated_scan(pre, ht, gate, bt, valid)
    (h * upstream).sum().backward()
    return [h.numpy(), xt.grad, wt.grad, bt.grad, ht.grad]


@pytest.mark.parametrize("gate", sorted(GATES))
@pytest.mark.parametrize("chunk", [1, 3, 11, 40])
@pytest.mark.parametrize("masked", [False, True])
def test_equals_the_scan_of_the_projection(gate, chunk, masked, monkeypatch):
    x, weight, bias, h0 = _inputs(gate)
    rng = np.random.default_rng(1)
    valid = rng.uniform(size=x.shape[:-1]) > 0.3 if masked else None
    upstream = rng.standard_normal(x.shape[:-1] + (h0.shape[-1],))
    want = _run(gate, x, weight, bias, h0, valid, upstream, linear=False)
    _chunk_steps(monkeypatch, chunk, x.shape[1], weight.shape[0])
    got = _run(gate, x, weight, bias, h0, valid, upstream, linear=True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-13)
    if masked:  # no gradient into the held steps' inputs
        assert np.all(got[1][~valid] == 0) and np.all(got[1][valid] != 0)


@pytest.mark.parametrize("gate", sorted(GATES))
def test_gradcheck(gate, monkeypatch):
    x, weight, bias, h0 = _inputs(gate, steps=7, batch=2, inputs=3, hidden=3, seed=2)
    _chunk_steps(monkeypatch, 3, 2, weight.shape[0])  # three chunks: the carry is checked
    rng = np.random.default_rng(3)
    upstream = mg.tensor(rng.standard_normal((7, 2, 3)))
    valid = rng.uniform(size=(7, 2)) > 0.3
    assert mg.gradcheck(lambda a, w, b, h: mg.gated_scan(a, h, gate, b, valid, weight=w)
                        * upstream, [x, weight, bias, h0])
    assert mg.gradcheck(lambda a, w: mg.gated_scan(a, None, gate, weight=w) * upstream,
                        [x, weight])


@pytest.mark.parametrize("linear", [False, True])
def test_an_upstream_of_any_strides(linear, monkeypatch):
    """out.sum()'s broadcast upstream (copied chunk by chunk into a buffer) and a transposed one
    give the gradients of the same values in a contiguous array."""
    x, weight, bias, h0 = _inputs("mingru", steps=9, seed=4)
    _chunk_steps(monkeypatch, 4, x.shape[1], weight.shape[0])
    rng = np.random.default_rng(5)
    ones = np.broadcast_to(np.ones((1, 1, 1)), (9, 3, 5))
    transposed = np.ascontiguousarray(rng.standard_normal((5, 3, 9))).T
    for upstream in (ones, transposed):
        got = _run("mingru", x, weight, bias, h0, None, upstream, linear)
        want = _run("mingru", x, weight, bias, h0, None, np.ascontiguousarray(upstream), linear)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_bad_weight_is_named():
    x = mg.tensor(np.ones((5, 2, 4)))
    with pytest.raises(ValueError, match=r"weight must have shape \(2\*H, I\) for x"):
        mg.gated_scan(x, None, "mingru", weight=mg.tensor(np.ones((6, 3))))
    with pytest.raises(ValueError, match=r"weight must have shape \(3\*H, I\)"):
        mg.gated_scan(x, None, "minlstm", weight=mg.tensor(np.ones((4, 4))))
    with pytest.raises(ValueError, match="weight .* must match pre"):
        mg.gated_scan(x, None, "mingru", weight=mg.tensor(np.ones((6, 4), np.float32)))
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\)"):
        mg.gated_scan(x, None, "mingru", mg.tensor(np.ones(4)), weight=mg.tensor(np.ones((6, 4))))
    with pytest.raises(TypeError, match="weight must be a Tensor"):
        mg.gated_scan(x, None, "mingru", weight=np.ones((6, 4)))


def test_empty_sequence():
    out = mg.gated_scan(mg.tensor(np.ones((0, 2, 4))), None, "mingru",
                        weight=mg.tensor(np.ones((6, 4))))
    assert out.shape == (0, 2, 3)
