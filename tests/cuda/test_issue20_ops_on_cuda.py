"""The ops of issue 20 on CUDA equal the same ops on the CPU: forward and backward on the same
float32 inputs with the same random upstream gradient, and the integer bitwise ops exactly."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import get

pytestmark = pytest.mark.cuda

ROWS = np.array([[0.0, 3.0, 3.0, np.nan, 1.0], [2.0, -1.0, 2.0, 5.0, 5.0]], np.float32)
MASK = np.array([True, False, True, True, False])
TARGETS = np.array([[1, -100, 3], [0, 2, 2]])

CASES = {
    "hardswish_celu": lambda a: mg.hardswish(a * 4) + mg.celu(a * 2, 0.5),
    "copysign": lambda a: mg.copysign(a, a[:1] - 0.1),
    "softmin": lambda a: mg.softmin(a, 0),
    "cummax_cummin": lambda a: a.cummax(1)[0] * 2 + a.cummin(0)[0],
    "logcumsumexp": lambda a: mg.logcumsumexp(a * 30, 1) + mg.logcumsumexp(a, 0),
    "std_mean": lambda a: mg.std_mean(a, 1)[0] + mg.std_mean(a, 1)[1],
    "masked_select": lambda a: mg.masked_select(a, MASK) * 3,
    "diag": lambda a: mg.diag(a[0], -1) + mg.diag(mg.diag(a[:, :2] * 2), 1)[:5, :5].sum(),
    "unfold": lambda a: a.unfold(1, 2, 2) * 2,
    "meshgrid": lambda a: mg.meshgrid(a[0], a[1, :3], indexing="ij")[0] * mg.meshgrid(
        a[0], a[1, :3])[1].transpose(),
    "cross_entropy_axis1_weight": lambda a: mg.cross_entropy(
        a.reshape(2, 5, 1).expand(2, 5, 3) * 1.0, TARGETS, weight=np.arange(1.0, 6.0),
        axis=1, label_smoothing=0.1),
    "nll_weight": lambda a: mg.nll_loss(mg.log_softmax(a, -1), np.array([4, 0]),
                                        weight=np.arange(5.0) + 1, reduction="sum"),
}


def run(fn, array, device):
    t = mg.tensor(array, requires_grad=True, device=device)
    out = fn(t)
    upstream = np.random.default_rng(0).standard_normal(out.shape).astype(out.dtype)
    out.backward(mg.tensor(upstream, device=device))
    return out, get(device).to_host(t.grad)


@pytest.mark.parametrize("name", sorted(CASES))
def test_cuda_equals_cpu(name):
    rng = np.random.default_rng(sorted(CASES).index(name))
    x = rng.standard_normal((2, 5)).astype(np.float32)
    out_cpu, g_cpu = run(CASES[name], x, "cpu")
    out_cuda, g_cuda = run(CASES[name], x, "cuda")
    assert out_cuda.device == "cuda" and out_cuda.dtype == out_cpu.dtype
    np.testing.assert_allclose(out_cuda.numpy(), out_cpu.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g_cuda, g_cpu, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cumextreme_indices_with_nan_and_ties(name):
    cpu = getattr(mg.tensor(ROWS), name)(1)
    cuda = getattr(mg.tensor(ROWS, device="cuda"), name)(1)
    np.testing.assert_array_equal(cuda[1].numpy(), cpu[1].numpy())
    np.testing.assert_array_equal(cuda[0].numpy(), cpu[0].numpy())


def test_logcumsumexp_edges():
    x = np.array([-1000.0, 0.0, -np.inf, 1.0, np.inf, 2.0, np.nan, 1.0], np.float32)
    np.testing.assert_allclose(mg.logcumsumexp(mg.tensor(x, device="cuda"), 0).numpy(),
                               mg.logcumsumexp(mg.tensor(x), 0).numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8])
def test_bitwise_cuda_equals_cpu(dtype):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, (3, 4), endpoint=True, dtype=dtype)
    b = rng.integers(info.min, info.max, (4,), endpoint=True, dtype=dtype)
    s = rng.integers(0, info.bits + 2, (3, 4)).astype(dtype)  # past the width too
    ops = [lambda x, y, z: x & y, lambda x, y, z: x | y, lambda x, y, z: x ^ y,
           lambda x, y, z: ~x, lambda x, y, z: x << z, lambda x, y, z: x >> z,
           lambda x, y, z: x & 5, lambda x, y, z: 3 ^ y]
    for op in ops:
        cpu = op(mg.tensor(a), mg.tensor(b), mg.tensor(s))
        cuda = op(*(mg.tensor(v, device="cuda") for v in (a, b, s)))
        assert cuda.device == "cuda" and cuda.dtype == cpu.dtype == dtype
        np.testing.assert_array_equal(cuda.numpy(), cpu.numpy())
    p = np.array([True, False, True])
    q = mg.tensor(p, device="cuda")
    np.testing.assert_array_equal(((q & ~q) | (q ^ q)).numpy(), [False, False, False])


def test_nonzero_and_empty_on_cuda():
    x = np.array([[0.0, 1.0], [2.0, 0.0]], np.float32)
    out = mg.nonzero(mg.tensor(x, device="cuda"))
    assert out.device == "cuda"
    np.testing.assert_array_equal(out.numpy(), [[0, 1], [1, 0]])
    assert mg.empty(2, 3, device="cuda").device == "cuda"
