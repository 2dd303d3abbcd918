"""The tape: nodes recorded by primitives, and the backward walk over them.

A node is one primitive application. It holds its backward closure (which owns the arrays the
derivative needs), and for each input either the input's own node (an intermediate), the input
tensor (a leaf that wants a gradient) or None. It never holds its output, so a forward pass that
is dropped without backward frees everything by reference counting, and an intermediate's data is
freed as soon as no closure saved it.

Backward is iterative (no recursion): one pass counts each node's consumers, a second pops nodes
whose consumers have all contributed, calls their closures, reduces broadcast gradients to each
input's shape (the one place that does), and frees each consumed gradient and, unless
``retain_graph``, each closure as it goes.
"""

from __future__ import annotations

import contextlib
import threading
import weakref

from .backends import backend_of


class _State(threading.local):
    grad_enabled = True
    anomaly = False


state = _State()


class Node:
    """One recorded primitive: its backward closure and where each input's gradient goes."""

    __slots__ = ("name", "backward", "parents", "shapes", "retained", "__weakref__")

    def __init__(self, name, backward, parents, shapes):
        self.name = name
        self.backward = backward
        self.parents = parents
        self.shapes = shapes
        self.retained = None

    def __repr__(self):
        return f"<Node {self.name}>"


@contextlib.contextmanager
def no_grad():
    """Record nothing inside the block."""
    previous = state.grad_enabled
    state.grad_enabled = False
    try:
        yield
    finally:
        state.grad_enabled = previous


@contextlib.contextmanager
def enable_grad():
    """Record again inside a no_grad block."""
    previous = state.grad_enabled
    state.grad_enabled = True
    try:
        yield
    finally:
        state.grad_enabled = previous


def is_grad_enabled() -> bool:
    return state.grad_enabled


@contextlib.contextmanager
def detect_anomaly():
    """Raise FloatingPointError at the first primitive whose output or input gradient is not finite."""
    previous = state.anomaly
    state.anomaly = True
    try:
        yield
    finally:
        state.anomaly = previous


def record(name, out_data, inputs, backward):
    """Wrap a primitive's result in a Tensor and, if any input needs a gradient, record a node.

    `backward(g)` returns one gradient per input (None where there is none), in input order.
    """
    from .tensor import Tensor

    if state.anomaly:
        _check_finite(name, "output", out_data)
    out = Tensor.__new__(Tensor)
    out.data = out_data
    out.grad = None
    out._node = None
    if state.grad_enabled:
        needs = False
        for t in inputs:
            if t.requires_grad:
                needs = True
                break
        if needs:
            parents = tuple(
                (t._node if t._node is not None else t) if t.requires_grad else None
                for t in inputs
            )
            out._node = Node(name, backward, parents, tuple(t.data.shape for t in inputs))
            out.requires_grad = True
            return out
    out.requires_grad = False
    return out


def _check_finite(name, what, array):
    if not backend_of(array).all_finite(array):
        raise FloatingPointError(
            f"detect_anomaly: {name} produced a non-finite {what} (shape {tuple(array.shape)})"
        )


def _freed_error(node):
    return RuntimeError(
        f"backward through '{node.name}' a second time: its saved arrays were freed by the first "
        "backward. Pass retain_graph=True to the first backward() to walk the graph again."
    )


def _accumulate_leaf(tensor, g):
    if tensor.grad is None:
        # copy: a closure may hand the same array to several inputs (add returns g twice)
        tensor.grad = backend_of(g).copy(g)
    else:
        tensor.grad = backend_of(g).add(tensor.grad, g)


def _retained_grad(node, g):
    tensor = node.retained()
    if tensor is not None:
        _accumulate_leaf(tensor, g)


def run_backward(tensor, grad, retain_graph=False):
    """Accumulate d(tensor)/d(leaf) . grad into every leaf's .grad (and retained non-leaves')."""
    root = tensor._node
    if root is None:
        _accumulate_leaf(tensor, grad)
        return
    consumers = {root: 0}
    stack = [root]
    while stack:
        node = stack.pop()
        if node.backward is None:
            raise _freed_error(node)
        for parent in node.parents:
            if type(parent) is Node:
                if parent in consumers:
                    consumers[parent] += 1
                else:
                    consumers[parent] = 1
                    stack.append(parent)

    anomaly = state.anomaly
    grads = {root: grad}
    ready = [root]
    while ready:
        node = ready.pop()
        g = grads.pop(node, None)
        parents, shapes = node.parents, node.shapes
        if g is not None:
            if node.retained is not None:
                _retained_grad(node, g)
            input_grads = node.backward(g)
            if len(input_grads) != len(parents):
                raise RuntimeError(
                    f"{node.name}.backward returned {len(input_grads)} gradients for "
                    f"{len(parents)} inputs"
                )
        else:
            input_grads = (None,) * len(parents)
        if not retain_graph:
            node.backward = None
            node.parents = ()
        g = None
        for parent, gi, shape in zip(parents, input_grads, shapes):
            if parent is None:
                continue
            if gi is not None:
                if gi.shape != shape:
                    gi = backend_of(gi).sum_to(gi, shape)
                if anomaly:
                    _check_finite(node.name, "gradient", gi)
            if type(parent) is Node:
                if gi is not None:
                    previous = grads.get(parent)
                    grads[parent] = gi if previous is None else backend_of(gi).add(previous, gi)
                remaining = consumers[parent] - 1
                consumers[parent] = remaining
                if remaining == 0:
                    ready.append(parent)
            elif gi is not None:
                _accumulate_leaf(parent, gi)


def retain(tensor):
    """Keep .grad on a non-leaf tensor after backward."""
    if tensor._node is not None:
        tensor._node.retained = weakref.ref(tensor)
