"""Out-of-range axes are errors naming the op, never wrapped around."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg


@pytest.mark.parametrize(
    "name, fn",
    [("transpose", lambda x: x.transpose(0, 4)), ("softmax", lambda x: x.softmax(axis=4)),
     ("log_softmax", lambda x: x.log_softmax(axis=-3)), ("split", lambda x: x.split(1, axis=5)),
     ("unstack", lambda x: x.unstack(axis=-3)), ("sum", lambda x: x.sum(2)),
     ("max", lambda x: x.max(-3)), ("any", lambda x: x.any(2))],
)
def test_out_of_range_axis_names_op_axis_and_rank(name, fn):
    message = rf"{name}: axis -?\d is out of range for a tensor of 2 dims"
    with pytest.raises(ValueError, match=message):
        fn(mg.ones(2, 3))


def test_reductions_of_a_0d_tensor_accept_axis_0_and_reduce_nothing():
    x = mg.tensor(np.float32(3.0), requires_grad=True)
    y = x.sum(0) * 2 + x.mean(-1) + x.max(0)
    assert y.shape == () and y.item() == 12.0
    y.backward()
    assert x.grad == 4.0
    with pytest.raises(ValueError, match="sum: axis 1 is out of range for a 0-d tensor"):
        x.sum(1)


def test_repeated_axis_is_an_error():
    with pytest.raises(ValueError, match="sum: repeated axis"):
        mg.ones(2, 3).sum((0, -2))


def test_negative_axes_in_range_still_work():
    x = mg.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.transpose(-1, -2).numpy(), np.arange(6.0).reshape(2, 3).T)
    np.testing.assert_allclose(x.softmax(-2).numpy().sum(0), [1, 1, 1], rtol=1e-6)
