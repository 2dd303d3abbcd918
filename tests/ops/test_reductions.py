"""Reductions and scans: float64 gradcheck with a random upstream, torch parity (values and
gradients), edge cases (zeros in prod/cumprod, norm at 0, infinities in logsumexp), axis errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minigrad as mg

GRADCHECK = {
    "min_axis": lambda t: t.min(axis=1), "min_all": lambda t: mg.min(t),
    "prod_axis": lambda t: t.prod(axis=0), "prod_all_keepdims": lambda t: t.prod(keepdims=True),
    "prod_axes": lambda t: mg.prod(t, axis=(0, 1)),
    "var": lambda t: t.var(axis=1, correction=1), "std_all": lambda t: t.std(),
    "logsumexp": lambda t: t.logsumexp(axis=1),
    "logsumexp_keep": lambda t: mg.logsumexp(t, 0, True),
    "cumsum": lambda t: t.cumsum(axis=1), "cumsum_flat": lambda t: t.cumsum(),
    "cumprod": lambda t: t.cumprod(axis=0), "norm2": lambda t: t.norm(axis=1),
    "norm1": lambda t: mg.norm(t, 1), "norm3": lambda t: mg.norm(t, 3, axis=0),
    "norm_inf": lambda t: mg.norm(t, np.inf, axis=1),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK))
def test_gradcheck_float64(name, rng):
    assert mg.gradcheck(GRADCHECK[name], [rng.standard_normal((3, 4))])


TORCH = {
    "min": (lambda t: t.min(axis=1), lambda t: t.amin(dim=1)),
    "prod": (lambda t: t.prod(axis=1), lambda t: t.prod(dim=1)),
    "var": (lambda t: t.var(axis=0, correction=1), lambda t: t.var(dim=0, correction=1)),
    "std": (lambda t: t.std(axis=1), lambda t: t.std(dim=1, correction=0)),
    "logsumexp": (lambda t: t.logsumexp(axis=1), lambda t: t.logsumexp(dim=1)),
    "cumsum": (lambda t: t.cumsum(axis=0), lambda t: t.cumsum(dim=0)),
    "cumprod": (lambda t: t.cumprod(axis=1), lambda t: t.cumprod(dim=1)),
    "norm": (lambda t: t.norm(axis=1), lambda t: t.norm(dim=1)),
}


@pytest.mark.parametrize("name", sorted(TORCH))
def test_matches_torch(name, rng, compare_with_torch):
    ours, theirs = TORCH[name]
    compare_with_torch(ours, theirs, [rng.standard_normal((4, 5))], rtol=1e-5, atol=1e-5)


def test_prod_and_cumprod_gradients_are_exact_at_zeros(torch):
    x = np.array([[2.0, 0.0, 3.0, 0.5], [0.0, 0.0, 1.5, 2.0]])
    for ours, theirs in ((lambda t: t.prod(axis=1), lambda t: t.prod(dim=1)),
                         (lambda t: t.cumprod(axis=1), lambda t: t.cumprod(dim=1))):
        t = mg.tensor(x, requires_grad=True)
        y = ours(t)
        u = np.random.default_rng(0).standard_normal(y.shape)
        y.backward(u)
        tt = torch.tensor(x, requires_grad=True)
        theirs(tt).backward(torch.tensor(u))
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-12)


def test_norm_at_zero_has_zero_gradient_and_logsumexp_handles_infinities():
    t = mg.tensor(np.zeros((2, 3)), requires_grad=True)
    t.norm(axis=1).sum().backward()
    assert np.all(t.grad == 0)
    y = mg.logsumexp(mg.tensor([[-np.inf, -np.inf], [np.inf, 1.0], [1000.0, 1000.0]]), axis=1)
    np.testing.assert_allclose(y.numpy(), [-np.inf, np.inf, 1000.0 + np.log(2.0)])


def test_argmax_argmin_follow_numpy(rng):
    x = rng.standard_normal((3, 5)).astype(np.float32)
    t = mg.tensor(x)
    assert t.argmax().item() == np.argmax(x)
    np.testing.assert_array_equal(t.argmax(axis=1).numpy(), np.argmax(x, axis=1))
    np.testing.assert_array_equal(mg.argmin(t, 0, keepdims=True).numpy(),
                                  np.argmin(x, 0, keepdims=True))
    assert t.argmax(axis=1).dtype == np.int64


# every reduction and scan names itself, the axis and the rank; an edge without a value is
# numpy's warning and NaN, as numpy and torch give
BAD_CALLS = [
    (lambda t: t.sum(axis=2), "sum: axis 2 is out of range"),
    (lambda t: t.mean(axis=-3), "mean: axis -3 is out of range"),
    (lambda t: t.cumsum(axis=2), "cumsum: axis 2 is out of range for a tensor of 2 dims"),
    (lambda t: t.argmax(axis=-3), "argmax: axis -3 is out of range"),
    (lambda t: mg.norm(t, "nuc"), "norm: ord must be"),
    (lambda t: mg.zeros(0, 3).max(), "max: cannot reduce axis 0 of size 0"),
    # float min reduces as -max(-x): its errors still name min
    (lambda t: mg.zeros(0, 3).min(), "min: cannot reduce axis 0 of size 0"),
    (lambda t: t.min(axis=2), "min: axis 2 is out of range"),
]
NAN_CALLS = [
    (lambda: mg.zeros(0, 3).mean(axis=0), "mean of empty slice"),
    (lambda: mg.ones(1).var(correction=1), "var: degrees of freedom <= 0"),
]


@pytest.mark.parametrize("correction", [3, 4])
def test_var_past_its_degrees_of_freedom_divides_by_zero(correction):
    """n - correction <= 0 divides by 0, as numpy's ddof and torch: inf where the values differ,
    NaN for a constant row (was NaN for both)."""
    x = np.array([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]])
    with pytest.warns(RuntimeWarning, match="degrees of freedom <= 0"):
        ours = mg.tensor(x).var(axis=1, correction=correction).numpy()
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.var(x, axis=1, ddof=correction)
    assert np.isinf(ours[0]) and ours[0] > 0 and np.isnan(ours[1])
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("call,message", BAD_CALLS)
def test_out_of_range_axes_are_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(mg.ones(2, 3))


@pytest.mark.parametrize("call,message", NAN_CALLS)
def test_no_elements_or_no_freedom_warn_and_give_nan(call, message):
    with pytest.warns(RuntimeWarning, match=message):
        assert np.isnan(call().numpy()).all()
