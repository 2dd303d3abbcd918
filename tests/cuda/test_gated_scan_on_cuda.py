"""mg.gated_scan on CUDA (the gate maps inside the chunked scan) equals the CPU kernel: forward,
dL/dpre, dL/dh0 and dL/dbias, with and without a mask, several chunks per column."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import backend_of, cuda_scan
from minigrad.backends.scan_gates import GATES

pytestmark = pytest.mark.cuda


def _run(device, pre, h0, bias, valid, gate, upstream):
    tensors = [mg.tensor(v, device=device, requires_grad=True) for v in (pre, h0, bias)]
    h = mg.gated_scan(tensors[0], tensors[1], gate, tensors[2], valid)
    (h * mg.tensor(upstream, device=device)).sum().backward()
    return [h.numpy()] + [backend_of(t.grad).to_host(t.grad) for t in tensors]


@pytest.mark.parametrize("gate", sorted(GATES))
@pytest.mark.parametrize("masked", [False, True])
def test_cuda_equals_cpu(gate, masked):
    rng = np.random.default_rng(0)
    steps, rows, hidden = 37, 2, 3
    blocks = GATES[gate].blocks
    pre = rng.normal(0, 3.0, (steps, rows, blocks * hidden)).astype(np.float32)
    h0 = rng.standard_normal((rows, hidden)).astype(np.float32)
    bias = rng.standard_normal(blocks * hidden).astype(np.float32)
    valid = rng.uniform(size=(steps, rows)) > 0.3 if masked else None
    upstream = rng.standard_normal((steps, rows, hidden)).astype(np.float32)
    length, count = cuda_scan.chunks(rows, steps, hidden)
    assert count > 2 and length * count >= steps  # the carries are exercised, both directions
    cpu = _run("cpu", pre, h0, bias, valid, gate, upstream)
    gpu = _run("cuda", pre, h0, bias, valid, gate, upstream)
    for name, mine, want in zip(("h", "d pre", "d h0", "d bias"), gpu, cpu):
        np.testing.assert_allclose(mine, want, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("gate", sorted(GATES))
@pytest.mark.parametrize("masked", [False, True])
def test_cuda_with_weight_equals_cpu(gate, masked):
    """gated_scan(x, ..., weight=W): CUDA's projection then scan (its backward forming pre
    again) equals the CPU's projected kernels: h, dL/dx, dL/dh0, dL/dbias and dL/dW."""
    rng = np.random.default_rng(1)
    steps, rows, inputs, hidden = 37, 2, 5, 3
    blocks = GATES[gate].blocks
    x = rng.standard_normal((steps, rows, inputs)).astype(np.float32)
    h0 = rng.standard_normal((rows, hidden)).astype(np.float32)
    bias = rng.standard_normal(blocks * hidden).astype(np.float32)
    weight = rng.normal(0, 0.6, (blocks * hidden, inputs)).astype(np.float32)
    valid = rng.uniform(size=(steps, rows)) > 0.3 if masked else None
    upstream = rng.standard_normal((steps, rows, hidden)).astype(np.float32)
    results = []
    for device in ("cpu", "cuda"):
        ts = [mg.tensor(v, device=device, requires_grad=True) for v in (x, h0, bias, weight)]
        h = mg.gated_scan(ts[0], ts[1], gate, ts[2], valid, weight=ts[3])
        (h * mg.tensor(upstream, device=device)).sum().backward()
        results.append([h.numpy()] + [backend_of(t.grad).to_host(t.grad) for t in ts])
    for name, mine, want in zip(("h", "d x", "d h0", "d bias", "d weight"), results[1],
                                results[0]):
        np.testing.assert_allclose(mine, want, rtol=1e-4, atol=1e-5, err_msg=name)
