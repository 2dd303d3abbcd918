"""sLSTM (fused: generated CUDA kernels, the block-diagonal matrix built on the device) and mLSTM
(parallel form: batched matmuls) on CUDA equal the CPU, forward and backward, float64, with
lengths and both directions; small sizes, since the simulator runs every CUDA thread in Python."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import get

lstm = pytest.importorskip("lstm")
pytestmark = pytest.mark.cuda
T, B, I, H = 4, 3, 2, 4
LENGTHS = np.array([4, 2, 3])


def run(factory, device):
    model = factory()
    model.to(device)
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.standard_normal((T, B, I)), requires_grad=True, device=device)
    out, states = model(x, lengths=LENGTHS)
    loss = (out * mg.tensor(rng.standard_normal(out.shape), device=device)).sum()
    for s in states:
        loss = loss + (s * mg.tensor(rng.standard_normal(s.shape), device=device)).sum()
    loss.backward()
    be = get(device)
    results = {"out": out.numpy(), **{f"final {k}": s.numpy() for k, s in enumerate(states)}}
    results.update({name: be.to_host(p.grad) for name, p in model.named_parameters()})
    results["x"] = be.to_host(x.grad)
    return results


@pytest.mark.parametrize("name", ["slstm", "mlstm"])
def test_xlstm_on_cuda_equals_cpu(name):
    def factory():
        if name == "slstm":
            return lstm.Recurrent(lstm.SLSTMCell, I, H, bidirectional=True, impl="fused",
                                  rng=0, dtype=np.float64, num_heads=2)
        return lstm.MLSTM(I, H, bidirectional=True, rng=0, dtype=np.float64, num_heads=2)

    cpu, cuda = run(factory, "cpu"), run(factory, "cuda")
    assert sorted(cpu) == sorted(cuda)
    for key, expected in cpu.items():
        np.testing.assert_allclose(cuda[key], expected, rtol=1e-10, atol=1e-12, err_msg=key)
