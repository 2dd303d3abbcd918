"""The tape: nodes recorded by primitives (the backward walk over them is in ``walk.py``).

A node is one primitive application. It holds its backward closure (which owns the arrays the
derivative needs) and one edge per input: None (no gradient wanted) or the pair (node, k), output k
of the node that made the input. A leaf tensor that wants a gradient has a node too, an
``AccumulateGrad`` created on its first use and kept on the tensor: the gradients from all its
uses meet there and are added to ``.grad`` once. So every edge has one shape and the walk one path.
A node never holds its output, so a forward pass that is dropped without backward frees everything
by reference counting, and an intermediate's data is freed as soon as no closure saved it.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref

import numpy as np

from .backends import backend_of


class _State(threading.local):
    grad_enabled = True
    anomaly = False
    compiling = False  # True while mg.compile traces a function (compiler/record.py)
    host_check = None  # while it traces: records a validation the program runs on every call


state = _State()


class Node:
    """One recorded primitive: its backward closure and one (node, k) edge (or None) per input."""

    __slots__ = ("name", "backward", "parents", "shapes", "retained", "n_outputs", "multi",
                 "__weakref__")

    def __init__(self, name, backward, parents, shapes):
        self.name = name
        self.backward = backward
        self.parents = parents  # per input: None or (node, k), output k of that node
        self.shapes = shapes
        self.retained = None  # weakref to the output (a list of them for multi-output nodes)
        self.n_outputs = 1
        self.multi = False  # recorded by record_multi: backward takes a list (even of one)

    def __repr__(self):
        return f"<Node {self.name}>"


def _accumulate(g):
    raise RuntimeError("AccumulateGrad has no backward; the walk adds its gradient to .grad")


class AccumulateGrad(Node):
    """A leaf's node: its uses' gradients meet here; the walk adds their sum to the leaf's .grad."""

    __slots__ = ("tensor", "modified")

    def __init__(self, tensor):
        super().__init__("accumulate_grad", _accumulate, (), ())
        self.tensor = weakref.ref(tensor)  # the tensor holds this node: no reference cycle
        self.modified = None  # (by, version, description) once its tensor changed in place


class SliceGrad:
    """The gradient of a basic-index slice: g at `index` of zeros of `shape`, never materialised;
    the walk adds g into the input's one gradient buffer in place."""

    __slots__ = ("shape", "index", "g")

    def __init__(self, shape, index, g):
        self.shape, self.index, self.g = tuple(shape), index, g


class _GradMode:
    """Sets whether primitives record, restoring the previous setting on exit: a context manager
    (``with mg.no_grad():``) and a decorator with or without parentheses (``@mg.no_grad``,
    ``@mg.no_grad()``), as torch's."""

    enabled = False

    def __new__(cls, func=None):
        if func is None:
            return super().__new__(cls)
        if not callable(func):
            raise TypeError(f"{cls.__name__}: decorates a function (or takes no argument as a "
                            f"context manager), got {type(func).__name__} {func!r}")
        return cls()(func)

    def __init__(self, func=None):
        self._previous = []

    def __enter__(self):
        self._previous.append(state.grad_enabled)
        state.grad_enabled = self.enabled

    def __exit__(self, *exc):
        state.grad_enabled = self._previous.pop()

    def __call__(self, func):
        mode = type(self)

        @functools.wraps(func)
        def under_mode(*args, **kwargs):
            with mode():
                return func(*args, **kwargs)

        return under_mode


class no_grad(_GradMode):  # noqa: N801 - torch's name
    """Record nothing inside the block (or the decorated function)."""

    enabled = False


class enable_grad(_GradMode):  # noqa: N801 - torch's name
    """Record again inside a no_grad block (or the decorated function)."""

    enabled = True


class set_grad_enabled:  # noqa: N801 - torch's name
    """set_grad_enabled(mode): recording on or off from here (a call), or inside a with block
    (the previous setting restored on exit), as torch's."""

    def __init__(self, mode: bool):
        if not isinstance(mode, bool | np.bool_):
            raise TypeError(f"set_grad_enabled: mode must be True or False, got {mode!r}")
        self._previous = state.grad_enabled
        state.grad_enabled = bool(mode)

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        state.grad_enabled = self._previous


def host_check(check, *args) -> None:
    """Run check(*args), a validation of data that raises on bad values and returns nothing;
    under mg.compile the compiled program runs it again on every call (not frozen, not skipped)."""
    hook = state.host_check
    if hook is None:
        check(*args)
    else:
        hook(check, args)


def is_grad_enabled() -> bool:
    """False inside no_grad(): primitives record nothing."""
    return state.grad_enabled


def is_anomaly_enabled() -> bool:
    """True inside detect_anomaly(): every output and gradient is checked for non-finite values."""
    return state.anomaly


@contextlib.contextmanager
def detect_anomaly():
    """Raise FloatingPointError at the first primitive whose output or gradient is not finite."""
    previous = state.anomaly
    state.anomaly = True
    try:
        yield
    finally:
        state.anomaly = previous


def _edge(t):
    """t's edge: (node, k) of the node that made it; a leaf gets its AccumulateGrad on first use."""
    edge = t._edge
    if edge is None:
        edge = t._edge = (AccumulateGrad(t), 0)
    return edge


def _make_node(name, inputs, backward):
    """A Node for a primitive applied to `inputs`, or None when none of them needs a gradient."""
    if not state.grad_enabled:
        return None
    if len(inputs) == 2:  # most primitives: no lists, no loop (0.2 us of a 3 us op, measured)
        a, b = inputs
        a_needs, b_needs = a.requires_grad, b.requires_grad
        if not (a_needs or b_needs):
            return None
        parents = (_edge(a) if a_needs else None, _edge(b) if b_needs else None)
        return Node(name, backward, parents, (a.data.shape, b.data.shape))
    parents = []
    shapes = []
    needs = False
    for t in inputs:
        shapes.append(t.data.shape)
        if t.requires_grad:
            needs = True
            parents.append(_edge(t))
        else:
            parents.append(None)
    if not needs:
        return None
    return Node(name, backward, tuple(parents), shapes)


def _wrap(name, out_data, node):
    if type(out_data) is not np.ndarray and isinstance(out_data, np.generic):
        out_data = np.asarray(out_data)  # a ufunc on 0-d arrays returns a numpy scalar
    if state.anomaly:
        check_finite(name, "output", out_data)
    out = _new_tensor(_Tensor)
    out.data = out_data
    out.grad = None
    out._edge = node if type(node) is tuple or node is None else (node, 0)
    out._node = node
    out.requires_grad = node is not None
    return out


def record(name, out_data, inputs, backward):
    """Wrap a primitive's result in a Tensor and, if any input needs a gradient, record a node.

    `backward(g)` returns one gradient per input (None where there is none), in input order.
    This is the hot path of every op: no generators, few attribute lookups.
    """
    return _wrap(name, out_data, _make_node(name, inputs, backward) if state.grad_enabled else None)


def record_multi(name, out_arrays, inputs, backward):
    """Like record() for a primitive with several outputs; returns one Tensor per output.

    Each output's ``_node`` is the pair (node, k). `backward(grads)` receives a list with one
    gradient per output, None for outputs that no gradient reached.
    """
    node = _make_node(name, inputs, backward)
    if node is None:
        return [_wrap(name, a, None) for a in out_arrays]
    node.n_outputs = len(out_arrays)
    node.multi = True
    return [_wrap(name, a, (node, k)) for k, a in enumerate(out_arrays)]


_Tensor = None
_new_tensor = object.__new__


def bind_tensor_class(cls):
    """Called once by tensor.py: record() builds Tensors without importing tensor.py per call."""
    global _Tensor
    _Tensor = cls


def check_finite(name, what, array):
    """Raise FloatingPointError naming the primitive when array holds NaN or +-inf."""
    if not backend_of(array).all_finite(array):
        raise FloatingPointError(
            f"detect_anomaly: {name} produced a non-finite {what} (shape {tuple(array.shape)})"
        )


def bump_version(tensor, by: str) -> None:
    """Record that `tensor` was modified in place by `by` (an optimizer step): its version counter
    goes up, and graphs recorded before now can no longer reach .grad through it.

    The closures of those graphs saved the tensor's array, which now holds other values, so their
    gradients would be those of different weights. Its AccumulateGrad node is retired (the walk
    refuses it, at no cost per op) and the next use makes a fresh one. Stricter than torch in one
    case: an op that saved nothing of the tensor (add) is refused too.
    """
    tensor._version = tensor.version + 1
    edge = tensor._edge
    if edge is not None and type(edge[0]) is AccumulateGrad:
        node = edge[0]
        node.backward = None  # the walk's freed check catches it before any closure runs
        node.modified = (by, tensor._version, f"{tuple(tensor.data.shape)} "
                         f"{tensor.data.dtype}")
        tensor._edge = None


def modified_error(node, consumers):
    """The error for a backward that reached a tensor modified in place since the forward."""
    by, version, description = node.modified
    users = sorted({user.name for user in consumers if any(
        edge is not None and edge[0] is node for edge in user.parents)})
    used = f" used by {', '.join(repr(u) for u in users)}" if users else ""
    return RuntimeError(
        f"backward: a tensor needed for gradient computation has been modified by an inplace "
        f"operation ({by}): the tensor of shape {description}{used} went from version "
        f"{version - 1}, which the graph recorded, to {version}. Call backward() before "
        f"{'the optimizer step' if by.endswith('.step') else by} (or run the forward again "
        "after it).")


def freed_error(node):
    """The error for a second backward through a node whose closure the first one freed."""
    return RuntimeError(
        f"backward through '{node.name}' a second time: its saved arrays were freed by the first "
        "backward. Pass retain_graph=True to the first backward() to walk the graph again."
    )


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

