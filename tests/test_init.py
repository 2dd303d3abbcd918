"""Initialisers: bounds and moments of each distribution, orthogonality, identity, fans."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import init
from minigrad.nn import Parameter


def _param(*shape, dtype=np.float32):
    return Parameter(np.zeros(shape, dtype))


def test_uniform_bounds_and_moments():
    p = init.uniform_(_param(300, 300), -0.5, 1.5, rng=0)
    v = p.numpy()
    assert p.dtype == np.float32 and v.min() >= -0.5 and v.max() < 1.5
    assert v.min() < -0.49 and v.max() > 1.49  # fills the interval
    assert abs(v.mean() - 0.5) < 0.01
    assert abs(v.var() - 2.0**2 / 12) / (2.0**2 / 12) < 0.02
    with pytest.raises(ValueError, match="high=0 is below low=1"):
        init.uniform_(_param(2), 1, 0)


def test_normal_moments_and_reproducibility():
    v = init.normal_(_param(300, 300), 2.0, 0.5, rng=1).numpy()
    assert abs(v.mean() - 2.0) < 0.01 and abs(v.std() - 0.5) < 0.01
    again = init.normal_(_param(300, 300), 2.0, 0.5, rng=1).numpy()
    np.testing.assert_array_equal(v, again)


@pytest.mark.parametrize("shape", [(200, 300), (300, 100), (64, 32, 3)], ids=str)
@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier_uniform_bound_and_variance(shape, gain):
    fan_in, fan_out = init.fans(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    v = init.xavier_uniform_(_param(*shape), gain=gain, rng=2).numpy()
    assert np.abs(v).max() <= bound * (1 + 1e-6) and np.abs(v).max() > 0.99 * bound
    expected_var = gain**2 * 2.0 / (fan_in + fan_out)
    assert abs(v.var() - expected_var) / expected_var < 0.03
    assert abs(v.mean()) < 0.02 * bound
    assert init.glorot_uniform_ is init.xavier_uniform_


@pytest.mark.parametrize("shape", [(200, 300), (64, 32, 3)], ids=str)
def test_xavier_normal_variance(shape):
    fan_in, fan_out = init.fans(shape)
    v = init.xavier_normal_(_param(*shape), gain=2.0, rng=3).numpy()
    expected_var = 4.0 * 2.0 / (fan_in + fan_out)
    assert abs(v.var() - expected_var) / expected_var < 0.03


def test_fans_match_torch(torch):
    for shape in [(5, 7), (4, 3, 2), (6, 2, 3, 3)]:
        expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        assert init.fans(shape) == expected
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.fans((5,))


@pytest.mark.parametrize("shape", [(16, 16), (32, 8), (8, 32), (12, 3, 4)], ids=str)
def test_orthogonal_is_orthonormal(shape):
    gain = 1.7
    q = init.orthogonal_(_param(*shape, dtype=np.float64), gain=gain, rng=4).numpy()
    q = q.reshape(shape[0], -1) / gain
    rows, cols = q.shape
    if rows >= cols:
        np.testing.assert_allclose(q.T @ q, np.eye(cols), atol=1e-12)
    if rows <= cols:
        np.testing.assert_allclose(q @ q.T, np.eye(rows), atol=1e-12)


def test_orthogonal_float32_and_draws_differ():
    a = init.orthogonal_(_param(64, 64), rng=5).numpy()
    assert a.dtype == np.float32
    np.testing.assert_allclose(a.T @ a, np.eye(64), atol=1e-5)
    b = init.orthogonal_(_param(64, 64), rng=6).numpy()
    assert not np.allclose(a, b)
    # Haar-distributed: no systematic sign on the diagonal (the sign fix of the QR)
    diagonals = [init.orthogonal_(_param(8, 8), rng=s).numpy()[0, 0] for s in range(40)]
    assert 5 < sum(d > 0 for d in diagonals) < 35
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.orthogonal_(_param(4))


def test_identity_square_and_rectangular():
    np.testing.assert_array_equal(init.identity_(_param(4, 4), gain=0.5).numpy(), 0.5 * np.eye(4))
    np.testing.assert_array_equal(init.identity_(_param(3, 5)).numpy(), np.eye(3, 5))
    np.testing.assert_array_equal(init.eye_(_param(5, 3)).numpy(), np.eye(5, 3))
    with pytest.raises(ValueError, match="needs a 2-d tensor"):
        init.identity_(_param(2, 2, 2))


def test_constants_keep_dtype_and_shape():
    p = _param(2, 3, dtype=np.float64)
    assert init.constant_(p, 2.5) is p
    np.testing.assert_array_equal(p.numpy(), np.full((2, 3), 2.5))
    assert p.dtype == np.float64
    np.testing.assert_array_equal(init.zeros_(p).numpy(), 0)
    np.testing.assert_array_equal(init.ones_(p).numpy(), 1)


def test_initialised_parameter_still_trains():
    p = init.xavier_uniform_(_param(3, 2), rng=0)
    (mg.tensor(np.ones((1, 3), np.float32)) @ p).sum().backward()
    np.testing.assert_array_equal(p.grad, np.ones((3, 2)))
