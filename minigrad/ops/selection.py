"""Selection: take_along_axis/gather, scatter_add, index_select, masked_fill, one_hot, sort,
argsort, topk.

Indices are host integer arrays (device indices are copied to the host once, as ``getitem``
does); the values move through ``getitem``'s gather, so their gradients scatter back (repeated
indices accumulate). ``gather(a, axis, index)`` is torch's name and argument order for numpy's
``take_along_axis(a, indices, axis)``.
"""

from __future__ import annotations

import numpy as np

from ..autograd import record
from ..backends import backend_of
from ..tensor import Tensor
from .elementwise import where
from .reductions import axis_index
from .shape import getitem


def _host_indices(name, index) -> np.ndarray:
    values = index.numpy() if isinstance(index, Tensor) else np.asarray(index)
    if values.dtype.kind not in "iu":
        raise ValueError(f"{name}: indices must be integers, got dtype {values.dtype}")
    return values.astype(np.int64, copy=False)


def _along_axis(name, shape, indices, ax):
    """indices checked against `shape` and wrapped into [0, n) along axis ax."""
    if indices.ndim != len(shape):
        raise ValueError(f"{name}: indices have {indices.ndim} dims, the tensor {len(shape)} "
                         f"(shape {tuple(shape)}); they must match")
    for d in range(len(shape)):
        if d != ax and indices.shape[d] > shape[d]:
            raise ValueError(f"{name}: indices of shape {indices.shape} exceed the tensor's "
                             f"shape {tuple(shape)} on axis {d}")
    n = shape[ax]
    if indices.size and (indices.min() < -n or indices.max() >= n):
        bad = indices[(indices < -n) | (indices >= n)].flat[0]
        raise ValueError(f"{name}: index {bad} is out of range for axis {ax} of size {n}")
    return np.where(indices < 0, indices + n, indices) if indices.size else indices


def take_along_axis(a: Tensor, indices, axis: int) -> Tensor:
    """out[..., i, ...] = a[..., indices[..., i, ...], ...] along axis (numpy's); backward adds g
    back at the indices (repeats accumulate)."""
    return _take_along("take_along_axis", a, indices, axis)


def gather(a: Tensor, axis: int, index) -> Tensor:
    """torch.gather: take_along_axis(a, index, axis) (its errors name gather)."""
    return _take_along("gather", a, index, axis)


def _take_along(name, a: Tensor, indices, axis: int) -> Tensor:
    ax = axis_index(name, axis, a.ndim)
    idx = _along_axis(name, a.shape, _host_indices(name, indices), ax)
    be = backend_of(a.data)
    shape, dtype = a.shape, a.dtype
    return record("take_along_axis", be.take_along_axis(a.data, idx, ax), (a,),
                  lambda g: (be.scatter_add_along_axis(shape, idx, g, ax, dtype),))


def scatter_add(a: Tensor, axis: int, index, src: Tensor) -> Tensor:
    """a with src[..., i, ...] added at a[..., index[..., i, ...], ...] (repeats accumulate);
    d/da = g, d/dsrc = g gathered at index."""
    ax = axis_index("scatter_add", axis, a.ndim)
    indices = _host_indices("scatter_add", index)
    if not isinstance(src, Tensor):
        src = Tensor._wrap(backend_of(a.data).full(indices.shape, src, a.dtype))
    if src.shape != indices.shape or src.dtype != a.dtype:
        raise ValueError(f"scatter_add: src must have index's shape {indices.shape} and the "
                         f"tensor's dtype {a.dtype}, got {src.dtype}{list(src.shape)}")
    idx = _along_axis("scatter_add", a.shape, indices, ax)
    be = backend_of(a.data)
    out = be.add(a.data, be.scatter_add_along_axis(a.shape, idx, src.data, ax, a.dtype))
    return record("scatter_add", out, (a, src), lambda g: (g, be.take_along_axis(g, idx, ax)))


def index_select(a: Tensor, axis: int, index) -> Tensor:
    """The slices of a at the 1-d integer `index` along axis (torch's argument order; a 0-d
    index is one index, the axis kept with size 1, as torch's)."""
    ax = axis_index("index_select", axis, a.ndim)
    indices = _host_indices("index_select", index)
    if indices.ndim == 0:
        indices = indices.reshape(1)
    if indices.ndim != 1:
        raise ValueError(f"index_select: index must be 1-d (or 0-d), got shape {indices.shape}")
    n = a.shape[ax]
    if indices.size and (indices.min() < -n or indices.max() >= n):
        raise ValueError(f"index_select: indices must be in [-{n}, {n}) for axis {ax}, got "
                         f"{indices.min()}..{indices.max()}")
    return getitem(a, (slice(None),) * ax + (indices,))


def masked_fill(a: Tensor, mask, value) -> Tensor:
    """a with `value` where mask is True (mask broadcasts); no gradient flows to filled places."""
    return where(mask, value, a)


def one_hot(indices, num_classes: int = -1) -> Tensor:
    """int64 tensor (..., num_classes) with 1 at each index (num_classes = max + 1 when -1)."""
    values = _host_indices("one_hot", indices)
    if num_classes == -1:
        num_classes = int(values.max()) + 1 if values.size else 0
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        raise ValueError(f"one_hot: indices must be in [0, {num_classes}), got "
                         f"{values.min()}..{values.max()}")
    out = np.eye(num_classes, dtype=np.int64)[values]
    if isinstance(indices, Tensor) and indices.device != "cpu":
        return Tensor._wrap(backend_of(indices.data).from_host(out))
    return Tensor._wrap(out)


def argsort(a: Tensor, axis: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """int64 indices that sort a along axis; stable=True keeps ties in order (slower on the CPU:
    numpy's stable sort of floats is a merge sort)."""
    if a.ndim == 0:
        return Tensor._wrap(backend_of(a.data).zeros((), np.int64))
    ax = axis_index("argsort", axis, a.ndim)
    return Tensor._wrap(backend_of(a.data).argsort(a.data, ax, descending, stable))


def sort(a: Tensor, axis: int = -1, descending: bool = False,
         stable: bool = False) -> tuple[Tensor, Tensor]:
    """(values, indices) of a sorted along axis; values carry the gradient."""
    if a.ndim == 0:
        return a, argsort(a)
    order = argsort(a, axis, descending, stable)
    return take_along_axis(a, order, axis), order


def topk(a: Tensor, k: int, axis: int = -1, largest: bool = True) -> tuple[Tensor, Tensor]:
    """(values, indices) of the k largest (or smallest) along axis, sorted; values carry the
    gradient."""
    ax = axis_index("topk", axis, a.ndim)
    if not 0 <= k <= a.shape[ax]:
        raise ValueError(f"topk: k={k} is outside [0, {a.shape[ax]}] for axis {axis}")
    order = argsort(a, ax, descending=largest)
    order = getitem(order, (slice(None),) * ax + (slice(0, k),))
    return take_along_axis(a, order, ax), order
