"""Softmax family and losses: any axis, stability, ignore_index, multi-dim targets, errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

SOFTMAX_CASES = [
    ((5,), -1),
    ((3, 4), -1),
    ((3, 4), 0),
    ((2, 3, 4), 1),
    ((2, 3, 4), 0),
    ((2, 3, 4), -1),
    ((3, 1), -1),
]


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, axis", SOFTMAX_CASES, ids=str)
def test_softmax_family_gradcheck(name, shape, axis, rng):
    a = rng.standard_normal(shape)
    assert mg.gradcheck(lambda x: getattr(mg, name)(x, axis), [a])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, axis", SOFTMAX_CASES, ids=str)
def test_softmax_family_matches_torch(name, shape, axis, dtype, rng, torch, compare_with_torch):
    a = rng.standard_normal(shape) * 3
    compare_with_torch(
        lambda x: getattr(x, name)(axis), lambda t: getattr(torch, name)(t, axis), [a], dtype
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_is_stable_for_large_logits(dtype, torch):
    a = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]], dtype=dtype)
    for name in ("softmax", "log_softmax"):
        x = mg.tensor(a, requires_grad=True)
        y = getattr(x, name)()
        assert np.all(np.isfinite(y.numpy()))
        expected = getattr(torch, name)(torch.tensor(a), -1).numpy()
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=1e-6)
        y.backward(np.ones(a.shape, dtype))
        assert np.all(np.isfinite(x.grad))
    np.testing.assert_allclose(mg.tensor(a).softmax().numpy().sum(axis=-1), 1, rtol=1e-6)


def test_softmax_of_a_scalar_is_one():
    assert mg.tensor(1.0).softmax().numpy() == 1.0 and mg.tensor(1.0).softmax().shape == ()
    assert mg.tensor(1.0).log_softmax().numpy() == 0.0
    with pytest.raises(ValueError, match="softmax: axis 1 is out of range"):
        mg.tensor(1.0).softmax(axis=1)


# ---- cross entropy ---------------------------------------------------------------------------

# (logits shape, ignored positions as a fraction)
CE_CASES = [
    ((4, 5), 0.0),
    ((4, 5), 0.5),
    ((2, 3, 5), 0.0),
    ((2, 3, 5), 0.4),
    ((5,), 0.0),
    ((3, 1, 2, 4), 0.3),
]


def _targets(rng, shape, ignored, ignore_index):
    classes = shape[-1]
    t = rng.integers(0, classes, size=shape[:-1])
    drop = rng.random(shape[:-1]) < ignored
    t = np.where(drop, ignore_index, t).astype(np.int64).reshape(shape[:-1])
    if (t == ignore_index).all():  # keep one counted position, else the mean is 0/0
        t.reshape(-1)[0] = (ignore_index + 1) % classes
    return t


@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("shape, ignored", CE_CASES, ids=str)
def test_cross_entropy_gradcheck(shape, ignored, ignore_index, rng):
    a = rng.standard_normal(shape)
    t = _targets(rng, shape, ignored, ignore_index)
    assert mg.gradcheck(lambda x, y: mg.cross_entropy(x, y, ignore_index=ignore_index), [a, t])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("shape, ignored", CE_CASES, ids=str)
def test_cross_entropy_matches_torch(
    shape, ignored, ignore_index, dtype, rng, torch, compare_with_torch
):
    a = rng.standard_normal(shape) * 2
    t = _targets(rng, shape, ignored, ignore_index)
    classes = shape[-1]

    def reference(logits, targets):
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, classes), targets.reshape(-1), ignore_index=ignore_index
        )

    compare_with_torch(
        lambda x, y: mg.cross_entropy(x, y, ignore_index=ignore_index), reference, [a, t], dtype
    )


def test_cross_entropy_multi_dim_equals_torch_class_axis_form(rng, torch):
    """(B, T, C) logits with (B, T) targets equal torch's (B, C, T) form."""
    a = rng.standard_normal((2, 6, 4)).astype(np.float32)
    t = rng.integers(0, 4, size=(2, 6))
    ours = mg.cross_entropy(mg.tensor(a), t).item()
    theirs = torch.nn.functional.cross_entropy(torch.tensor(a).permute(0, 2, 1), torch.tensor(t))
    np.testing.assert_allclose(ours, theirs.item(), rtol=1e-6)


def test_cross_entropy_mean_is_over_counted_rows_only(rng):
    a = rng.standard_normal((4, 3))
    t = np.array([0, -100, 2, -100])
    x = mg.tensor(a, requires_grad=True)
    loss = mg.cross_entropy(x, t)
    log_probs = a - np.log(np.exp(a).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(loss.item(), -(log_probs[0, 0] + log_probs[2, 2]) / 2, rtol=1e-12)
    loss.backward()
    np.testing.assert_array_equal(x.grad[[1, 3]], 0)


def test_cross_entropy_is_stable_for_large_logits():
    x = mg.tensor(np.array([[1e4, 0.0, -1e4]], dtype=np.float32), requires_grad=True)
    loss = mg.cross_entropy(x, np.array([1]))
    np.testing.assert_allclose(loss.item(), 1e4, rtol=1e-6)
    loss.backward()
    np.testing.assert_allclose(x.grad, [[1, -1, 0]], atol=1e-6)


def test_cross_entropy_float32_keeps_precision_at_large_offsets(torch):
    """log-probabilities of logits near 1000 must not lose the digits below 1000's ulp."""
    a = np.array([[1000.3, 1001.7, 999.1], [-2000.5, -2001.0, -1999.25]], dtype=np.float32)
    t = np.array([0, 2])
    ours = mg.cross_entropy(mg.tensor(a), t).item()
    theirs = torch.nn.functional.cross_entropy(torch.tensor(a), torch.tensor(t)).item()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_cross_entropy_all_ignored_is_nan_like_torch(torch):
    a = np.zeros((2, 3), np.float32)
    t = np.array([-100, -100])
    assert np.isnan(mg.cross_entropy(mg.tensor(a), t).item())
    assert np.isnan(torch.nn.functional.cross_entropy(torch.tensor(a), torch.tensor(t)).item())


def test_cross_entropy_accepts_tensor_targets(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    t = np.array([1, 0, 3])
    assert (
        mg.cross_entropy(mg.tensor(a), mg.tensor(t)).item()
        == mg.cross_entropy(mg.tensor(a), t).item()
    )


def test_cross_entropy_errors():
    logits = mg.ones(3, 4)
    with pytest.raises(ValueError, match="cross_entropy: targets must be integers"):
        mg.cross_entropy(logits, np.zeros(3))
    with pytest.raises(ValueError, match=r"cross_entropy: targets of shape \(4,\) do not match"):
        mg.cross_entropy(logits, np.zeros(4, np.int64))
    with pytest.raises(ValueError, match=r"cross_entropy: target 4 is outside \[0, 4\)"):
        mg.cross_entropy(logits, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy: target -1 is outside"):
        mg.cross_entropy(logits, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match="logits must be a Tensor"):
        mg.cross_entropy(np.ones((3, 4)), np.zeros(3, np.int64))


# ---- mse ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (5,), (3, 4)], ids=str)
def test_mse_loss_gradcheck_both_operands(shape, rng):
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    assert mg.gradcheck(mg.mse_loss, [a, b])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2)], ids=str)
def test_mse_loss_matches_torch(shape, dtype, rng, torch, compare_with_torch):
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    compare_with_torch(mg.mse_loss, torch.nn.functional.mse_loss, [a, b], dtype)


def test_mse_loss_with_numpy_target(rng):
    a = rng.standard_normal((3, 2)).astype(np.float32)
    b = rng.standard_normal((3, 2)).astype(np.float32)
    x = mg.tensor(a, requires_grad=True)
    loss = mg.mse_loss(x, b)
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), np.mean((a - b) ** 2), rtol=1e-6)
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * (a - b) / a.size, rtol=1e-6)


def test_mse_loss_errors():
    with pytest.raises(
        ValueError,
        match=r"mse_loss: prediction has shape \(3, 1\) but target has "
        r"shape \(3,\)",
    ):
        mg.mse_loss(mg.ones(3, 1), mg.ones(3))
    with pytest.raises(ValueError, match="mse_loss: dtype mismatch"):
        mg.mse_loss(mg.ones(3), mg.ones(3, dtype=np.float64))
    # no elements: the mean is NaN, as torch's (and minigrad's other losses); it was refused
    empty = mg.tensor(np.ones(0), requires_grad=True)
    with np.errstate(invalid="ignore"):
        loss = mg.mse_loss(empty, mg.zeros(0, dtype=np.float64))
    assert np.isnan(loss.item())
    loss.backward()
    assert empty.grad.shape == (0,)
