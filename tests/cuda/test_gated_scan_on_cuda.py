"""mg.gated_scan on CUDA (the gate maps inside the chunked scan) equals the CPU kernel: forward,
dL/dpre, dL/dh0 and dL/dbias, with and without a mask, several chunks per column; given the
weight (the input GEMM inside), also dL/dx and dL/dweight against the CPU's chunked form."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import backend_of, cuda_scan
from minigrad.backends.scan_gates import GATES

pytestmark = pytest.mark.cuda


def _run(device, pre, h0, bias, valid, gate, upstream, weight=None):
    tensors = [mg.tensor(v, device=device, requires_grad=True)
               for v in (pre, h0, bias) + (() if weight is None else (weight,))]
    h = mg.gated_scan(*tensors[:2], gate, tensors[2], valid, *tensors[3:])
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
def test_cuda_with_the_weight_equals_cpu(gate, masked, monkeypatch):
    from minigrad.backends import cpu_gated_scan

    rng = np.random.default_rng(1)
    steps, rows, inputs, hidden = 23, 2, 4, 3
    width = GATES[gate].blocks * hidden
    x = rng.standard_normal((steps, rows, inputs)).astype(np.float32)
    weight = rng.normal(0, 0.8, (width, inputs)).astype(np.float32)
    h0 = rng.standard_normal((rows, hidden)).astype(np.float32)
    bias = rng.standard_normal(width).astype(np.float32)
    valid = rng.uniform(size=(steps, rows)) > 0.3 if masked else None
    upstream = rng.standard_normal((steps, rows, hidden)).astype(np.float32)
    monkeypatch.setattr(cpu_gated_scan, "CHUNK_BYTES", 5 * rows * width * 4)  # 5 CPU chunks
    cpu = _run("cpu", x, h0, bias, valid, gate, upstream, weight)
    gpu = _run("cuda", x, h0, bias, valid, gate, upstream, weight)
    for name, mine, want in zip(("h", "d x", "d h0", "d bias", "d weight"), gpu, cpu):
        np.testing.assert_allclose(mine, want, rtol=1e-4, atol=1e-5, err_msg=name)
