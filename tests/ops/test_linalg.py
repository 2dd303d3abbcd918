"""matmul: 2-d, batched, broadcast batch, 1-d operands; gradcheck, torch parity, errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

SHAPES = [
    ((3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((3, 4), (2, 4, 5)),
    ((2, 3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((4,), (2, 4, 5)),
    ((2, 3, 4), (4,)),
    ((1, 4), (4, 1)),
]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_matmul_gradcheck(shapes, rng):
    a, b = (rng.standard_normal(s) for s in shapes)
    assert mg.gradcheck(lambda x, y: x @ y, [a, b])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_matmul_matches_torch(shapes, dtype, rng, compare_with_torch):
    a, b = (rng.standard_normal(s) for s in shapes)
    # float32 GEMMs sum in different orders: compare to a few ulp of the operands' scale
    atol = 1e-5 if dtype == np.float32 else None
    out = compare_with_torch(lambda x, y: x @ y, lambda x, y: x @ y, [a, b], dtype, atol=atol)
    assert out.shape == np.matmul(a, b).shape


def test_matmul_with_numpy_operand_and_reflected(rng, torch):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    w = rng.standard_normal((4, 2)).astype(np.float32)
    x = mg.tensor(a, requires_grad=True)
    y = x @ w
    z = w.T @ x.T  # numpy @ Tensor goes to Tensor.__rmatmul__
    assert isinstance(z, mg.Tensor)
    np.testing.assert_allclose(z.numpy(), y.numpy().T, rtol=1e-6)
    (y.sum() + z.sum()).backward()
    np.testing.assert_allclose(x.grad, 2 * np.ones((3, 2), np.float32) @ w.T, rtol=1e-6)


def test_matmul_only_requested_gradients_are_computed(rng):
    x = mg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = mg.tensor(rng.standard_normal((4, 2)))
    (x @ w).sum().backward()
    assert w.grad is None
    np.testing.assert_allclose(x.grad, np.ones((3, 2)) @ w.numpy().T)


def test_matmul_errors():
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ") as info:
        mg.ones(3, 4) @ mg.ones(5, 2)
    assert "[3, 4]" in str(info.value) and "[5, 2]" in str(info.value)
    with pytest.raises(ValueError, match="matmul: operands must have at least 1 dim"):
        mg.ones(()) @ mg.ones(3)
    with pytest.raises(ValueError, match="matmul: batch dimensions .* do not broadcast"):
        mg.ones(2, 3, 4) @ mg.ones(3, 4, 5)
    with pytest.raises(ValueError, match="matmul: dtype mismatch"):
        mg.ones(3, 4) @ mg.ones(4, 2, dtype=np.float64)
