"""Reductions: sum, mean, max over every axis form, gradchecked and held to torch."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

# (input shape, axis, keepdims)
CASES = [
    ((3, 4), None, False),
    ((3, 4), None, True),
    ((3, 4), 0, False),
    ((3, 4), 1, True),
    ((3, 4), -1, False),
    ((2, 3, 4), (0, 2), False),
    ((2, 3, 4), (-1, 0), True),
    ((2, 3, 4), 1, True),
    ((5,), 0, False),
    ((), None, False),
]


def _torch_reduce(torch, name, t, axis, keepdims):
    dim = tuple(range(t.dim())) if axis is None else axis
    if name == "sum":
        return t.sum(dim=dim, keepdim=keepdims) if t.dim() else t.sum()
    if name == "mean":
        return t.mean(dim=dim, keepdim=keepdims) if t.dim() else t.mean()
    return t.amax(dim=dim, keepdim=keepdims) if t.dim() else t.amax()


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@pytest.mark.parametrize("shape, axis, keepdims", CASES, ids=str)
def test_reduce_gradcheck(name, shape, axis, keepdims, rng):
    a = rng.standard_normal(shape)
    assert mg.gradcheck(lambda x: getattr(x, name)(axis=axis, keepdims=keepdims), [a])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@pytest.mark.parametrize("shape, axis, keepdims", CASES, ids=str)
def test_reduce_matches_torch(name, shape, axis, keepdims, dtype, rng, torch, compare_with_torch):
    a = rng.standard_normal(shape)
    compare_with_torch(
        lambda x: getattr(mg, name)(x, axis, keepdims),
        lambda t: _torch_reduce(torch, name, t, axis, keepdims),
        [a],
        dtype,
    )


def test_reduce_of_broadcast_result_gradcheck(rng):
    """A reduction downstream of a broadcast: the engine's unbroadcast and the reduce interplay."""
    a, b = rng.standard_normal((3, 1)), rng.standard_normal((4,))
    assert mg.gradcheck(
        lambda x, y: (x * y).mean(axis=0) + (x - y).max(axis=1, keepdims=True), [a, b]
    )


def test_max_shares_gradient_among_ties_as_torch_amax(torch):
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], dtype=np.float32)
    x = mg.tensor(a, requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    t = torch.tensor(a, requires_grad=True)
    t.amax(dim=1).sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-6)


def test_float32_sum_is_float32_and_accurate(rng):
    a = rng.standard_normal(100_000).astype(np.float32)
    s = mg.tensor(a).sum()
    assert s.dtype == np.float32
    np.testing.assert_allclose(s.item(), a.astype(np.float64).sum(), rtol=1e-5, atol=1e-3)


def test_mean_of_float32_keeps_float32_gradient(rng):
    x = mg.tensor(rng.standard_normal((4, 5)).astype(np.float32), requires_grad=True)
    y = x.mean(axis=1)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, np.full((4, 5), 0.2, np.float32))

