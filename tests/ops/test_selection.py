"""Selection ops: values against torch/numpy, float64 gradcheck (repeated indices accumulate),
sort stability, errors naming the op."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

INDEX = np.array([[0, 3, 3], [1, 1, 0], [2, 0, 1]])

GRADCHECK = {
    "gather": lambda t: t.gather(1, INDEX),
    "take_along_axis": lambda t: mg.take_along_axis(t, INDEX[:, :2].T % 3, 0),
    "scatter_add": lambda t: mg.scatter_add(t, 1, INDEX, t[:, :3] * 2.0),
    "index_select": lambda t: mg.index_select(t, 1, np.array([3, 0, 3])),
    "masked_fill": lambda t: t.masked_fill(np.array([True, False, True, False]), 0.5),
    "sort": lambda t: t.sort(axis=1)[0],
    "sort_descending": lambda t: t.sort(axis=0, descending=True)[0],
    "topk": lambda t: t.topk(2, axis=1)[0],
    "topk_smallest": lambda t: t.topk(2, axis=0, largest=False)[0],
}


@pytest.mark.parametrize("name", sorted(GRADCHECK))
def test_gradcheck_float64(name, rng):
    assert mg.gradcheck(GRADCHECK[name], [rng.standard_normal((3, 4))])


def test_values_match_torch(rng, torch):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    t, tt = mg.tensor(x), torch.tensor(x)
    idx = torch.tensor(INDEX)
    np.testing.assert_array_equal(t.gather(1, INDEX).numpy(), tt.gather(1, idx))
    np.testing.assert_array_equal(mg.scatter_add(t, 1, INDEX, t[:, :3]).numpy(),
                                  tt.scatter_add(1, idx, tt[:, :3]))
    np.testing.assert_array_equal(mg.index_select(t, 0, [2, 0]).numpy(),
                                  tt.index_select(0, torch.tensor([2, 0])))
    values, indices = t.topk(3, axis=1)
    tv, ti = tt.topk(3, dim=1)
    np.testing.assert_array_equal(values.numpy(), tv)
    np.testing.assert_array_equal(indices.numpy(), ti)
    np.testing.assert_array_equal(mg.one_hot(np.array([2, 0]), 4).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor([2, 0]), 4))


def test_sort_is_stable_both_ways():
    x = mg.tensor([3.0, 1.0, 3.0, 2.0, 1.0])
    assert x.argsort(stable=True).tolist() == [1, 4, 3, 0, 2]
    assert x.argsort(descending=True, stable=True).tolist() == [0, 2, 3, 1, 4]
    values, order = x.sort(descending=True, stable=True)
    assert values.tolist() == [3.0, 3.0, 2.0, 1.0, 1.0] and order.dtype == np.int64


def test_unstable_sort_orders_values_like_numpy(rng):
    x = rng.standard_normal((4, 50)).astype(np.float32)
    t = mg.tensor(x)
    np.testing.assert_array_equal(t.sort(axis=1)[0].numpy(), np.sort(x, 1))
    np.testing.assert_array_equal(t.sort(axis=0, descending=True)[0].numpy(),
                                  -np.sort(-x, 0))
    order = t.argsort(axis=1).numpy()
    np.testing.assert_array_equal(np.take_along_axis(x, order, 1), np.sort(x, 1))


def test_gather_with_a_smaller_index_and_negative_indices(torch):
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    index = np.array([[3, 0], [1, 1]])
    t = mg.tensor(x, requires_grad=True)
    y = t.gather(1, index)
    tt = torch.tensor(x, requires_grad=True)
    ty = tt.gather(1, torch.tensor(index))
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    y.backward(np.ones((2, 2), np.float32))
    ty.backward(torch.ones(2, 2))
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())
    assert mg.take_along_axis(t, np.array([[-1], [0], [-4]]), 1).tolist() == [[3], [4], [8]]


def test_repeated_gather_indices_accumulate_gradients():
    t = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mg.take_along_axis(t, np.array([2, 2, 0]), 0).sum().backward()
    assert t.grad.tolist() == [1.0, 0.0, 2.0]


def test_where_and_masked_fill_take_scalars():
    t = mg.tensor([1.0, -2.0, 3.0])
    assert t.masked_fill(t.numpy() < 0, 0.0).tolist() == [1.0, 0.0, 3.0]
    assert mg.where(np.array([True, False, True]), 5.0, t).tolist() == [5.0, -2.0, 5.0]
    both = mg.where(t > 0, 1.0, 0.0)
    assert both.dtype == np.float32 and both.tolist() == [1.0, 0.0, 1.0]
    assert mg.where(t > 0, 2, 3).tolist() == [2, 3, 2]


def test_errors_name_the_op():
    t = mg.ones(3, 4)
    with pytest.raises(ValueError, match="gather: axis 2 is out of range"):
        t.gather(2, INDEX)
    with pytest.raises(ValueError, match="gather: index 4 is out of range for axis 1"):
        t.gather(1, INDEX + 1)
    with pytest.raises(ValueError, match="take_along_axis: index 4 is out of range for axis 1"):
        mg.take_along_axis(t, INDEX + 1, 1)
    with pytest.raises(ValueError, match="index_select: indices must be integers"):
        mg.index_select(t, 0, [0.5])
    with pytest.raises(ValueError, match=r"topk: k=5 is outside \[0, 4\]"):
        t.topk(5)
    with pytest.raises(ValueError, match=r"one_hot: indices must be in \[0, 3\)"):
        mg.one_hot(np.array([3]), 3)
    with pytest.raises(ValueError, match="scatter_add: src must have index's shape"):
        mg.scatter_add(t, 1, INDEX, mg.ones(2, 2))
