"""The promotion rule (numpy 2, NEP 50) and the supported dtypes: no silent truncation anywhere."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

INT = np.array([1, 2, 3, 4], dtype=np.int32)


@pytest.mark.parametrize(
    "fn",
    [lambda t: t ** 0.5, lambda t: t + 0.5, lambda t: t * 1.5, lambda t: 0.7 ** t,
     lambda t: t - 0.25, lambda t: 1.5 / t, lambda t: t / 2, lambda t: t ** 2,
     lambda t: 3 - t, lambda t: t * True],
)
def test_python_scalar_with_integer_tensor_matches_numpy(fn):
    ours = fn(mg.tensor(INT))
    expected = fn(INT)  # numpy 2 applies NEP 50 to the same expression
    assert ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours.numpy(), expected)


@pytest.mark.parametrize("name", ["exp", "log", "tanh", "sigmoid"])
@pytest.mark.parametrize("dtype, expected", [(np.int32, np.float64), (np.int64, np.float64),
                                             (np.int16, np.float32), (np.bool_, np.float32)])
def test_floating_functions_of_integers_compute_in_floats(name, dtype, expected):
    x = np.array([1, 2, 3], dtype=dtype)
    out = getattr(mg, name)(mg.tensor(x))
    assert out.dtype == expected
    reference = {"exp": np.exp, "log": np.log, "tanh": np.tanh,
                 "sigmoid": lambda v: 1 / (1 + np.exp(-v))}[name](x.astype(np.float64))
    np.testing.assert_allclose(out.numpy(), reference, rtol=1e-6)


def test_bool_plus_int_is_int_and_sums_count():
    b = mg.tensor(np.array([True, False, True]))
    assert (b + 1).dtype == np.int64
    np.testing.assert_array_equal((b + 1).numpy(), [2, 1, 2])
    assert b.sum().item() == 2 and b.sum().dtype == np.int64
    assert mg.tensor(np.array([200, 100], np.uint8)).sum().item() == 300


def test_mean_of_integers_is_a_float():
    out = mg.tensor(np.array([1, 2], np.int32)).mean()
    assert out.dtype == np.float64 and out.item() == 1.5


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint16, np.bool_])
def test_true_division_and_mean_of_integers_are_float64_as_numpy(dtype):
    a, b = np.array([1, 3], dtype), np.array([2, 1], dtype)
    out = mg.tensor(a) / mg.tensor(b)
    assert out.dtype == np.true_divide(a, b).dtype == np.float64
    np.testing.assert_array_equal(out.numpy(), np.true_divide(a, b))
    assert mg.tensor(a).mean().dtype == np.mean(a).dtype
    assert mg.tensor(a).mean().item() == np.mean(a)


def test_integer_with_float_tensor_promotes_as_numpy():
    i, f = np.array([1, 2], np.int32), np.array([0.5, 0.25], np.float32)
    out = mg.tensor(i) * mg.tensor(f)
    assert out.dtype == np.result_type(i, f) == np.float64
    np.testing.assert_array_equal(out.numpy(), i * f)


def test_float_scalar_keeps_float32_and_gradient_dtype():
    x = mg.tensor(np.ones(3, np.float32), requires_grad=True)
    y = x * 0.1 + 2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_cast_operand_gets_its_gradient_in_its_own_dtype():
    w = mg.tensor(np.array([0.5, 2.0], np.float32), requires_grad=True)
    counts = mg.tensor(np.array([3, 4], np.int64))
    y = (w * counts).sum()  # numpy: float32 * int64 -> float64
    assert y.dtype == np.float64
    y.backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad, [3, 4])


def test_float_precisions_do_not_mix_silently():
    with pytest.raises(ValueError, match="add: dtype mismatch.*astype"):
        mg.ones(2) + mg.ones(2, dtype=np.float64)


def test_integer_scalar_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="add: Python integer 300 does not fit the int8"):
        mg.tensor(np.array([1], np.int8)) + 300
    with pytest.raises(ValueError, match="sub: Python integer -1 does not fit the uint8"):
        mg.tensor(np.array([1], np.uint8)) - (-1)


def test_integer_to_negative_power_is_an_error():
    with pytest.raises(ValueError, match="pow: integer int32 to a negative integer power"):
        mg.tensor(INT) ** -1


def test_bool_negation_and_subtraction_are_errors_naming_the_op():
    flags = mg.tensor(np.array([True, False]))
    with pytest.raises(TypeError, match="neg: -bool"):
        mg.neg(flags)
    with pytest.raises(TypeError, match="sub: bool - bool"):
        mg.sub(flags, True)


def test_complex_scalar_is_rejected():
    with pytest.raises(TypeError, match="mul: complex scalar"):
        mg.tensor(INT) * 1j


@pytest.mark.parametrize("data", [np.array(["a", "b"]), np.array([1 + 2j]), np.array([{}, 1]),
                                  np.array([1.0], np.float16), ["a", "b"]])
def test_unsupported_dtypes_are_rejected_at_tensor(data):
    with pytest.raises(TypeError, match="tensor: unsupported dtype"):
        mg.tensor(data)


def test_astype_to_an_unsupported_dtype_is_rejected():
    with pytest.raises(TypeError, match="astype: unsupported dtype float16"):
        mg.ones(2).astype(np.float16)


def test_complex_with_float_dtype_is_rejected_not_truncated():
    with pytest.raises(TypeError, match="complex128"):
        mg.tensor(np.array([1 + 2j]), dtype=np.float32)
    with pytest.raises(TypeError, match="unsupported dtype complex64"):
        mg.tensor([1.0], dtype=np.complex64)


def test_clip_of_integers_with_float_bounds():
    out = mg.tensor(np.arange(4, dtype=np.int32)).clip(0.5, 2.5)
    np.testing.assert_array_equal(out.numpy(), [0.5, 1, 2, 2.5])
    only_hi = mg.tensor(np.arange(4, dtype=np.int32)).clip(hi=2)
    assert only_hi.dtype == np.int32
    np.testing.assert_array_equal(only_hi.numpy(), [0, 1, 2, 2])
