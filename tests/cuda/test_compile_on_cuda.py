"""mg.compile on CUDA arrays (a GPU or the simulator): a training step with Adam and clipping,
compiled, equals the same step eager, and a host read inside is the same named error."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim

pytestmark = pytest.mark.cuda


def _build(device):
    rng = np.random.default_rng(0)
    hidden = nn.Linear(3, 5, rng=rng, dtype=np.float64).to(device)
    out = nn.Linear(5, 2, rng=rng, dtype=np.float64).to(device)
    params = hidden.parameters() + out.parameters()
    opt = optim.Adam(params, lr=0.05)

    def step(x, y):
        loss = mg.mse_loss(out(hidden(x).tanh()), y)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(params, 0.1)
        opt.step()
        return loss

    return step, params


def test_compiled_step_on_cuda_equals_eager():
    eager, eager_params = _build("cuda")
    step, params = _build("cuda")
    compiled = mg.compile(step)
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.standard_normal((4, 3))
        y = rng.standard_normal((4, 2))
        want = eager(mg.tensor(x, device="cuda"), mg.tensor(y, device="cuda")).item()
        got = compiled(mg.tensor(x, device="cuda"), mg.tensor(y, device="cuda"))
        assert got.device == "cuda"
        assert abs(got.item() - want) <= 1e-10
        for a, b in zip(eager_params, params):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-10)
    assert compiled.cache_info().traces == 1


def test_host_read_on_cuda_is_named():
    def f(x):
        return x * float(x.sum().item())

    with pytest.raises(mg.CompileError, match=r"\.item\(\)"):
        mg.compile(f)(mg.tensor(np.ones(3), device="cuda"))
