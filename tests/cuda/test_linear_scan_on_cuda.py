"""mg.linear_scan on CUDA (the chunked scan) equals the CPU kernel, forward and backward, in both
forms, on the same inputs and random upstream gradient; several chunks per column."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import backend_of, cuda_scan

pytestmark = pytest.mark.cuda

CASES = [((41, 2, 3), 0, (2, 3)), ((2, 37, 3), 1, (3,)), ((3, 2, 19), 2, (1, 2)),
         ((5, 1), 0, (1,))]


def _run(device, arrays, axis, log_space, upstream):
    a, b, h0 = (mg.tensor(v, device=device, requires_grad=True) for v in arrays)
    h = mg.linear_scan(a, b, h0, axis=axis, log_space=log_space)
    (h * mg.tensor(upstream, device=device)).sum().backward()
    return [h.numpy()] + [backend_of(t.grad).to_host(t.grad) for t in (a, b, h0)]


@pytest.mark.parametrize("shape,axis,h0_shape", CASES)
@pytest.mark.parametrize("log_space", [False, True])
def test_cuda_equals_cpu(shape, axis, h0_shape, log_space):
    rng = np.random.default_rng(0)
    a = rng.uniform(0.3, 1.05, shape)
    b = rng.uniform(0.1, 2.0, shape) if log_space else rng.standard_normal(shape)
    if log_space:
        a, b = np.log(a), np.log(b)
        b.flat[::5] = -np.inf  # b_t = 0
    arrays = [v.astype(np.float32) for v in (a, b, rng.standard_normal(h0_shape))]
    upstream = rng.standard_normal(shape).astype(np.float32)
    length, count = cuda_scan.chunks(*cuda_scan._pqt(shape, axis % len(shape)))
    assert count > 1 or shape[axis] < 2 * cuda_scan.MIN_CHUNK  # the carries are exercised
    cpu = _run("cpu", arrays, axis, log_space, upstream)
    gpu = _run("cuda", arrays, axis, log_space, upstream)
    for name, mine, want in zip(("h", "d a", "d b", "d h0"), gpu, cpu):
        np.testing.assert_allclose(mine, want, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("name", ["MinGRUCell", "MinLSTMCell"])
def test_min_cells_parallel_mode_on_cuda_equals_cpu(name):
    """minGRU / minLSTM through Recurrent (the scan path), reversed, with lengths."""
    import lstm

    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 3, 4)).astype(np.float32)
    lengths = np.array([9, 4, 2])
    results = []
    for device in ("cpu", "cuda"):
        layer = lstm.Recurrent(getattr(lstm, name), 4, 5, bidirectional=True, rng=0).to(device)
        xt = mg.tensor(x, device=device, requires_grad=True)
        out, h_n = layer(xt, lengths=lengths)
        (out * out).sum().backward()
        results.append([out.numpy(), h_n.numpy(), backend_of(xt.grad).to_host(xt.grad),
                        backend_of(layer.weight_ih_l0.grad).to_host(layer.weight_ih_l0.grad)])
    for mine, want in zip(results[1], results[0]):
        np.testing.assert_allclose(mine, want, rtol=1e-4, atol=1e-5)
