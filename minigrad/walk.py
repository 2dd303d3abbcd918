"""The backward walk over the tape that ``autograd.py`` records.

Backward is iterative (no recursion): one pass counts each node's consumers, a second pops nodes
whose consumers have all contributed, calls their closures, reduces broadcast gradients to each
input's shape (the one place that does), and frees each consumed gradient and, unless
``retain_graph``, each closure as it goes. A node's gradient buffer that the walk allocated itself
(the sum of two contributions) takes further contributions in place, and a ``SliceGrad`` (what
basic indexing returns) is added into that one buffer: ``x[t]`` for every t costs O(x), not
O(T x). A leaf's ``AccumulateGrad`` node adds the sum of its uses' gradients to ``.grad`` once.
"""

from __future__ import annotations

import gc

import numpy as np

from .autograd import AccumulateGrad, SliceGrad, check_finite, freed_error, modified_error, state
from .backends import backend_of


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


def _accumulate_leaf(tensor, g, owned=False):
    """tensor.grad += g; g is copied first unless the walk allocated it (owned)."""
    if type(g) is not np.ndarray and isinstance(g, np.generic):
        g = np.asarray(g)  # ufuncs on 0-d arrays return numpy scalars; .grad is an array
    if tensor.grad is None:
        # copy: a closure may hand the same array to several inputs (add returns g twice)
        grad = g if owned else backend_of(g).copy(g)
    else:
        grad = backend_of(g).add(tensor.grad, g)
    if type(grad) is not np.ndarray and isinstance(grad, np.generic):
        grad = np.asarray(grad)
    tensor.grad = grad


def _retained_grad(node, g):
    if not node.multi:
        refs, grads = [node.retained], [g]
    else:
        refs, grads = node.retained, g
    for ref, gk in zip(refs, grads):
        tensor = ref() if ref is not None else None
        if tensor is not None and gk is not None:
            _accumulate_leaf(tensor, gk)


def _sum_into(previous, g, owned, key):
    """previous + g, in place when the walk allocated previous (key in owned)."""
    if type(g) is SliceGrad:
        be = backend_of(g.g)
        if previous is None:
            buffer = be.zeros(g.shape, g.g.dtype)
        elif key in owned:
            buffer = previous
        else:
            buffer = be.copy(previous)
        owned.add(key)
        be.slice_add(buffer, g.index, g.g)
        return buffer
    if previous is None:
        return g
    be = backend_of(g)
    if key in owned:
        be.add_into(previous, g)
        return previous
    owned.add(key)
    total = be.add(previous, g)
    return np.asarray(total) if isinstance(total, np.generic) else total


def _add_grad(grads, owned, node, k, g):
    """Add g to output k's gradient of node."""
    if not node.multi:
        grads[node] = _sum_into(grads.get(node), g, owned, node)
        return
    slots = grads.get(node)
    if slots is None:
        slots = grads[node] = [None] * node.n_outputs
    slots[k] = _sum_into(slots[k], g, owned, (node, k))


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
    k = 0
    if type(root) is tuple:
        root, k = root
    consumers = {root: 0}
    stack = [root]
    while stack:
        node = stack.pop()
        if node.backward is None:
            if type(node) is AccumulateGrad and node.modified is not None:
                raise modified_error(node, consumers)
            raise freed_error(node)
        for edge in node.parents:
            if edge is not None:
                parent = edge[0]
                if parent in consumers:
                    consumers[parent] += 1
                else:
                    consumers[parent] = 1
                    stack.append(parent)

    anomaly = state.anomaly
    grads, owned = {}, set()
    _add_grad(grads, owned, root, k, grad)
    ready = [root]
    while ready:
        node = ready.pop()
        g = grads.pop(node, None)
        if type(node) is AccumulateGrad:
            leaf = node.tensor()
            if g is not None and leaf is not None:
                _accumulate_leaf(leaf, g, node in owned)
            continue
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
        for edge, gi, shape in zip(parents, input_grads, shapes):
            if edge is None:
                continue
            parent, k = edge
            if gi is not None:
                if gi.shape != shape:
                    if not _reduces_to(gi.shape, shape):
                        raise _grad_shape_error(node, input_grads, gi, shape)
                    gi = backend_of(gi).sum_to(gi, shape)
                if anomaly:
                    check_finite(node.name, "gradient", gi.g if type(gi) is SliceGrad else gi)
                if parent.multi or type(gi) is SliceGrad:
                    _add_grad(grads, owned, parent, k, gi)
                else:  # the common case inline: a dense gradient for a one-output node
                    previous = grads.get(parent)
                    grads[parent] = gi if previous is None else _sum_into(previous, gi, owned,
                                                                          parent)
            remaining = consumers[parent] - 1
            consumers[parent] = remaining
            if remaining == 0:
                ready.append(parent)
