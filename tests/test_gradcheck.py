"""gradcheck itself: it must catch wrong VJPs (and say where), and pass correct ones."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import record


def _mul_with_wrong_vjp(bad_input, bad_index, delta=0.5):
    """a * b whose VJP for input `bad_input` is off by `delta` at `bad_index`."""

    def mul(a, b):
        x, y = a.data, b.data

        def backward(g):
            grads = [g * y, g * x]
            wrong = grads[bad_input].copy()
            wrong[bad_index] += delta
            grads[bad_input] = wrong
            return tuple(grads)

        return record("wrong_mul", x * y, (a, b), backward)

    return mul


@pytest.mark.parametrize("bad_input, bad_index", [(0, (0, 0)), (1, (1, 2)), (1, (2, 3))])
def test_gradcheck_reports_the_input_and_index_of_a_wrong_vjp(bad_input, bad_index, rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    with pytest.raises(mg.GradcheckError) as info:
        mg.gradcheck(_mul_with_wrong_vjp(bad_input, bad_index), [a, b])
    message = str(info.value)
    assert f"input {bad_input}" in message
    assert f"index {bad_index}" in message
    assert "analytic" in message and "numeric" in message


def test_gradcheck_error_carries_both_values(rng):
    a, b = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    with pytest.raises(mg.GradcheckError) as info:
        mg.gradcheck(_mul_with_wrong_vjp(0, (1, 1), delta=10.0), [a, b], seed=3)
    found = re.search(r"analytic (\S+) vs numeric (\S+)", str(info.value))
    analytic, numeric = float(found.group(1)), float(found.group(2))
    upstream = np.random.default_rng(3).standard_normal((2, 2))  # gradcheck's upstream for seed 3
    np.testing.assert_allclose(numeric, upstream[1, 1] * b[1, 1], rtol=1e-6)
    np.testing.assert_allclose(analytic, upstream[1, 1] * b[1, 1] + 10.0, rtol=1e-9)


def test_gradcheck_uses_a_random_upstream_not_a_sum():
    """A VJP that is right only for a uniform upstream (as .sum() would give) is caught."""

    def scale(a):
        x = a.data
        return record("scale", x * 3.0, (a,), lambda g: (np.full(x.shape, g.mean() * 3.0),))

    x = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    scale(x).sum().backward()
    np.testing.assert_allclose(x.grad, 3.0)  # fooled by a uniform upstream
    with pytest.raises(mg.GradcheckError, match="input 0"):
        mg.gradcheck(scale, [np.arange(6.0).reshape(2, 3)])


def test_gradcheck_passes_a_correct_vjp_and_leaves_inputs_alone(rng):
    a = rng.standard_normal((3, 2)).astype(np.float32)
    x = mg.tensor(a, requires_grad=True)
    targets = np.array([1, 0, 1])
    assert mg.gradcheck(lambda t, y: mg.cross_entropy(t.tanh(), y), [x, targets]) is True
    np.testing.assert_array_equal(x.numpy(), a)
    assert x.dtype == np.float32 and x.grad is None


def test_gradcheck_treats_an_unreached_input_as_zero_gradient(rng):
    assert mg.gradcheck(lambda x, y: x * 2.0, [rng.standard_normal(3), rng.standard_normal(3)])


def test_gradcheck_catches_a_missing_gradient(rng):
    def forgets_b(a, b):
        return record("forgets_b", a.data + b.data, (a, b), lambda g: (g, None))

    with pytest.raises(mg.GradcheckError, match="input 1"):
        mg.gradcheck(forgets_b, [rng.standard_normal(2), rng.standard_normal(2)])


def test_gradcheck_rejects_dtype_changes_and_bad_arguments(rng):
    a = rng.standard_normal(3)
    with pytest.raises(mg.GradcheckError, match="returned float32 for float64 inputs"):
        mg.gradcheck(lambda x: x.astype(np.float32), [a])
    with pytest.raises(ValueError, match="no floating-point input"):
        mg.gradcheck(lambda x: mg.tensor(x * 1.0), [np.arange(3)])
    with pytest.raises(TypeError, match="fn must return a Tensor"):
        mg.gradcheck(lambda x: x.numpy(), [a])


@pytest.mark.parametrize("view", ["transposed", "strided", "fortran"])
def test_gradcheck_perturbs_non_contiguous_inputs(view, rng):
    """A transposed, strided or Fortran-ordered input is checked, not read as zero slopes."""
    base = rng.standard_normal((4, 6))
    a = {"transposed": base.T, "strided": base[:, ::2],
         "fortran": np.asfortranarray(base)}[view]
    b = rng.standard_normal(a.shape)
    assert mg.gradcheck(lambda x, y: x * y, [a, b])
    assert mg.gradcheck(lambda x, y: x * y, [mg.Tensor(a), b])
    with pytest.raises(mg.GradcheckError, match="input 0"):
        mg.gradcheck(_mul_with_wrong_vjp(0, (1, 1)), [a, b])
