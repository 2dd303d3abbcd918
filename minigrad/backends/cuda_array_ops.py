"""CUDA backend: shape ops (reshape, transpose, broadcast_to, indexing, concat/stack/split).

numpy works out every view's shape, offset and strides on the host (``indexing.basic_view``);
a gather kernel then materialises the view contiguously on the device, unless the view already is
contiguous, in which case it is returned as a device view (no copy), as numpy would.
"""

from __future__ import annotations

import math

import numpy as np

from . import cuda_kernels as k
from .cuda_base import check_device, empty, flat, from_host, is_device_array, to_host, zeros
from .indexing import at_least_1d, basic_view, broadcast_strides, contiguous_strides


def _gather(a, shape, offset, strides):
    """A C-contiguous copy (or a view, when already contiguous) of a strided view of flat a."""
    shape = tuple(shape)
    size = math.prod(shape)
    if _is_contiguous(shape, strides):
        return flat(a)[offset:offset + size].reshape(shape)
    out = empty(shape, a.dtype)
    if size:
        padded, padded_strides = at_least_1d(shape, strides)
        k.gather[k.launch(size)](flat(a), offset, padded, padded_strides, flat(out))
    return out


def _is_contiguous(shape, strides) -> bool:
    expected = contiguous_strides(shape)
    return all(n == 1 or s == e for n, s, e in zip(shape, strides, expected))


def reshape(a, shape):
    check_device(a)
    shape = (shape,) if isinstance(shape, int | np.integer) else tuple(int(n) for n in shape)
    unknown = [i for i, n in enumerate(shape) if n == -1]
    known = math.prod(n for n in shape if n != -1)
    if len(unknown) > 1 or any(n < -1 for n in shape):
        raise ValueError(f"cannot reshape array of size {a.size} into shape {shape}")
    if unknown:
        if known == 0 or a.size % known:
            raise ValueError(f"cannot reshape array of size {a.size} into shape {shape}")
        shape = shape[: unknown[0]] + (a.size // known,) + shape[unknown[0] + 1:]
    if math.prod(shape) != a.size:
        raise ValueError(f"cannot reshape array of size {a.size} into shape {shape}")
    return flat(a).reshape(shape)


def transpose(a, axes):
    check_device(a)
    axes = tuple(range(len(a.shape)))[::-1] if axes is None else tuple(axes)
    if sorted(axes) != list(range(len(a.shape))):
        raise ValueError(f"axes {axes} don't match array of {len(a.shape)} dims")
    strides = contiguous_strides(a.shape)
    return _gather(a, [a.shape[ax] for ax in axes], 0, [strides[ax] for ax in axes])


def broadcast_to(a, shape):
    check_device(a)
    shape = tuple(shape)
    if tuple(a.shape) == shape:
        return a
    return _gather(a, shape, 0, broadcast_strides(a.shape, shape))


# ---- indexing ----------------------------------------------------------------------------------


def _is_basic(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, int | slice) for p in parts)


def _host(part):
    return to_host(part) if is_device_array(part) else part


def _rows_index(shape, index):
    """The integer array when `index` picks whole rows (a[idx]), checked and wrapped; else None."""
    if isinstance(index, tuple):
        if len(index) != 1:
            return None
        index = index[0]
    if is_device_array(index) or not isinstance(index, np.ndarray | list):
        return None
    rows = np.asarray(index)
    if not np.issubdtype(rows.dtype, np.integer) or not shape:
        return None
    if rows.size and (rows.min() < -shape[0] or rows.max() >= shape[0]):
        bad = rows[(rows < -shape[0]) | (rows >= shape[0])].reshape(-1)[0]
        raise IndexError(f"index {bad} is out of bounds for axis 0 with size {shape[0]}")
    return np.where(rows < 0, rows + shape[0], rows).astype(np.int64)


def _positions(shape, index):
    """Flat source positions of each element of a[index], for any numpy index (host work)."""
    index = tuple(_host(p) for p in index) if isinstance(index, tuple) else _host(index)
    return np.arange(math.prod(shape), dtype=np.int64).reshape(shape)[index]


def getitem(a, index):
    check_device(a)
    shape = tuple(a.shape)
    if _is_basic(index):
        view_shape, offset, strides = basic_view(shape, index)
        return _gather(a, view_shape, offset, strides)
    rows = _rows_index(shape, index)
    if rows is not None:
        row_size = math.prod(shape[1:])
        out = empty(rows.shape + shape[1:], a.dtype)
        if out.size:
            k.gather_rows[k.launch(out.size)](flat(a), from_host(rows.reshape(-1)), row_size,
                                              flat(out))
        return out
    positions = _positions(shape, index)
    out = empty(positions.shape, a.dtype)
    if out.size:
        k.gather_map[k.launch(out.size)](flat(a), from_host(positions.reshape(-1)), flat(out))
    return out


def index_add(shape, index, g, dtype):
    """Zeros of `shape` with g added at `index` (repeated integer indices accumulate)."""
    check_device(g)
    shape = tuple(shape)
    out = zeros(shape, dtype)
    rows = _rows_index(shape, index)
    positions = rows if rows is not None else _positions(shape, index)
    expected = rows.shape + shape[1:] if rows is not None else positions.shape
    g = broadcast_to(g, expected)
    if g.size:
        if rows is not None:
            k.scatter_add_rows[k.launch(g.size)](flat(g), from_host(rows.reshape(-1)),
                                                 math.prod(shape[1:]), flat(out))
        else:
            k.scatter_add_map[k.launch(g.size)](flat(g), from_host(positions.reshape(-1)),
                                                flat(out))
    return out


def _scatter(out, view_shape, offset, strides, g):
    g = broadcast_to(g, tuple(view_shape))
    if g.size:
        padded, padded_strides = at_least_1d(tuple(view_shape), strides)
        k.scatter[k.launch(g.size)](flat(g), offset, padded, padded_strides, flat(out))


def slice_add(out, index, g):
    """out[index] += g in place at a basic (slice/int) index; g broadcasts to the slice."""
    check_device(out, g)
    view_shape, offset, strides = basic_view(tuple(out.shape), index)
    view_shape = tuple(view_shape)
    part = _gather(out, view_shape, offset, strides)  # a view of out when contiguous
    g = broadcast_to(g, view_shape)
    if part.size:
        k.binary_same[k.launch(part.size)](k.ADD, flat(part), flat(g), flat(part))
        if not _is_contiguous(view_shape, strides):
            _scatter(out, view_shape, offset, strides, part)


# ---- joining and splitting ---------------------------------------------------------------------


def _axis(axis, ndim):
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


def slice_set(shape, index, g, dtype):
    """Zeros of `shape` with g written at a basic (slice/int) index."""
    check_device(g)
    out = zeros(tuple(shape), dtype)
    view_shape, offset, strides = basic_view(tuple(shape), index)
    _scatter(out, view_shape, offset, strides, g)
    return out


def _first_shape(arrays, verb):
    """The shape of the first of `arrays` (device arrays, at least one), numpy's errors."""
    check_device(*arrays)
    if not arrays:
        raise ValueError(f"need at least one array to {verb}")
    return tuple(arrays[0].shape)


def concat(arrays, axis):
    first = _first_shape(arrays, "concatenate")
    if not first:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    ax = _axis(axis, len(first))
    for a in arrays[1:]:
        s = tuple(a.shape)
        if len(s) != len(first) or s[:ax] + s[ax + 1:] != first[:ax] + first[ax + 1:]:
            raise ValueError(f"all the input array dimensions except for the concatenation axis "
                             f"must match exactly, got {first} and {s} along axis {ax}")
        if a.dtype != arrays[0].dtype:
            raise ValueError(f"dtypes differ: {arrays[0].dtype} and {a.dtype}")
    total = sum(a.shape[ax] for a in arrays)
    out_shape = first[:ax] + (total,) + first[ax + 1:]
    out = empty(out_shape, arrays[0].dtype)
    start = 0
    for a in arrays:
        index = (slice(None),) * ax + (slice(start, start + a.shape[ax]),)
        view_shape, offset, strides = basic_view(out_shape, index)
        _scatter(out, view_shape, offset, strides, a)
        start += a.shape[ax]
    return out


def stack(arrays, axis):
    first = _first_shape(arrays, "stack")
    if any(tuple(a.shape) != first for a in arrays):
        raise ValueError(f"all input arrays must have the same shape, got "
                         f"{[tuple(a.shape) for a in arrays]}")
    ax = _axis(axis, len(first) + 1)
    expanded = [reshape(a, first[:ax] + (1,) + first[ax:]) for a in arrays]
    return concat(expanded, ax)


def split(a, indices, axis):
    check_device(a)
    shape = tuple(a.shape)
    ax = _axis(axis, len(shape))
    bounds = [0, *[min(int(i), shape[ax]) for i in indices], shape[ax]]
    parts = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        index = (slice(None),) * ax + (slice(start, max(start, stop)),)
        parts.append(getitem(a, index))
    return parts

