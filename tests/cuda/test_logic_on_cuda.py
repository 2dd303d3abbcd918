"""Comparison and logic ops, promotion and the log-softmax formula on CUDA equal the CPU's."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

pytestmark = pytest.mark.cuda

A = np.array([[1.0, -2.0, np.nan], [0.0, np.inf, 3.0]], np.float32)
B = np.array([1.0, 0.0, np.nan], np.float32)

CASES = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "ge_scalar": lambda a, b: a >= 0.5, "and": lambda a, b: (a > 0) & (b > 0),
    "or": lambda a, b: (a > 0) | (b > 0), "xor": lambda a, b: (a > 0) ^ (b > 0),
    "invert": lambda a, b: ~(a > 0), "logical_and": lambda a, b: mg.logical_and(a, b),
    "logical_not": lambda a, b: mg.logical_not(a), "isnan": lambda a, b: mg.isnan(a),
    "isinf": lambda a, b: mg.isinf(a), "isfinite": lambda a, b: mg.isfinite(a),
    "isclose": lambda a, b: mg.isclose(a, b, equal_nan=True), "any": lambda a, b: (a > 0).any(1),
    "all": lambda a, b: mg.all(a != 7, axis=0), "any_all": lambda a, b: mg.any(a < -5),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_logic_on_cuda_matches_cpu(name):
    fn = CASES[name]
    expected = fn(mg.tensor(A), mg.tensor(B))
    out = fn(mg.tensor(A, device="cuda"), mg.tensor(B, device="cuda"))
    assert out.device == "cuda" and out.dtype == np.bool_ and out.shape == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_integer_promotion_on_cuda():
    ints = mg.tensor(np.array([1, 2, 3, 4], np.int32), device="cuda")
    np.testing.assert_allclose((ints ** 0.5).numpy(), np.sqrt([1, 2, 3, 4]), rtol=1e-12)
    np.testing.assert_array_equal((ints * 1.5).numpy(), [1.5, 3, 4.5, 6])
    assert ints.tanh().dtype == np.float64 and (ints / ints).dtype == np.float64


def test_log_softmax_of_large_logits_on_cuda_rounds_as_the_cpu():
    logits = np.array([[1000.0, 1000.5, 999.0, 1001.25]], np.float32)
    cpu = mg.log_softmax(mg.tensor(logits)).numpy()
    cuda = mg.log_softmax(mg.tensor(logits, device="cuda")).numpy()
    np.testing.assert_array_equal(cuda, cpu)
    targets = np.array([2])
    loss_cpu = mg.cross_entropy(mg.tensor(logits), targets).item()
    loss_cuda = mg.cross_entropy(mg.tensor(logits, device="cuda"), targets).item()
    assert loss_cuda == loss_cpu == -cpu[0, 2]
