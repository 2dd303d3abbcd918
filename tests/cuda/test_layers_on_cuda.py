"""lstm's layers on CUDA equal the CPU ones, forward and backward, with lengths and both
directions: the LSTM fused and composed at B=3, T=7, H=8 (issue 4's sizes), the GRU and RNN
composed (their fused sequences are compared in test_recurrent_on_cuda) on smaller sizes, since
the simulator runs every CUDA thread in Python."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import get

lstm = pytest.importorskip("lstm")
pytestmark = pytest.mark.cuda
B, I = 3, 4
SIZES = {"LSTM": (7, 8), "GRU": (5, 4), "RNN": (5, 4)}  # name -> (T, H)


def run(model_cls, impl, device, T, H, lengths):
    model = model_cls(I, H, bidirectional=True, impl=impl, rng=0)
    model.to(device)
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.standard_normal((T, B, I)).astype(np.float32), requires_grad=True,
                  device=device)
    out, state = model(x, lengths=lengths)
    h_n = state[0] if isinstance(state, tuple) else state
    u = rng.standard_normal(out.shape).astype(np.float32)
    loss = (out * mg.tensor(u, device=device)).sum() + h_n.sum()
    loss.backward()
    be = get(device)
    grads = {name: be.to_host(p.grad) for name, p in model.named_parameters()}
    grads["x"] = be.to_host(x.grad)
    return out.numpy(), h_n.numpy(), grads


@pytest.mark.parametrize("name, impl", [("LSTM", "fused"), ("LSTM", "composed"),
                                        ("GRU", "composed"), ("RNN", "composed")])
def test_layer_on_cuda_equals_cpu(name, impl):
    model_cls = getattr(lstm, name)
    T, H = SIZES[name]
    lengths = np.array([T, T - 2, 2])
    out_cpu, h_cpu, grads_cpu = run(model_cls, impl, "cpu", T, H, lengths)
    out_cuda, h_cuda, grads_cuda = run(model_cls, impl, "cuda", T, H, lengths)
    np.testing.assert_allclose(out_cuda, out_cpu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_cuda, h_cpu, rtol=1e-5, atol=1e-6)
    assert not out_cuda[2:, 2].any()  # padded steps output 0
    for key, expected in grads_cpu.items():
        np.testing.assert_allclose(grads_cuda[key], expected, rtol=1e-4, atol=1e-5, err_msg=key)
