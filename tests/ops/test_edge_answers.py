"""Issue 20's "answers without an error" and 0-d/empty cases, each compared with torch (and numpy
where minigrad follows numpy): integer/bool min and max, NaN in max's gradient, topk and relu,
std of a constant, pad with inf, tril of bools, clip with lo > hi, and the 0-d/empty semantics.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minigrad as mg

NAN = float("nan")


@pytest.mark.parametrize("values", [
    np.int32([0, -2**31, 7]), np.int64([5, -2**63, 2**63 - 1]), np.int8([-128, 127, 0]),
    np.uint8([0, 128, 255, 64]), np.int16([-32768, 3]), np.array([True, False, True]),
    np.array([True, True]),
])
def test_min_max_of_integers_and_bools_match_torch(values, torch):
    t = torch.tensor(values)
    x = mg.tensor(values)
    for ours, theirs in ((x.min(), t.min()), (x.max(), t.max())):
        assert ours.dtype == values.dtype
        assert ours.numpy() == theirs.numpy()
    two = np.stack([values, values[::-1]])
    for axis in (0, 1):
        np.testing.assert_array_equal(mg.tensor(two).min(axis=axis).numpy(),
                                      torch.tensor(two).amin(dim=axis).numpy())
    if values.dtype != np.bool_:  # torch refuses argmin of bools; numpy's answer is ours
        assert x.argmin().numpy() == t.argmin().numpy() == np.argmin(values)
        assert x.argmax().numpy() == t.argmax().numpy() == np.argmax(values)


def test_max_gradient_with_nan_goes_to_the_nans(torch):
    for values in ([1.0, NAN, 3.0], [1.0, NAN, NAN], [[NAN, 2.0], [1.0, 4.0]]):
        a = np.array(values)
        for reduce in ("max", "min"):
            x = mg.tensor(a, requires_grad=True)
            getattr(x, reduce)().backward()
            t = torch.tensor(a, requires_grad=True)
            getattr(t, reduce)().backward()
            np.testing.assert_array_equal(x.grad, t.grad.numpy())
    a = np.array([[NAN, 2.0], [1.0, 4.0]])
    x = mg.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    x.max(axis=1).sum().backward()
    t.max(dim=1).values.sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_relu_derivative_at_nan_is_one(torch):
    a = np.array([NAN, 1.0, -1.0, 0.0])
    x = mg.tensor(a, requires_grad=True)
    y = x.relu()
    y.sum().backward()
    t = torch.tensor(a, requires_grad=True)
    torch.relu(t).sum().backward()
    np.testing.assert_array_equal(y.numpy(), torch.relu(torch.tensor(a)).numpy())
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


@pytest.mark.parametrize("correction", [0, 1])
def test_std_of_a_constant_has_zero_gradient(correction, torch):
    a = np.full((2, 4), 3.0)
    x = mg.tensor(a, requires_grad=True)
    x.std(axis=1, correction=correction).sum().backward()
    t = torch.tensor(a, requires_grad=True)
    t.std(dim=1, correction=correction).sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())
    rng = np.random.default_rng(0)  # and away from zero it is still the derivative of sqrt(var)
    b, w = rng.standard_normal((3, 5)), mg.tensor(rng.random(3))
    mg.gradcheck(lambda v: v.std(axis=1, correction=correction) * w,
                 [mg.tensor(b, requires_grad=True)])


def test_topk_puts_nan_first_as_torch(torch):
    a = np.array([3.0, NAN, 1.0, 2.0])
    for largest in (True, False):
        values, indices = mg.topk(mg.tensor(a), 2, largest=largest)
        theirs = torch.topk(torch.tensor(a), 2, largest=largest)
        np.testing.assert_array_equal(values.numpy(), theirs.values.numpy())
        np.testing.assert_array_equal(indices.numpy(), theirs.indices.numpy())
    sorted_values, _ = mg.sort(mg.tensor(a), descending=True)
    np.testing.assert_array_equal(sorted_values.numpy(), np.array([NAN, 3.0, 2.0, 1.0]))


def test_pad_with_inf_keeps_the_interior(torch):
    a = np.arange(4.0).reshape(2, 2)
    x = mg.tensor(a, requires_grad=True)
    y = mg.pad(x, ((1, 1), (1, 1)), value=np.inf)
    expected = torch.nn.functional.pad(torch.tensor(a), (1, 1, 1, 1), value=float("inf"))
    np.testing.assert_array_equal(y.numpy(), expected.numpy())
    y.backward(np.ones((4, 4)))
    np.testing.assert_array_equal(x.grad, np.ones((2, 2)))


def test_tril_triu_keep_bool(torch):
    a = np.ones((3, 4), bool)
    for name in ("tril", "triu"):
        ours = getattr(mg, name)(mg.tensor(a), 1)
        theirs = getattr(torch, name)(torch.tensor(a), 1)
        assert ours.dtype == np.bool_
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert mg.tril(mg.tensor(np.ones((2, 2), np.int32))).dtype == np.int32


def test_clip_with_lo_above_hi_gives_hi(torch):
    a = np.linspace(-2, 5, 8)
    x = mg.tensor(a, requires_grad=True)
    y = x.clip(3, 0)
    t = torch.tensor(a, requires_grad=True)
    ty = torch.clamp(t, 3, 0)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(y.numpy(), np.clip(a, 3, 0))
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_linspace_refuses_bool(torch):
    with pytest.raises(RuntimeError):
        torch.linspace(0, 1, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="linspace: dtype bool"):
        mg.linspace(0, 1, 3, dtype=bool)


# ---- 0-d and empty tensors ------------------------------------------------------------------
def test_softmax_family_of_0d_and_empty(torch):
    for name in ("softmax", "log_softmax"):
        x = mg.tensor(np.float64(2.0), requires_grad=True)
        y = getattr(mg, name)(x)
        t = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
        ty = getattr(torch, name)(t, 0)
        assert y.shape == () and y.numpy() == ty.item()
        y.backward()
        ty.backward()
        assert x.grad == t.grad.item()
        e = mg.tensor(np.ones((2, 0)), requires_grad=True)
        out = getattr(mg, name)(e, axis=-1)
        assert out.shape == tuple(getattr(torch, name)(torch.ones(2, 0), -1).shape)
        out.sum().backward()
        assert e.grad.shape == (2, 0)


def test_scans_and_squeeze_of_0d_keep_shape(torch):
    for name in ("cumsum", "cumprod"):
        for axis in (None, 0, -1):
            x = mg.tensor(np.float64(3.0), requires_grad=True)
            y = getattr(mg, name)(x, axis)
            assert y.shape == tuple(getattr(torch, name)(torch.tensor(3.0), 0).shape) == ()
            assert y.numpy() == 3.0
            y.backward()
            assert x.grad == 1.0
        with pytest.raises(ValueError, match=f"{name}: axis 1 is out of range"):
            getattr(mg, name)(mg.tensor(3.0), 1)
    assert mg.tensor(3.0).squeeze(0).shape == tuple(torch.tensor(3.0).squeeze(0).shape) == ()
    with pytest.raises(ValueError, match="squeeze: axis 2"):
        mg.tensor(3.0).squeeze(2)


def test_max_over_a_nonempty_axis_of_an_empty_tensor(torch):
    assert mg.zeros(0, 3).max(axis=1).shape == tuple(torch.zeros(0, 3).amax(dim=1).shape)
    assert mg.zeros(0, 3).min(axis=1).shape == (0,)
    assert mg.tensor(np.zeros((0, 3), np.int32)).min(axis=1).shape == (0,)
    with pytest.raises(ValueError, match="max: cannot reduce axis 0 of size 0"):
        mg.zeros(0, 3).max(axis=0)
    with pytest.raises(ValueError, match="min: cannot reduce axis 0 of size 0"):
        mg.tensor(np.zeros((0, 3), np.int32)).min(axis=0)


def test_prod_of_empty_stays_in_the_graph(torch):
    x = mg.tensor(np.ones((0,)), requires_grad=True)
    p = x.prod()
    t = torch.ones(0, dtype=torch.float64, requires_grad=True)
    tp = t.prod()
    assert p.requires_grad and p.numpy() == tp.item() == 1.0
    p.backward()
    tp.backward()
    assert x.grad.shape == tuple(t.grad.shape) == (0,)
    assert mg.tensor(np.ones((2, 0))).prod(axis=1, keepdims=True).shape == (2, 1)


def test_mean_var_std_without_elements_or_freedom_are_nan(torch):
    cases = [  # (op, shape, kwargs, torch kwargs)
        ("mean", (0,), {}, {}), ("mean", (0, 3), {"axis": 0}, {"dim": 0}),
        ("var", (1,), {"correction": 1}, {"correction": 1}),
        ("std", (0, 3), {"axis": 0}, {"dim": 0, "correction": 0}),
        ("std", (2, 3), {"axis": 1, "correction": 3}, {"dim": 1, "correction": 3}),
    ]
    for op, shape, kwargs, tkwargs in cases:
        a = np.ones(shape)
        x = mg.tensor(a, requires_grad=True)
        with pytest.warns(RuntimeWarning):
            y = getattr(x, op)(**kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = torch.tensor(a, requires_grad=True)
            ty = getattr(t, op)(**tkwargs)
            expected = getattr(np, op)(a, axis=kwargs.get("axis"),
                                       **({"ddof": kwargs["correction"]}
                                          if "correction" in kwargs else {}))
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        np.testing.assert_array_equal(y.numpy(), expected)
        if y.size:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y.sum().backward()
                ty.sum().backward()
            np.testing.assert_array_equal(x.grad, t.grad.numpy())


@pytest.mark.parametrize("values", [
    np.int8([-128, 127, 3]), np.uint8([200, 100, 3]), np.array([True, False, True]),
    np.int32([2**30, 2**30, 3]), np.int16([300, -300, 2])])
def test_integer_scans_and_products_accumulate_wide_as_numpy(values, torch):
    x, t = mg.tensor(values), torch.tensor(values)
    for name in ("prod", "cumsum", "cumprod"):
        ours = getattr(x, name)()
        expected = getattr(np, name)(values)
        assert ours.dtype == expected.dtype, name  # int64 (uint64 for unsigned), as numpy
        np.testing.assert_array_equal(ours.numpy(), expected)
        theirs = getattr(t, name)() if name == "prod" else getattr(t, name)(0)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())  # torch's values (int64)
    for name in ("logsumexp", "norm"):  # computed in floats: no wrapped a - max(a)
        ours = getattr(x, name)()
        as_float = torch.tensor(values.astype(np.float64))
        theirs = (torch.logsumexp(as_float, 0) if name == "logsumexp"
                  else torch.linalg.vector_norm(as_float))
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
