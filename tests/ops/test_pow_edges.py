"""pow's gradients at the edges take torch's limits instead of nan."""

from __future__ import annotations

import numpy as np

import minigrad as mg


def _grads(base, exponent):
    x = mg.tensor(np.asarray(base, np.float64), requires_grad=True)
    y = mg.tensor(np.asarray(exponent, np.float64), requires_grad=True)
    (x ** y).sum().backward()
    return x.grad, y.grad


def test_x_to_the_zero_has_no_slope_even_at_infinity():
    dx, _ = _grads([np.inf, -np.inf, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(dx, [0, 0, 0, 0])


def test_zero_to_the_y_slope_in_y_follows_the_limit():
    _, dy = _grads([0.0, 0.0, 0.0, 0.0], [2.0, 0.0, -1.0, -0.5])
    np.testing.assert_array_equal(dy, [0, 0, -np.inf, -np.inf])


def test_scalar_zero_base_at_negative_exponent():
    y = mg.tensor(np.array([-1.0, 1.0]), requires_grad=True)
    (0.0 ** y).sum().backward()
    np.testing.assert_array_equal(y.grad, [-np.inf, 0])


def test_edges_match_torch(torch):
    base = np.array([np.inf, -np.inf, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0])
    exponent = np.array([0.0, 0.0, 2.0, 0.0, -1.0, -0.5, 0.5, 0.5])
    dx, dy = _grads(base, exponent)
    tx = torch.tensor(base, requires_grad=True)
    ty = torch.tensor(exponent, requires_grad=True)
    (tx ** ty).sum().backward()
    np.testing.assert_array_equal(dx, tx.grad.numpy())
    np.testing.assert_array_equal(dy, ty.grad.numpy())


def test_pow_gradcheck_away_from_edges(rng):
    base = np.abs(rng.standard_normal((3, 4))) + 0.5
    exponent = rng.standard_normal((4,))
    mg.gradcheck(lambda a, b: a ** b, [base, exponent])
