"""The tape's edges and gradient buffers: uniform (node, k) edges, leaves' AccumulateGrad nodes,
in-place accumulation of walk-owned buffers and slices that accumulate into one buffer."""

from __future__ import annotations

import time

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import AccumulateGrad, Node
from minigrad.backends import cpu


def test_every_edge_is_none_or_a_node_output_pair():
    x = mg.tensor(np.ones((2, 3)), requires_grad=True)
    c = mg.tensor(np.ones((2, 3)))
    a, b = x.split(3, axis=1)[:2]
    y = a * b + c[:, :1] + x[:, 2:]
    seen, stack = set(), [y._node]
    while stack:
        node = stack.pop()
        for edge in node.parents:
            if edge is None:
                continue
            assert type(edge) is tuple and type(edge[1]) is int
            assert isinstance(edge[0], Node)
            if edge[0] not in seen:
                seen.add(edge[0])
                stack.append(edge[0])
    leaves = [n for n in seen if type(n) is AccumulateGrad]
    assert len(leaves) == 1 and leaves[0].tensor() is x  # one node for all of x's uses


def test_leaf_node_is_reused_across_graphs():
    x = mg.tensor(np.ones(3), requires_grad=True)
    (x * 2).sum().backward()
    first = x._edge[0]
    (x * 3).sum().backward()
    assert x._edge[0] is first
    np.testing.assert_array_equal(x.grad, [5, 5, 5])
    assert x._edge[0].tensor() is x  # a weak reference: the tensor holds its node, not back


def test_many_contributions_accumulate_correctly_and_leave_grad_unaliased():
    x = mg.tensor(np.arange(3.0), requires_grad=True)
    y = x + x + x * 2.0 + x * 3.0 + x.tanh()
    y.backward(np.ones(3))
    expected = 7.0 + (1 - np.tanh(np.arange(3.0)) ** 2)
    np.testing.assert_allclose(x.grad, expected)
    grad = x.grad
    y2 = x + x
    y2.backward(np.ones(3))  # .grad += 2, as a new array: the old one is not written through
    np.testing.assert_allclose(x.grad, expected + 2)
    np.testing.assert_allclose(grad, expected)


def test_retain_graph_walks_twice_with_in_place_buffers():
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 1.0
    y = (h * h + h * 3.0 + h).sum()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(first, 2 * np.array([1.0, 2.0]) + 4)
    np.testing.assert_allclose(x.grad, 2 * first)


def test_slices_of_one_tensor_accumulate_into_one_buffer(monkeypatch, rng):
    T, B, H = 20, 3, 4
    data = rng.standard_normal((T, B, H))
    xp = mg.tensor(data, requires_grad=True)
    w = mg.tensor(rng.standard_normal((H, H)), requires_grad=True)
    allocations = []
    original = cpu.zeros
    monkeypatch.setattr(cpu, "zeros", lambda shape, dtype: allocations.append(shape)
                        or original(shape, dtype))
    h = mg.zeros((B, H), dtype=np.float64)
    for t in range(T):
        h = (xp[t] + h @ w).tanh()
    h.sum().backward()
    assert allocations.count((T, B, H)) == 1  # one gradient buffer for all T slices

    xq = mg.tensor(data, requires_grad=True)
    wq = mg.tensor(w.numpy(), requires_grad=True)
    h = mg.zeros((B, H), dtype=np.float64)
    for x_t in xq.unstack(0):
        h = (x_t + h @ wq).tanh()
    h.sum().backward()
    np.testing.assert_allclose(xp.grad, xq.grad, rtol=1e-12)
    np.testing.assert_allclose(w.grad, wq.grad, rtol=1e-12)


def test_slices_gradcheck_with_overlapping_and_repeated_slices(rng):
    def fn(x):
        return x[0] * x[1] + x[1:3].sum(0) + x[-1] * 2.0 + x[:, 1:].sum() + x[2, 1]

    mg.gradcheck(fn, [rng.standard_normal((4, 3))])


def _slice_backward_seconds(T, B=2, H=64, unstack=False):
    xp = mg.tensor(np.ones((T, B, H), np.float32), requires_grad=True)
    steps = xp.unstack(0) if unstack else [xp[t] for t in range(T)]
    total = None
    for x_t in steps:
        total = x_t if total is None else total + x_t
    start = time.perf_counter()
    total.sum().backward()
    return time.perf_counter() - start


def test_slice_backward_cost_is_linear_in_T():
    """8x the steps must cost about 8x (64x when every slice filled a whole-tensor gradient;
    78x measured before). The tensor stays small (400 KB) so page faults and caches do not
    bend the line."""
    short, long = [], []
    for _ in range(9):  # interleaved, best of 9: the machine is shared
        short.append(_slice_backward_seconds(100))
        long.append(_slice_backward_seconds(800))
    ratio = min(long) / min(short)
    assert ratio < 32, f"T=800 took {ratio:.1f}x T=100 (linear: 8x, quadratic: 64x)"


def test_slicing_each_step_costs_about_what_unstack_costs():
    """The natural code (xp[t]) against the careful one (one unstack node): 37x before."""
    sliced, unstacked = [], []
    for _ in range(9):
        sliced.append(_slice_backward_seconds(800))
        unstacked.append(_slice_backward_seconds(800, unstack=True))
    ratio = min(sliced) / min(unstacked)
    assert ratio < 8, f"xp[t] backward took {ratio:.1f}x the unstack version's"


@pytest.mark.parametrize("index", [(slice(1, 3),), (1,), (slice(None), 2), (Ellipsis, 0)])
def test_slice_add_backend(index, rng):
    out = rng.standard_normal((4, 3))
    g = rng.standard_normal(out[index].shape)
    expected = out.copy()
    expected[index] += g
    cpu.slice_add(out, index, g)
    np.testing.assert_array_equal(out, expected)
