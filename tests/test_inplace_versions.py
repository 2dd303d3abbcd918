"""In-place modifications and the version counter (torch's `_version`): an optimizer step, an
initialiser (mg.init.*_) and Module.load_state_dict replace a tensor's values in place; a
graph recorded before any of them refuses to reach that tensor's gradient, naming what changed
it and the op that used it (it would be the gradient of the old values), while a forward run
after the change trains as usual. torch raises the same error where the op saved the tensor."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import init

torch = pytest.importorskip("torch")

INITS = {
    "init.uniform_": lambda t: init.uniform_(t, -1, 1, rng=0),
    "init.normal_": lambda t: init.normal_(t, rng=0),
    "init.constant_": lambda t: init.constant_(t, 0.5),
    "init.orthogonal_": lambda t: init.orthogonal_(t, rng=0),
    "init.identity_": lambda t: init.identity_(t),
}


@pytest.mark.parametrize("by", sorted(INITS))
def test_an_initialiser_after_the_forward_refuses_the_backward(by):
    w = mg.tensor(np.ones((3, 3)), requires_grad=True)
    x = mg.tensor(np.arange(9.0).reshape(3, 3), requires_grad=True)
    y = (w * x).sum()
    before = w.version
    INITS[by](w)
    assert w.version == before + 1
    with pytest.raises(RuntimeError, match=rf"modified by an inplace operation \({by}\).*"
                                           r"used by 'mul'.*before " + by.replace(".", r"\.")):
        y.backward()
    # torch refuses the same where mul saved w (for x's gradient)
    wt = torch.ones(3, 3, dtype=torch.float64, requires_grad=True)
    xt = torch.arange(9.0, dtype=torch.float64).reshape(3, 3).requires_grad_()
    yt = (wt * xt).sum()
    with torch.no_grad():
        torch.nn.init.normal_(wt)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        yt.backward()


def test_a_forward_after_the_initialiser_trains_as_usual():
    w = mg.tensor(np.ones(3), requires_grad=True)
    (w * 2.0).sum()  # a graph left behind
    init.constant_(w, 3.0)
    x = mg.tensor(np.array([1.0, 2.0, 3.0]))
    (w * w * x).sum().backward()
    np.testing.assert_array_equal(w.grad, 2 * 3.0 * x.data)


def test_load_state_dict_after_the_forward_refuses_the_backward():
    lin = mg.nn.Linear(3, 2)
    state = {k: v * 2 for k, v in lin.state_dict().items()}
    y = lin(mg.tensor(np.ones((4, 3), np.float32))).sum()
    lin.load_state_dict(state)
    with pytest.raises(RuntimeError, match=r"\(load_state_dict\).*before load_state_dict"):
        y.backward()
    y = lin(mg.tensor(np.ones((4, 3), np.float32))).sum()
    y.backward()
    np.testing.assert_allclose(lin.weight.grad, np.full((2, 3), 4.0))


def test_a_failed_load_changes_no_version():
    lin = mg.nn.Linear(3, 2)
    versions = [p.version for p in lin.parameters()]
    with pytest.raises(ValueError):
        lin.load_state_dict({"weight": np.ones((5, 5)), "bias": np.ones(2)})
    assert [p.version for p in lin.parameters()] == versions


def test_an_optimizer_step_still_says_optimizer_step():
    w = mg.tensor(np.ones(3), requires_grad=True)
    opt = mg.optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    y = (w * w).sum()
    opt.step()
    with pytest.raises(RuntimeError, match=r"\(SGD\.step\).*before the optimizer step"):
        y.backward()


def test_views_share_the_leaf_and_its_gradient():
    """A transposed or sliced view of a leaf is an op of the graph: its gradient lands in the
    leaf's .grad (torch's), summed where views overlap, and an init of the leaf after the
    views were taken refuses their backward too."""
    w = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    (w.T[1:] * 2.0).sum().backward()
    (w[:, 1:] * 3.0).sum().backward()
    np.testing.assert_array_equal(w.grad, [[0, 5, 5], [0, 5, 5]])
    y = (w.T * 1.0).sum()
    init.zeros_(w)
    with pytest.raises(RuntimeError, match=r"init\.constant_"):
        y.backward()
