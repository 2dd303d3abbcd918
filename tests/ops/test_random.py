"""dropout: inverted scaling, reproducible masks from a seed or Generator, the gradient's mask."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_zeroes_a_fraction_p_and_scales_the_rest(p, dtype):
    x = mg.tensor(np.full((200, 250), 2.0, dtype))
    y = mg.dropout(x, p, rng=0)
    assert y.dtype == dtype and y.shape == x.shape
    out = y.numpy()
    kept = out != 0
    np.testing.assert_allclose(out[kept], 2.0 / (1 - p), rtol=1e-6)
    n = out.size
    # the dropped fraction is Binomial(n, p) / n: 5 standard deviations
    assert abs((1 - kept.mean()) - p) < 5 * np.sqrt(p * (1 - p) / n)
    # inverted dropout keeps the mean
    assert abs(out.mean() - 2.0) < 5 * 2.0 * np.sqrt(p / (1 - p) / n)


def test_dropout_gradient_uses_the_forward_mask(rng):
    a = np.abs(rng.standard_normal((6, 7))) + 0.5
    x = mg.tensor(a, requires_grad=True)
    y = mg.dropout(x, 0.3, rng=5)
    u = rng.standard_normal(a.shape)
    y.backward(u)
    mask = (y.numpy() != 0) / 0.7
    np.testing.assert_allclose(y.numpy(), a * mask, rtol=1e-12)
    np.testing.assert_allclose(x.grad, u * mask, rtol=1e-12)


def test_dropout_gradcheck_with_a_fixed_seed(rng):
    a = rng.standard_normal((4, 5))
    # an integer seed draws the same mask on every call, so finite differences see one function
    assert mg.gradcheck(lambda x: mg.dropout(x * 2.0, 0.4, rng=7).tanh(), [a])


def test_dropout_masks_are_reproducible_and_a_generator_advances():
    x = mg.ones(50, 40)
    a = mg.dropout(x, 0.5, rng=3).numpy()
    b = mg.dropout(x, 0.5, rng=3).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, mg.dropout(x, 0.5, rng=4).numpy())
    gen = np.random.default_rng(3)
    first = mg.dropout(x, 0.5, rng=gen).numpy()
    second = mg.dropout(x, 0.5, rng=gen).numpy()
    np.testing.assert_array_equal(first, a)  # a Generator seeded alike draws the same first mask
    assert not np.array_equal(first, second)


def test_dropout_identity_cases(rng):
    x = mg.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    assert mg.dropout(x, 0.0, rng=0) is x
    assert mg.dropout(x, 0.9, rng=0, training=False) is x


def test_dropout_p_one_zeroes_everything_and_its_gradient(rng):
    x = mg.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    y = mg.dropout(x, 1.0, rng=0)
    np.testing.assert_array_equal(y.numpy(), 0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, 0)
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_p_outside_unit_interval(p):
    with pytest.raises(ValueError, match=rf"dropout: p must be in \[0, 1\], got {p}"):
        mg.dropout(mg.ones(3), p)
