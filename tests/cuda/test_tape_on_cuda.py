"""The tape's in-place gradient buffers on CUDA: slices into one buffer, fan-out sums in place."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import get

pytestmark = pytest.mark.cuda


def _slices_and_fan_out(device):
    rng = np.random.default_rng(0)
    xp = mg.tensor(rng.standard_normal((5, 2, 3)).astype(np.float32), requires_grad=True,
                   device=device)
    w = mg.tensor(rng.standard_normal((3, 3)).astype(np.float32), requires_grad=True,
                  device=device)
    h = xp[0]
    for t in range(1, 5):
        h = (xp[t] + h @ w + xp[t - 1][:, 1:2]).tanh()
    loss = (h * 2.0 + h + h * h).sum() + xp[:, :, 2].sum()
    loss.backward()
    return xp.grad, w.grad


def test_slices_and_fan_out_on_cuda_match_cpu():
    cpu_xp, cpu_w = _slices_and_fan_out("cpu")
    cuda_xp, cuda_w = _slices_and_fan_out("cuda")
    be = get("cuda")
    np.testing.assert_allclose(be.to_host(cuda_xp), cpu_xp, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(be.to_host(cuda_w), cpu_w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("index", [(slice(1, 3),), (1,), (slice(None), 2), (Ellipsis, 0)])
def test_slice_add_and_add_into_on_cuda(index):
    be = get("cuda")
    rng = np.random.default_rng(1)
    host = rng.standard_normal((4, 3)).astype(np.float32)
    g = rng.standard_normal(host[index].shape).astype(np.float32)
    out = be.from_host(host.copy())
    be.slice_add(out, index, be.from_host(g))
    expected = host.copy()
    expected[index] += g
    np.testing.assert_allclose(be.to_host(out), expected, rtol=1e-6)
    be.add_into(out, be.from_host(np.ones((1, 3), np.float32)))
    np.testing.assert_allclose(be.to_host(out), expected + 1, rtol=1e-6)
