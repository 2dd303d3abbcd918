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
import gc
import threading
import weakref

import numpy as np

from .backends import backend_of


class _State(threading.local):
    grad_enabled = True
    anomaly = False


state = _State()


class Node:
    """One recorded primitive: its backward closure and where each input's gradient goes."""

    __slots__ = ("name", "backward", "parents", "shapes", "retained", "n_outputs", "__weakref__")

    def __init__(self, name, backward, parents, shapes):
        self.name = name
        self.backward = backward
        self.parents = parents  # per input: its Node, (Node, k) for output k of one, a leaf, None
        self.shapes = shapes
        self.retained = None  # weakref to the output (a list of them for multi-output nodes)
        self.n_outputs = 1

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
    """Raise FloatingPointError at the first primitive whose output or gradient is not finite."""
    previous = state.anomaly
    state.anomaly = True
    try:
        yield
    finally:
        state.anomaly = previous


def _make_node(name, inputs, backward):
    """A Node for a primitive applied to `inputs`, or None when none of them needs a gradient."""
    if not state.grad_enabled:
        return None
    parents = []
    needs = False
    for t in inputs:
        if t.requires_grad:
            needs = True
            node = t._node
            parents.append(t if node is None else node)
        else:
            parents.append(None)
    if not needs:
        return None
    return Node(name, backward, tuple(parents), [t.data.shape for t in inputs])


def _wrap(name, out_data, node):
    if type(out_data) is not np.ndarray and isinstance(out_data, np.generic):
        out_data = np.asarray(out_data)  # a ufunc on 0-d arrays returns a numpy scalar
    if state.anomaly:
        _check_finite(name, "output", out_data)
    out = _new_tensor(_Tensor)
    out.data = out_data
    out.grad = None
    out._node = node
    out.requires_grad = node is not None
    return out


def record(name, out_data, inputs, backward):
    """Wrap a primitive's result in a Tensor and, if any input needs a gradient, record a node.

    `backward(g)` returns one gradient per input (None where there is none), in input order.
    This is the hot path of every op: no generators, few attribute lookups.
    """
    return _wrap(name, out_data, _make_node(name, inputs, backward))


def record_multi(name, out_arrays, inputs, backward):
    """Like record() for a primitive with several outputs; returns one Tensor per output.

    Each output's ``_node`` is the pair (node, k). `backward(grads)` receives a list with one
    gradient per output, None for outputs that no gradient reached.
    """
    node = _make_node(name, inputs, backward)
    if node is None:
        return [_wrap(name, a, None) for a in out_arrays]
    node.n_outputs = len(out_arrays)
    return [_wrap(name, a, (node, k)) for k, a in enumerate(out_arrays)]


_Tensor = None
_new_tensor = object.__new__


def bind_tensor_class(cls):
    """Called once by tensor.py: record() builds Tensors without importing tensor.py per call."""
    global _Tensor
    _Tensor = cls


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


def _reduces_to(grad_shape, shape) -> bool:
    """Whether summing broadcast axes takes a gradient of grad_shape to an input of shape."""
    lead = len(grad_shape) - len(shape)
    return lead >= 0 and all(n in (1, m) for n, m in zip(shape, grad_shape[lead:]))


def _grad_shape_error(node, input_grads, gi, shape):
    index = next(i for i, g in enumerate(input_grads) if g is gi)
    return ValueError(
        f"{node.name}.backward returned a gradient of shape {tuple(gi.shape)} for its input "
        f"{index} of shape {tuple(shape)} (no broadcast reaches it): check the op's backward"
    )


def _accumulate_leaf(tensor, g):
    if tensor.grad is None:
        # copy: a closure may hand the same array to several inputs (add returns g twice)
        grad = backend_of(g).copy(g)
    else:
        grad = backend_of(g).add(tensor.grad, g)
    if type(grad) is not np.ndarray and isinstance(grad, np.generic):
        grad = np.asarray(grad)  # ufuncs on 0-d arrays return numpy scalars; .grad is an array
    tensor.grad = grad


def _retained_grad(node, g):
    if node.n_outputs == 1:
        refs, grads = [node.retained], [g]
    else:
        refs, grads = node.retained, g
    for ref, gk in zip(refs, grads):
        tensor = ref() if ref is not None else None
        if tensor is not None and gk is not None:
            _accumulate_leaf(tensor, gk)


def _slot(node, k, slots, g, be):
    """Add g into output k's slot of a multi-output node's gradient list."""
    if slots is None:
        slots = [None] * node.n_outputs
    slots[k] = g if slots[k] is None else be.add(slots[k], g)
    return slots


def run_backward(tensor, grad, retain_graph=False):
    """Accumulate d(tensor)/d(leaf) . grad into every leaf's .grad (and retained non-leaves')."""
    # The walk allocates many short-lived containers; the tape makes no reference cycles, so
    # Python's cyclic collector would only rescan the live graph again and again (20-30% of a
    # composed LSTM step measured). Pause it for the walk; reference counting frees everything.
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        _walk(tensor, grad, retain_graph)
    finally:
        if paused:
            gc.enable()


def _walk(tensor, grad, retain_graph):
    root = tensor._node
    if root is None:
        _accumulate_leaf(tensor, grad)
        return
    if type(root) is tuple:
        root, k = root
        grad = _slot(root, k, None, grad, None)
    consumers = {root: 0}
    stack = [root]
    while stack:
        node = stack.pop()
        if node.backward is None:
            raise _freed_error(node)
        for parent in node.parents:
            if type(parent) is tuple:
                parent = parent[0]
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
                    if not _reduces_to(gi.shape, shape):
                        raise _grad_shape_error(node, input_grads, gi, shape)
                    gi = backend_of(gi).sum_to(gi, shape)
                if anomaly:
                    _check_finite(node.name, "gradient", gi)
            if type(parent) is tuple:
                parent, k = parent
                if gi is not None:
                    grads[parent] = _slot(parent, k, grads.get(parent), gi, backend_of(gi))
                remaining = consumers[parent] - 1
                consumers[parent] = remaining
                if remaining == 0:
                    ready.append(parent)
            elif type(parent) is Node:
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
    node = tensor._node
    if type(node) is tuple:
        node, k = node
        if node.retained is None:
            node.retained = [None] * node.n_outputs
        node.retained[k] = weakref.ref(tensor)
    elif node is not None:
        node.retained = weakref.ref(tensor)
