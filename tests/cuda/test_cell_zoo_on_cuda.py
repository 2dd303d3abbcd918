"""The cell variants composed on CUDA equal the CPU, forward and backward, with lengths and
recurrent dropout (the same masks from the same seed): one one-stage cell with peepholes, the
layer-norm cell (row reductions) and a two-stage cell, on small sizes (simulator)."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import get

lstm = pytest.importorskip("lstm")
pytestmark = pytest.mark.cuda
B, I, T, H = 2, 3, 3, 4


def run(cell, device):
    layer = lstm.Recurrent(cell, I, H, impl="composed", recurrent_dropout=0.5, rng=0)
    layer.to(device)
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.standard_normal((T, B, I)).astype(np.float32), requires_grad=True,
                  device=device)
    out, state = layer(x, lengths=np.array([3, 2]))
    h_n = state[0] if isinstance(state, tuple) else state
    u = rng.standard_normal(out.shape).astype(np.float32)
    ((out * mg.tensor(u, device=device)).sum() + h_n.sum()).backward()
    be = get(device)
    grads = {name: be.to_host(p.grad) for name, p in layer.named_parameters()}
    grads["x"] = be.to_host(x.grad)
    return out.numpy(), h_n.numpy(), grads


@pytest.mark.parametrize("cell", [lstm.PeepholeLSTMCell, lstm.LayerNormLSTMCell,
                                  lstm.GRUChoCell])
def test_variant_on_cuda_equals_cpu(cell):
    cpu, cuda = run(cell, "cpu"), run(cell, "cuda")
    np.testing.assert_allclose(cuda[0], cpu[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cuda[1], cpu[1], rtol=1e-5, atol=1e-6)
    assert cuda[2].keys() == cpu[2].keys()
    for name in cpu[2]:
        np.testing.assert_allclose(cuda[2][name], cpu[2][name], rtol=1e-4, atol=1e-5,
                                   err_msg=name)
