"""The tape: long chains, memory, freeing, retain_graph, no_grad, accumulation, retain_grad,
multi-output nodes, anomaly detection, and the engine's one unbroadcast."""

from __future__ import annotations

import gc
import re
import tracemalloc
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Node, record, record_multi


def _nodes_of(tensor):
    """Every Node reachable from tensor (iteratively; multi-output parents are (node, k))."""
    root = tensor._node[0] if type(tensor._node) is tuple else tensor._node
    seen, stack = [], [root]
    while stack:
        node = stack.pop()
        if node is None or any(node is s for s in seen):
            continue
        seen.append(node)
        for parent in node.parents:
            parent = parent[0] if type(parent) is tuple else parent
            if type(parent) is Node:
                stack.append(parent)
    return seen


def _saved_arrays(node):
    cells = node.backward.__closure__ or ()
    return [c.cell_contents for c in cells if isinstance(c.cell_contents, np.ndarray)]


# ---- scale and memory --------------------------------------------------------------------------


def test_backward_through_a_chain_of_100000_nodes():
    x = mg.tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.backward()
    np.testing.assert_allclose(x.grad, 1.00001**100_000, rtol=1e-9)


def test_dropping_a_chain_of_100000_nodes_unbacked_does_not_overflow_the_stack():
    x = mg.tensor(np.ones(2), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    ref = weakref.ref(y._node)
    del y
    assert ref() is None


def _forward(x, w, b, target):
    h = (x @ w + b).tanh()
    logits = mg.concat([h, h.sigmoid()], axis=1)
    return mg.mse_loss(logits.softmax(axis=-1), target) + h[:, ::2].max()


def test_memory_is_flat_over_1000_forward_only_passes(rng):
    x = mg.tensor(rng.standard_normal((8, 16)).astype(np.float32))
    w = mg.tensor(rng.standard_normal((16, 16)).astype(np.float32), requires_grad=True)
    b = mg.tensor(rng.standard_normal(16).astype(np.float32), requires_grad=True)
    target = np.zeros((8, 32), np.float32)
    for _ in range(20):  # warm up numba dispatch and numpy caches
        _forward(x, w, b, target)
    tracemalloc.start()
    try:
        for _ in range(100):
            _forward(x, w, b, target)
        gc.collect()  # a full collection also empties CPython's free lists (tuples, floats)
        after_100 = tracemalloc.get_traced_memory()[0]
        for _ in range(900):
            _forward(x, w, b, target)
        gc.collect()
        after_1000 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # one leaked (8, 16) float32 array per pass would be 460 KB over the last 900 passes
    assert after_1000 - after_100 < 32 * 1024, (after_100, after_1000)


def test_a_dropped_forward_pass_frees_its_nodes_and_saved_arrays(rng):
    gc.disable()  # reference counting alone must free it: no cycles between nodes and tensors
    try:
        x = mg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
        w = mg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
        y = ((x @ w).tanh() * x[:, :2]).exp().sum()
        nodes = _nodes_of(y)
        assert len(nodes) >= 5
        node_refs = [weakref.ref(n) for n in nodes]
        array_refs = [
            weakref.ref(a)
            for n in nodes
            for a in _saved_arrays(n)
            if a is not x.data and a is not w.data
        ]
        assert array_refs
        del nodes, y
        assert all(r() is None for r in node_refs)
        assert all(r() is None for r in array_refs)
    finally:
        gc.enable()


def test_backward_frees_saved_arrays_while_the_output_lives(rng):
    x = mg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = (x.tanh() * 3.0).exp().sum()
    nodes = _nodes_of(y)
    array_refs = [weakref.ref(a) for n in nodes for a in _saved_arrays(n) if a is not x.data]
    assert array_refs
    del nodes
    y.backward()
    assert y.numpy() is not None
    assert all(r() is None for r in array_refs)


# ---- retain_graph ------------------------------------------------------------------------------


def test_second_backward_without_retain_graph_raises_a_clear_error(rng):
    x = mg.tensor(rng.standard_normal(3), requires_grad=True)
    y = (x.tanh() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward_that_accumulates(rng):
    a = rng.standard_normal(3)
    x = mg.tensor(a, requires_grad=True)
    y = (x.tanh() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    np.testing.assert_allclose(first, np.tanh(a) + a * (1 - np.tanh(a) ** 2))
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad, 2 * first)
    y.backward()  # the last walk may free
    np.testing.assert_allclose(x.grad, 3 * first)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_through_a_subgraph_freed_by_another_root_raises(rng):
    x = mg.tensor(rng.standard_normal(3), requires_grad=True)
    shared = x.exp()
    first, second = (shared * 2).sum(), (shared * 3).sum()
    first.backward()
    with pytest.raises(RuntimeError, match="exp"):
        second.backward()


# ---- what gets recorded ------------------------------------------------------------------------


def test_no_grad_records_nothing_and_restores_state(rng):
    x = mg.tensor(rng.standard_normal(3), requires_grad=True)
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = (x * 2).tanh().sum()
        assert y._node is None and not y.requires_grad
        with mg.enable_grad():
            z = x * 2
            assert z.requires_grad and z._node is not None
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    with pytest.raises(KeyError), mg.no_grad():
        raise KeyError("an error inside the block must still restore recording")
    assert mg.is_grad_enabled()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_requires_grad_propagates_only_from_inputs_that_need_it(rng):
    a = mg.tensor(rng.standard_normal(3))
    b = mg.tensor(rng.standard_normal(3))
    c = a * b + 1.0
    assert not c.requires_grad and c._node is None and c.is_leaf
    w = mg.tensor(rng.standard_normal(3), requires_grad=True)
    d = c * w
    assert d.requires_grad and not d.is_leaf
    d.sum().backward()
    assert a.grad is None and b.grad is None
    np.testing.assert_allclose(w.grad, c.numpy())
    assert not d.detach().requires_grad and d.detach().data is d.data


def test_requires_grad_rules():
    with pytest.raises(ValueError, match="only floating tensors can require gradients"):
        mg.tensor(np.arange(3), requires_grad=True)
    x = mg.ones(2, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="only be switched off on a leaf"):
        y.requires_grad_(False)
    assert not x.requires_grad_(False).requires_grad


def test_gradients_accumulate_across_backward_calls_until_zero_grad(rng):
    a = rng.standard_normal(4)
    x = mg.tensor(a, requires_grad=True)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * a + 3)
    x.zero_grad()
    assert x.grad is None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, np.full(4, 3.0))


def test_shared_subexpressions_and_reused_leaves_sum_their_paths(rng):
    a = rng.standard_normal(5)
    x = mg.tensor(a, requires_grad=True)
    h = x * x
    y = (h + h * x + x + x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * a + 3 * a**2 + 2)


def test_retain_grad_keeps_the_full_gradient_of_a_non_leaf(rng):
    a = rng.standard_normal(4)
    x = mg.tensor(a, requires_grad=True)
    h = x * 2.0
    h.retain_grad()
    other = x * 5.0  # not retained
    y = (h * h).sum() + (h * 3.0).sum() + other.sum()
    y.backward()
    np.testing.assert_allclose(h.grad, 2 * (2 * a) + 3)  # both consumers of h contributed
    assert other.grad is None
    np.testing.assert_allclose(x.grad, 2 * (4 * a + 3) + 5)
    x.retain_grad()  # a no-op on a leaf


def test_retain_grad_on_the_root_and_on_a_0d_intermediate(rng):
    x = mg.tensor(rng.standard_normal(3), requires_grad=True)
    total = x.sum()
    total.retain_grad()
    y = total * 3.0
    y.retain_grad()
    y.backward()
    assert isinstance(y.grad, np.ndarray) and y.grad.shape == () and y.grad == 1.0
    assert isinstance(total.grad, np.ndarray) and total.grad == 3.0


def test_backward_seeds_ones_for_a_scalar_and_checks_the_given_gradient(rng):
    x = mg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"needs a scalar output, got shape \(2, 3\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\), expected \(2, 3\)"):
        (x * 2).backward(np.ones(3))
    (x * 2).backward(mg.tensor(np.full((2, 3), 0.5)))
    np.testing.assert_allclose(x.grad, 1.0)


def test_backward_on_a_leaf_accumulates_the_seed():
    x = mg.ones(3, requires_grad=True)
    x.backward(np.array([1.0, 2.0, 3.0], np.float32))
    np.testing.assert_array_equal(x.grad, [1, 2, 3])


# ---- custom primitives through record() --------------------------------------------------------


def test_engine_reduces_broadcast_gradients_to_each_input_shape(rng):
    """A primitive may return gradients of the broadcast shape: the engine sums them back."""

    def broadcast_mul(a, b):
        x, y = a.data, b.data
        return record("broadcast_mul", x * y, (a, b), lambda g: (g * y, g * x))

    shapes = [((3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3)), ((2, 1, 3), (4, 1))]
    for sa, sb in shapes:
        assert mg.gradcheck(broadcast_mul, [rng.standard_normal(sa), rng.standard_normal(sb)])


def test_a_backward_returning_the_wrong_count_is_reported():
    x = mg.ones(3, requires_grad=True)
    y = record("broken", x.data * 2, (x,), lambda g: (g, g))
    with pytest.raises(RuntimeError, match="broken.backward returned 2 gradients for 1 inputs"):
        y.sum().backward()


def test_a_none_gradient_still_releases_the_parent_for_its_other_consumers(rng):
    a = rng.standard_normal(3)
    x = mg.tensor(a, requires_grad=True)
    z = x * 2.0
    w = mg.tensor(rng.standard_normal(3), requires_grad=True)
    blocked = record("only_second", z.data + w.data, (z, w), lambda g: (None, g))
    (blocked.sum() + (z * 3.0).sum()).backward()
    np.testing.assert_allclose(x.grad, np.full(3, 6.0))
    np.testing.assert_allclose(w.grad, np.ones(3))


# ---- multi-output nodes ------------------------------------------------------------------------


def _head_tail(x, k, seen):
    """(2 * x[:k], x[k:] ** 2) as one multi-output node; records what backward receives."""
    data = x.data

    def backward(grads):
        seen.append([g is None for g in grads])
        head = grads[0] * 2 if grads[0] is not None else np.zeros(k)
        tail = grads[1] * 2 * data[k:] if grads[1] is not None else np.zeros(data.size - k)
        return (np.concatenate([head, tail]),)

    return record_multi("head_tail", [2 * data[:k], data[k:] ** 2], (x,), backward)


def test_multi_output_node_gradients_and_gradcheck(rng):
    a = rng.standard_normal(5)
    seen = []
    x = mg.tensor(a, requires_grad=True)
    head, tail = _head_tail(x, 2, seen)
    assert type(head._node) is tuple and head._node[0] is tail._node[0]
    (head.sum() * 3.0 + (tail * tail).sum() + head[0]).backward()
    assert seen == [[False, False]]  # called once, with both gradients
    expected = np.concatenate([[2 * 3.0 + 2, 2 * 3.0], 4 * a[2:] ** 3])
    np.testing.assert_allclose(x.grad, expected)
    assert mg.gradcheck(lambda t: mg.concat(_head_tail(t, 3, []), axis=0).tanh(), [a])


def test_multi_output_node_with_an_output_that_receives_no_gradient(rng):
    a = rng.standard_normal(5)
    seen = []
    x = mg.tensor(a, requires_grad=True)
    head, tail = _head_tail(x, 2, seen)
    head.retain_grad()
    tail.retain_grad()
    (tail * 2.0).sum().backward()
    assert seen == [[True, False]]
    assert head.grad is None
    np.testing.assert_allclose(tail.grad, np.full(3, 2.0))
    np.testing.assert_allclose(x.grad, np.concatenate([[0, 0], 4 * a[2:]]))


def test_multi_output_retain_grad_and_backward_from_one_output(rng):
    a = rng.standard_normal(4)
    x = mg.tensor(a, requires_grad=True)
    head, tail = _head_tail(x, 1, [])
    head.retain_grad()
    u = rng.standard_normal(3)
    tail.backward(u)  # the root itself is output 1 of a multi-output node
    np.testing.assert_allclose(x.grad, np.concatenate([[0], 2 * a[1:] * u]))
    assert head.grad is None
    x.zero_grad()
    head, tail = _head_tail(x, 1, [])
    head.retain_grad()
    (head * 4.0).sum().backward()
    np.testing.assert_allclose(head.grad, [4.0])


def test_multi_output_under_no_grad_records_nothing():
    x = mg.ones(4, dtype=np.float64, requires_grad=True)
    with mg.no_grad():
        outs = _head_tail(x, 2, [])
    assert all(o._node is None and not o.requires_grad for o in outs)


# ---- anomaly detection -------------------------------------------------------------------------


def test_detect_anomaly_names_the_op_whose_output_is_not_finite():
    x = mg.tensor(np.array([1.0, -1.0]), requires_grad=True)
    with np.errstate(invalid="ignore"):
        with (
            pytest.raises(FloatingPointError, match="log produced a non-finite output"),
            mg.detect_anomaly(),
        ):
            x.log()
        y = x.log()  # outside the block: NaN passes silently
    assert np.isnan(y.numpy()[1])


def test_detect_anomaly_names_the_op_whose_gradient_is_not_finite():
    x = mg.tensor(np.array([0.0, 4.0]), requires_grad=True)
    with np.errstate(divide="ignore"):
        with mg.detect_anomaly():
            y = (x**0.5).sum()  # finite forward: sqrt(0) = 0
            with pytest.raises(FloatingPointError, match="pow produced a non-finite gradient"):
                y.backward()
        (x**0.5).sum().backward()
    assert np.isinf(x.grad[0])


@pytest.mark.parametrize("wrong", [(5,), (3, 4), (2, 4, 3, 1)])
def test_a_custom_backward_with_a_wrongly_shaped_gradient_names_the_op(wrong):
    """A gradient that does not reduce to its input's shape (no broadcast could have made it)
    fails naming the op and both shapes; (3, 4) for a (4, 3) input used to pass silently."""
    from minigrad import autograd

    x = mg.tensor(np.ones((4, 3)), requires_grad=True)
    y = autograd.record("my_op", x.data * 2.0, [x], lambda g: (np.ones(wrong),))
    with pytest.raises(ValueError, match=r"my_op\.backward returned a gradient of shape "
                                         rf"{re.escape(str(wrong))} for its input 0 of shape "
                                         r"\(4, 3\)"):
        y.sum().backward()


def test_a_custom_backward_may_return_a_broadcast_gradient():
    from minigrad import autograd

    x = mg.tensor(np.ones((4, 1)), requires_grad=True)
    y = autograd.record("widen", np.ones((2, 4, 3)), [x], lambda g: (g,))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((4, 1), 6.0))
