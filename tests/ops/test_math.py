"""Math elementwise ops (scalar rules): float64 gradcheck with a random upstream and broadcast
shapes, float32 parity with torch (values and gradients), integer inputs, edge values, errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import scalar_rules


def unit(a):
    return np.clip(a, -0.9, 0.9)


def positive(a):
    return np.abs(a) + 0.3


def above_one(a):
    return np.abs(a) + 1.2


def same(a):
    return a


# name -> (input map, torch function name)
UNARY = {
    "sqrt": (positive, "sqrt"), "rsqrt": (positive, "rsqrt"), "square": (same, "square"),
    "sin": (same, "sin"), "cos": (same, "cos"), "tan": (unit, "tan"),
    "asin": (unit, "asin"), "acos": (unit, "acos"), "atan": (same, "atan"),
    "sinh": (same, "sinh"), "cosh": (same, "cosh"), "asinh": (same, "asinh"),
    "acosh": (above_one, "acosh"), "atanh": (unit, "atanh"), "log1p": (positive, "log1p"),
    "expm1": (same, "expm1"), "log2": (positive, "log2"), "log10": (positive, "log10"),
    "exp2": (same, "exp2"), "erf": (same, "erf"),
}
ROUNDING = {"floor": "floor", "ceil": "ceil", "round": "round", "trunc": "trunc",
            "sign": "sign"}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradcheck_float64(name, rng):
    domain, _ = UNARY[name]
    x = domain(rng.standard_normal((3, 4)))
    assert mg.gradcheck(getattr(mg, name), [x])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_torch_float32(name, rng, compare_with_torch, torch):
    domain, torch_name = UNARY[name]
    x = domain(rng.standard_normal((5, 7)))
    compare_with_torch(getattr(mg, name), getattr(torch, torch_name), [x], rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ROUNDING))
def test_rounding_values_and_zero_gradient(name, torch):
    x = np.array([-2.5, -1.5, -0.5, -0.2, 0.0, 0.5, 1.5, 2.49, 2.5, 3.7, 1e30, np.inf, np.nan],
                 np.float32)
    t = mg.tensor(x, requires_grad=True)
    y = getattr(mg, name)(t)
    expected = getattr(torch, ROUNDING[name])(torch.tensor(x)).numpy()
    if name == "sign":  # numpy's sign(nan) is nan, torch's is 0: minigrad follows numpy
        expected = np.sign(x)
    np.testing.assert_array_equal(y.numpy(), expected)
    y.backward(np.ones_like(x))
    np.testing.assert_array_equal(t.grad, np.zeros_like(x))


def test_rounding_keeps_integers_and_sign_stays_integer():
    i = mg.tensor(np.array([-3, 0, 4], np.int32))
    assert mg.floor(i) is i and mg.round(i) is i
    s = mg.sign(i)
    assert s.dtype == np.int32 and s.tolist() == [-1, 0, 1]


def test_float_functions_of_integers_follow_numpy_like_exp():
    """One rule for every floating function: numpy's (int64 -> float64, int8 and bool -> float32
    where numpy picks float16); square keeps integers as numpy's does."""
    for dtype, want in ((np.int64, np.float64), (np.int32, np.float64), (np.int8, np.float32),
                        (np.bool_, np.float32)):
        x = mg.tensor(np.array([1, 4, 9]).astype(dtype))
        for fn in (mg.sqrt, mg.sin, mg.gelu, mg.exp):
            assert fn(x).dtype == want, (fn.__name__, dtype)
    y = mg.sqrt(mg.tensor(np.array([1, 4, 9], np.int64)))
    assert y.tolist() == [1.0, 2.0, 3.0]
    assert mg.square(mg.tensor(np.array([2, 3], np.int32))).dtype == np.int32


BINARY = {
    "maximum": (same, same), "minimum": (same, same), "logaddexp": (same, same),
    "fmod": (lambda a: 3 * a, lambda b: positive(b) * np.sign(b + 0.01)),
    "remainder": (lambda a: 3 * a, lambda b: positive(b) * np.sign(b + 0.01)),
}


@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3))])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradcheck_with_broadcast(name, shapes, rng):
    fa, fb = BINARY[name]
    a, b = fa(rng.standard_normal(shapes[0])), fb(rng.standard_normal(shapes[1]))
    if name in ("fmod", "remainder"):  # keep a / b away from the jumps at integers
        q = a / b
        a = np.where(np.abs(q - np.round(q)) < 0.1, a + 0.3 * b, a)
    assert mg.gradcheck(getattr(mg, name), [a, b])


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_matches_torch(name, rng, compare_with_torch, torch):
    fa, fb = BINARY[name]
    a, b = fa(rng.standard_normal((4, 5))), fb(rng.standard_normal((5,)))
    q = a / b
    a = np.where(np.abs(q - np.round(q)) < 0.1, a + 0.3 * b, a)
    compare_with_torch(getattr(mg, name), getattr(torch, name), [a, b], rtol=1e-5, atol=1e-5)


def test_maximum_splits_ties_and_propagates_nan(torch):
    a = mg.tensor([1.0, 2.0, np.nan], requires_grad=True)
    b = mg.tensor([1.0, 3.0, 0.0], requires_grad=True)
    y = mg.maximum(a, b)
    assert np.isnan(y.numpy()[2]) and y.numpy()[:2].tolist() == [1.0, 3.0]
    y.sum().backward()
    assert a.grad[:2].tolist() == [0.5, 0.0] and b.grad[:2].tolist() == [0.5, 1.0]


def test_operators_mod_and_floordiv_follow_python(torch):
    x = np.array([-7.5, -3.0, 2.0, 7.25], np.float32)
    t = mg.tensor(x)
    np.testing.assert_array_equal((t % 2.0).numpy(), np.remainder(x, np.float32(2)))
    np.testing.assert_array_equal((t // 2.0).numpy(), np.floor_divide(x, np.float32(2)))
    np.testing.assert_array_equal((5.0 // t).numpy(), np.floor_divide(np.float32(5), x))
    np.testing.assert_array_equal((5.0 % t).numpy(), np.remainder(np.float32(5), x))
    i = mg.tensor(np.array([-7, 7], np.int64))
    assert (i // 2).tolist() == [-4, 3] and (i % 3).tolist() == [2, 1]
    assert mg.fmod(i, 3).tolist() == [-1, 1]


def test_floor_divide_matches_numpy_on_awkward_values(rng):
    a = (rng.standard_normal(500) * 50).astype(np.float32)
    b = np.where(rng.random(500) < 0.5, -1, 1) * (rng.random(500) + 0.01).astype(np.float32)
    lib = scalar_rules.compiled("cpu", np.float32)
    got = np.array([lib.floor_divide(x, y) for x, y in zip(a, b.astype(np.float32))])
    np.testing.assert_array_equal(got, np.floor_divide(a, b.astype(np.float32)))


def test_logaddexp_of_minus_infinity_and_large_values():
    y = mg.logaddexp(mg.tensor([-np.inf, 1000.0, -1000.0]), mg.tensor([-np.inf, 1000.0, 0.0]))
    np.testing.assert_allclose(y.numpy(), [-np.inf, 1000.0 + np.log(2.0), 0.0], rtol=1e-6)


def test_lerp_with_scalar_and_tensor_weights(rng):
    a, b, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.random((4,))
    assert mg.gradcheck(mg.lerp, [a, b, w])
    assert mg.gradcheck(lambda s, e: mg.lerp(s, e, 0.3), [a, b])
    np.testing.assert_allclose(mg.lerp(mg.tensor(a), mg.tensor(b), 0.25).numpy(),
                               a + 0.25 * (b - a), rtol=1e-6)


def test_errors_name_the_op_and_the_dtype():
    with pytest.raises(ValueError, match=r"sqrt: needs a float32 or float64 tensor .*complex"):
        mg.sqrt(mg.Tensor._wrap(np.ones(2, np.complex64)))
    with pytest.raises(TypeError, match="sin: expected a Tensor, got list"):
        mg.sin([1.0])
    with pytest.raises(ValueError, match=r"maximum: shapes \(2,\) and \(3,\) do not broadcast"):
        mg.maximum(mg.ones(2), mg.ones(3))


def test_logaddexp_gradient_against_infinities_is_torchs(torch):
    """issue 20: d/db logaddexp(0, inf) was NaN (exp(b - y) = exp(inf - inf)); torch's 1."""
    a = np.array([0.0, np.inf, 1000.0, -np.inf, np.inf, -np.inf, 3.0])
    b = np.array([np.inf, 0.0, 1000.0, 2.0, np.inf, -np.inf, -np.inf])
    for dtype in (np.float32, np.float64):
        x, y = (mg.tensor(v.astype(dtype), requires_grad=True) for v in (a, b))
        tx, ty = (torch.tensor(v.astype(dtype), requires_grad=True) for v in (a, b))
        mg.logaddexp(x, y).backward(np.ones(7, dtype))
        torch.logaddexp(tx, ty).backward(torch.ones(7, dtype=tx.dtype))
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-6)
        np.testing.assert_allclose(y.grad, ty.grad.numpy(), rtol=1e-6)
