"""mg.gated_scan's `valid` mask given as a bool Tensor (as the cells' masks are built) is the
same mask as its array; a Tensor of another dtype is named with its dtype (it read as an object
array: 'got object')."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg


def _pre_and_mask():
    rng = np.random.default_rng(0)
    pre = rng.normal(size=(6, 2, 3, 8))
    valid = rng.random((6, 2, 3)) < 0.7
    return pre, valid


@pytest.mark.parametrize("gate", ["mingru", "minlstm"])
def test_a_bool_tensor_mask_equals_its_array(gate):
    pre, valid = _pre_and_mask()
    blocks = 3 if gate == "minlstm" else 2
    pre = pre[..., :6] if gate == "minlstm" else pre
    upstream = np.random.default_rng(1).normal(size=pre.shape[:-1] + (pre.shape[-1] // blocks,))
    results = []
    for mask in (valid, mg.tensor(valid)):
        x = mg.tensor(pre, requires_grad=True)
        h = mg.gated_scan(x, gate=gate, valid=mask)
        (h * mg.tensor(upstream)).sum().backward()
        results.append((h.numpy(), x.grad))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_a_mask_tensor_of_another_dtype_is_named():
    pre, valid = _pre_and_mask()
    with pytest.raises(ValueError, match=r"valid must be a bool array of shape \(6, 2, 3\).*"
                                         r"got int64 \(6, 2, 3\)"):
        mg.gated_scan(mg.tensor(pre), valid=mg.tensor(valid.astype(np.int64)))
