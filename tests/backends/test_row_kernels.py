"""The CPU backend's row kernels that the character model's step leans on: the embedding's
backward (index_add's loop for one integer index of the first axis) and the cross-entropy /
log-softmax rows (float32 exponentials through exp_f32, split running sums and maxima)."""

import numpy as np
import pytest

from minigrad.backends import cpu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_shape", [(7,), (5, 3), (2, 2, 4)])
def test_index_add_rows_equals_np_add_at(dtype, index_shape, rng):
    """Repeated and negative indices accumulate exactly as np.add.at does (same additions, same
    order: bit for bit)."""
    shape = (6, 4, 3)
    index = rng.integers(-6, 6, index_shape)
    index.flat[0] = index.flat[-1] = 2  # a repeat at least
    g = rng.standard_normal(index_shape + shape[1:]).astype(dtype)
    expected = np.zeros(shape, dtype)
    np.add.at(expected, index, g)
    out = cpu.index_add(shape, index, g, dtype)
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("index", [
    (np.array([0, 2, 2]), np.array([1, 1, 0])),  # a tuple of arrays
    np.array([True, False, True, False]),  # a mask
    np.array([[0, 1]], dtype=np.uint8),  # unsigned
])
def test_index_add_other_indices_still_accumulate(index, rng):
    shape = (4, 3)
    g = rng.standard_normal(np.zeros(shape)[index].shape)
    expected = np.zeros(shape)
    np.add.at(expected, index, g)
    np.testing.assert_array_equal(cpu.index_add(shape, index, g, np.float64), expected)


def test_index_add_out_of_range_raises_like_numpy(rng):
    with pytest.raises(IndexError):
        cpu.index_add((3, 2), np.array([0, 3]), rng.standard_normal((2, 2)), np.float64)


def _log_softmax64(x):
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return (x - m) - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("classes", [1, 3, 4, 5, 9, 162])
@pytest.mark.parametrize("dtype,tol", [(np.float32, 3e-6), (np.float64, 1e-13)])
def test_cross_entropy_rows_against_float64(classes, dtype, tol, rng):
    """Every row length around the kernels' unrolling (4 running sums and maxima) and large
    offsets: log-probabilities, loss and d logits within the dtype's rounding of float64's."""
    x = (rng.standard_normal((37, classes)) * 4 + rng.uniform(-60, 60, (37, 1))).astype(dtype)
    targets = rng.integers(0, classes, 37)
    targets[5] = -100
    loss, log_probs, count = cpu.cross_entropy(x, targets, -100)
    ref = _log_softmax64(x)
    kept = targets != -100
    assert count == kept.sum()
    np.testing.assert_allclose(log_probs, ref, rtol=tol, atol=tol)
    expected_loss = -ref[kept][np.arange(count), targets[kept]].mean()
    assert abs(float(loss) - expected_loss) <= tol * max(1.0, abs(expected_loss))
    d = cpu.cross_entropy_backward(log_probs, targets, -100, np.asarray(2.0, dtype), count)
    d_ref = np.exp(ref)
    d_ref[np.flatnonzero(kept), targets[kept]] -= 1
    d_ref[~kept] = 0
    np.testing.assert_allclose(d, d_ref * 2.0 / count, rtol=0, atol=tol * 2.0 / count * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_rows_nan_and_infinite_rows(dtype):
    """A NaN anywhere in a row makes the whole row NaN (as with one running maximum); the next
    row is unaffected."""
    x = np.array([[0.0, np.nan, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0, 5.0]], dtype)
    out = np.empty_like(x)
    from minigrad.backends import cpu_kernels

    cpu_kernels.log_softmax_rows(x, out)
    assert np.isnan(out[0]).all()
    np.testing.assert_allclose(out[1], _log_softmax64(x[1:])[0], rtol=3e-6)
