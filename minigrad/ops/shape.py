"""Shape primitives: reshape, transpose, indexing, concat/stack/split, device moves."""

from __future__ import annotations

import numpy as np

from ..autograd import SliceGrad, record, record_multi, state
from ..backends import backend_of, get
from ..tensor import Tensor
from .axes import axis_index


def reshape(a: Tensor, shape) -> Tensor:
    """a with a new shape (one entry may be -1); the gradient is reshaped back."""
    be = backend_of(a.data)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    source = a.shape
    try:
        out = be.reshape(a.data, shape)
    except ValueError:
        raise ValueError(
            f"reshape: cannot reshape {source} ({a.size} elements) to {shape}"
        ) from None
    return record("reshape", out, (a,), lambda g: (be.reshape(g, source),))


def transpose(a: Tensor, axes=None) -> Tensor:
    """a with its axes permuted (reversed by default); the gradient gets the inverse permutation."""
    be = backend_of(a.data)
    if axes is None:
        axes = tuple(range(a.ndim))[::-1]
    else:
        axes = tuple(axis_index("transpose", ax, a.ndim) for ax in axes)
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {a.ndim} dims")
    inverse = tuple(np.argsort(axes))
    out = be.transpose(a.data, axes)
    return record("transpose", out, (a,), lambda g: (be.transpose(g, inverse),))


def _is_basic(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, int | slice) for p in parts)


def _host_index(index):
    """Tensors in an index become arrays; lists become integer (or bool) arrays."""
    def convert(p):
        if isinstance(p, Tensor):
            if state.compiling and type(p.data) is np.ndarray:
                return p.data  # what numpy() returns on the CPU, read by mg.compile's program
            return p.numpy()
        if isinstance(p, list):
            return np.asarray(p)
        return p
    return tuple(convert(p) for p in index) if isinstance(index, tuple) else convert(index)


def getitem(a: Tensor, index) -> Tensor:
    """a[index] with slices, ints, None, Ellipsis or integer/bool arrays; backward scatters g back.

    Repeated integer indices accumulate their gradients.
    """
    be = backend_of(a.data)
    index = _host_index(index)
    try:
        out = be.getitem(a.data, index)
    except IndexError as e:  # IndexError, as numpy's: iteration protocols rely on it
        raise IndexError(f"getitem: index {index!r} does not fit shape {a.shape}: {e}") from None
    shape, dtype = a.shape, a.dtype
    if _is_basic(index):  # accumulated in place by the walk: T slices of x cost O(x), not O(T x)
        return record("getitem", out, (a,), lambda g: (SliceGrad(shape, index, g),))
    return record("getitem", out, (a,), lambda g: (be.index_add(shape, index, g, dtype),))


def _check_same(name, tensors):
    if not tensors:
        raise ValueError(f"{name}: needs at least one tensor")
    first = tensors[0]
    for i, t in enumerate(tensors[1:], 1):
        if t.dtype != first.dtype or t.device != first.device:
            raise ValueError(
                f"{name}: tensor 0 is {first.dtype} on {first.device} but tensor {i} is "
                f"{t.dtype} on {t.device}"
            )


def _join(name, verb, tensors, axis):
    """(tensors, backend, joined array, axis within its ndim) of concat or stack (the backend's
    function `name`); ValueError naming the shapes when they do not join."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    _check_same(name, tensors)
    be = backend_of(tensors[0].data)
    try:
        out = getattr(be, name)([t.data for t in tensors], axis)
    except (ValueError, np.exceptions.AxisError) as e:
        shapes = [t.shape for t in tensors]
        raise ValueError(f"{name}: cannot {verb} shapes {shapes} along axis {axis}: {e}") from None
    return tensors, be, out, axis % out.ndim


def concat(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis; each gets its slice of g back."""
    tensors, be, out, ax = _join("concat", "join", tensors, axis)
    bounds = np.cumsum([t.shape[ax] for t in tensors])[:-1].tolist()
    return record("concat", out, tuple(tensors), lambda g: tuple(be.split(g, bounds, ax)))


def stack(tensors, axis: int = 0) -> Tensor:
    """Join tensors along a new axis; each gets its index of g back."""
    tensors, be, out, ax = _join("stack", "stack", tensors, axis)
    n = len(tensors)

    def backward(g):
        return tuple(be.reshape(p, p.shape[:ax] + p.shape[ax + 1:])
                     for p in be.split(g, list(range(1, n)), ax))

    return record("stack", out, tuple(tensors), backward)


def split(a: Tensor, sections, axis: int = 0) -> list[Tensor]:
    """Cut a along axis into `sections` equal parts, or parts of the given sizes (a list).

    One multi-output node: backward concatenates the parts' gradients (zeros where none came).
    """
    if a.ndim == 0:
        raise ValueError("split: cannot split a 0-d tensor")
    ax = axis_index("split", axis, a.ndim)
    size = a.shape[ax]
    if isinstance(sections, int):
        if sections <= 0 or size % sections:
            raise ValueError(f"split: axis {axis} of size {size} does not divide into "
                             f"{sections} equal parts")
        sizes = [size // sections] * sections
    else:
        sizes = list(sections)
        if sum(sizes) != size or any(n < 0 for n in sizes):
            raise ValueError(f"split: sizes {sizes} must be >= 0 and add up to axis {axis}'s "
                             f"size {size}, they add up to {sum(sizes)}")
    be = backend_of(a.data)
    bounds = np.cumsum(sizes)[:-1].tolist()
    parts = be.split(a.data, bounds, ax)
    dtype = a.dtype

    def backward(grads):
        full = [g if g is not None else be.zeros(p.shape, dtype) for g, p in zip(grads, parts)]
        return (be.concat(full, ax),)

    return record_multi("split", parts, (a,), backward)


def unstack(a: Tensor, axis: int = 0) -> list[Tensor]:
    """The slices of a along axis (the inverse of stack); backward stacks their gradients."""
    if a.ndim == 0:
        raise ValueError("unstack: cannot unstack a 0-d tensor")
    be = backend_of(a.data)
    ax = axis_index("unstack", axis, a.ndim)
    n = a.shape[ax]
    parts = [be.getitem(a.data, (slice(None),) * ax + (i,)) for i in range(n)]
    dtype = a.dtype

    def backward(grads):
        full = [g if g is not None else be.zeros(p.shape, dtype) for g, p in zip(grads, parts)]
        return (be.stack(full, ax),)

    return record_multi("unstack", parts, (a,), backward)


def to_device(a: Tensor, device: str) -> Tensor:
    """a copied to `device`; the gradient is copied back to a's device."""
    source, target = backend_of(a.data), get(device)
    if source is target:
        return a
    out = target.from_host(source.to_host(a.data))
    return record("to", out, (a,), lambda g: (source.from_host(target.to_host(g)),))
