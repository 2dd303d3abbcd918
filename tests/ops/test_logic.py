"""Comparisons and logic: bool tensors, numpy's answers, no gradient; dunders and iteration."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

A = np.array([[1.0, -2.0, np.nan], [0.0, np.inf, 3.0]], np.float32)
B = np.array([1.0, 2.0, np.nan], np.float32)


@pytest.mark.parametrize("op", ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"])
def test_comparison_operators_match_numpy(op):
    with np.errstate(invalid="ignore"):
        expected = getattr(A, op)(B)
    out = getattr(mg.tensor(A), op)(mg.tensor(B))
    assert out.dtype == np.bool_ and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize("name", ["equal", "not_equal", "less", "less_equal", "greater",
                                  "greater_equal", "logical_and", "logical_or", "logical_xor"])
def test_comparison_and_logic_functions_match_numpy(name):
    with np.errstate(invalid="ignore"):
        expected = getattr(np, name)(A, B)
    np.testing.assert_array_equal(getattr(mg, name)(mg.tensor(A), B).numpy(), expected)


def test_comparison_with_python_scalar_promotes():
    ints = mg.tensor(np.array([0, 1, 2], np.int32))
    np.testing.assert_array_equal((ints < 0.5).numpy(), [True, False, False])
    np.testing.assert_array_equal((ints == 1).numpy(), [False, True, False])
    np.testing.assert_array_equal((2 > ints).numpy(), [True, True, False])


def test_eq_is_elementwise_and_tensors_still_hash_by_identity():
    x = mg.ones(3)
    assert (x == mg.ones(3)).numpy().tolist() == [True] * 3
    assert len({x, mg.ones(3)}) == 2 and {x: 1}[x] == 1


def test_bool_operators():
    p = mg.tensor(np.array([True, True, False, False]))
    q = np.array([True, False, True, False])
    np.testing.assert_array_equal((p & q).numpy(), [True, False, False, False])
    np.testing.assert_array_equal((p | q).numpy(), [True, True, True, False])
    np.testing.assert_array_equal((p ^ q).numpy(), [False, True, True, False])
    np.testing.assert_array_equal((~p).numpy(), [False, False, True, True])
    np.testing.assert_array_equal((True & p).numpy(), p.numpy())
    x = mg.tensor(np.array([-1.0, 0.5, 2.0]))
    np.testing.assert_array_equal(((x > 0) & (x < 1)).numpy(), [False, True, False])


def test_bool_operators_refuse_floats_and_are_bitwise_on_integers():
    with pytest.raises(TypeError, match=r"&\): needs integer or bool operands, got float32"):
        mg.ones(2) & mg.ones(2)
    with pytest.raises(TypeError, match=r"~\): needs an integer or bool tensor, got float32"):
        ~mg.ones(2)
    np.testing.assert_array_equal((~mg.tensor(np.array([1, 2]))).numpy(), [-2, -3])  # issue 20


def test_logical_not_any_all():
    x = mg.tensor(np.array([[0.0, 2.0], [0.0, 0.0]]))
    np.testing.assert_array_equal(mg.logical_not(x).numpy(), [[True, False], [True, True]])
    assert x.any().item() is True and x.all().item() is False
    np.testing.assert_array_equal(x.any(axis=1).numpy(), [True, False])
    np.testing.assert_array_equal(mg.all(x != 1, axis=0, keepdims=True).numpy(), [[True, True]])
    assert mg.any(mg.zeros(0)).item() is False and mg.all(mg.zeros(0)).item() is True


def test_isnan_isinf_isfinite():
    x = mg.tensor(np.array([1.0, np.nan, np.inf, -np.inf], np.float32))
    np.testing.assert_array_equal(mg.isnan(x).numpy(), [False, True, False, False])
    np.testing.assert_array_equal(mg.isinf(x).numpy(), [False, False, True, True])
    np.testing.assert_array_equal(mg.isfinite(x).numpy(), [True, False, False, False])
    ints = mg.tensor(np.array([1, 2]))
    assert not mg.isinf(ints).any().item() and mg.isfinite(ints).all().item()


def test_isclose_matches_numpy():
    a = np.array([1.0, 1.0 + 1e-6, np.inf, np.inf, np.nan, 1.0, 0.0, 1e-9])
    b = np.array([1.0, 1.0, np.inf, -np.inf, np.nan, np.inf, 1e-9, 0.0])
    for equal_nan in (False, True):
        np.testing.assert_array_equal(
            mg.isclose(mg.tensor(a, dtype=np.float64), b, equal_nan=equal_nan).numpy(),
            np.isclose(a, b, equal_nan=equal_nan))
    np.testing.assert_array_equal(mg.isclose(mg.tensor(np.array([1, 2])), 2).numpy(),
                                  [False, True])
    with pytest.raises(ValueError, match="isclose: rtol and atol must be >= 0"):
        mg.isclose(mg.ones(2), 1.0, rtol=-1)


def test_comparisons_record_nothing():
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    mask = x > 1.5
    assert not mask.requires_grad and mask.is_leaf
    y = mg.where(mask.numpy(), x, 0.0).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, [0, 1])


def test_iteration_over_the_first_axis():
    x = mg.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(x)
    assert len(rows) == 3 and [r.shape for r in rows] == [(2,)] * 3
    a, b, c = x
    (a * 1 + c * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [[1, 1], [0, 0], [3, 3]])
    assert [r.tolist() for r in mg.tensor(np.arange(4.0))] == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(mg.tensor(1.0))


def test_getitem_out_of_range_is_an_index_error():
    with pytest.raises(IndexError, match="getitem"):
        mg.ones(2, 3)[2]
