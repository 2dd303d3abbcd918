"""In-place modifications and the version counter (torch's `_version`): an optimizer step, an
initialiser (mg.init.*_) and Module.load_state_dict replace a tensor's values in place; a
graph recorded before any of them refuses to reach that tensor's gradient, naming what changed
it and the op that used it (it would be the gradient of the old values), while a forward run
after the change trains as usual. torch raises the same error where the op saved the tensor."""

from __future__ import annotations

import re

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


@pytest.mark.parametrize("symbol", ["+=", "-=", "*=", "/="])
def test_augmented_assignment_on_a_leaf_that_requires_grad_is_refused(symbol):
    """torch refuses `w += 1` on a leaf that requires grad; minigrad rebound the name to a new
    tensor, so the leaf (a model's parameter) silently stayed what it was."""
    w = mg.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(symbol) + ": a leaf tensor that requires"):
        exec(f"w {symbol} 2.0", {}, {"w": w})
    wt = torch.ones(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        exec(f"wt {symbol} 2.0", {}, {"wt": wt})


def test_manual_sgd_under_no_grad_updates_the_parameter_itself():
    """`with no_grad(): p -= lr * p.grad` (torch's manual SGD) updates p, the module's
    parameter, and bumps its version; it left the parameter unchanged (a new tensor was bound
    to the loop's name)."""
    lin = mg.nn.Linear(3, 2, dtype=np.float64)
    ref = torch.nn.Linear(3, 2, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(lin.weight.data))
        ref.bias.copy_(torch.tensor(lin.bias.data))
    x = np.random.default_rng(0).standard_normal((4, 3))
    for _ in range(3):
        lin(mg.tensor(x)).sum().backward()
        ref(torch.tensor(x)).sum().backward()
        with mg.no_grad():
            for p in lin.parameters():
                p -= 0.1 * mg.tensor(p.grad)
                p.grad = None
        with torch.no_grad():
            for p in ref.parameters():
                p -= 0.1 * p.grad
                p.grad = None
    np.testing.assert_allclose(lin.weight.data, ref.weight.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(lin.bias.data, ref.bias.detach().numpy(), rtol=1e-12)
    assert lin.weight.version >= 3


def test_augmented_assignment_elsewhere_makes_a_new_tensor():
    """Not a leaf that requires grad: `x += y` binds a new tensor (minigrad has no in-place
    ops), so `loss += term` in a loop and updates of plain data work as before."""
    w = mg.tensor(np.ones(3), requires_grad=True)
    loss = 0
    for i in range(3):
        loss += (w * float(i)).sum()
    loss.backward()
    np.testing.assert_array_equal(w.grad, [3.0, 3.0, 3.0])
    x = mg.tensor(np.ones(3))
    alias = x
    x += 1.0
    assert x is not alias and alias.data.tolist() == [1.0, 1.0, 1.0]


def test_an_update_that_does_not_fit_is_refused():
    w = mg.tensor(np.ones(3), requires_grad=True)
    with mg.no_grad(), pytest.raises(ValueError, match=r"\*=: the result float64\[2, 3\]"):
        w *= mg.tensor(np.ones((2, 3)))
    with mg.no_grad(), pytest.raises(ValueError, match=r"does not fit"):
        w += mg.tensor(np.ones(3, np.int64)) * 0.5 + mg.tensor(np.ones(3))[None]
    assert w.version == 0 and w.data.tolist() == [1.0, 1.0, 1.0]


def test_an_update_after_the_forward_refuses_the_backward():
    w = mg.tensor(np.ones(3), requires_grad=True)
    y = (w * w).sum()
    with mg.no_grad():
        w /= 2.0
    with pytest.raises(RuntimeError, match=r"inplace operation \(/=\)"):
        y.backward()
