"""More shape ops: squeeze/unsqueeze, flatten/unflatten, expand/broadcast_to, repeat/tile, flip,
roll, pad, tril/triu, diagonal.

Most are one indexing primitive (a slice or integer index arrays built on the host), so their
gradient is getitem's scatter and they run on every backend; broadcast_to and pad's constant mode
are primitives of their own. numpy's conventions: ``repeat`` repeats elements (torch's
``repeat_interleave``), ``tile`` repeats the whole tensor (torch's ``repeat``), ``pad`` takes
numpy's per-axis ``(before, after)`` widths, first axis first.
"""

from __future__ import annotations

import numpy as np

from ..autograd import record
from ..backends import backend_of
from ..tensor import Tensor
from .axes import integer, integers
from .elementwise import where
from .reductions import axis_index
from .shape import getitem, reshape


def _axes(name, axis, ndim):
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = tuple(axis_index(name, ax, ndim) for ax in axes)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated axis in {axis}")
    return out


def squeeze(a: Tensor, axis=None) -> Tensor:
    """a without its size-1 axes (only `axis`, which must have size 1, when given)."""
    if axis is None:
        return reshape(a, tuple(n for n in a.shape if n != 1))
    if a.ndim == 0:  # axis 0 or -1 of a 0-d tensor: nothing to squeeze (torch's rule)
        for ax in (axis,) if isinstance(axis, int | np.integer) else tuple(axis):
            if ax not in (0, -1):
                raise ValueError(f"squeeze: axis {ax} is out of range for a 0-d tensor (0 or -1)")
        return reshape(a, ())
    axes = _axes("squeeze", axis, a.ndim)
    for ax in axes:
        if a.shape[ax] != 1:
            raise ValueError(f"squeeze: axis {ax} has size {a.shape[ax]}, expected 1 "
                             f"(shape {a.shape})")
    return reshape(a, tuple(n for i, n in enumerate(a.shape) if i not in axes))


def unsqueeze(a: Tensor, axis: int) -> Tensor:
    """a with a new size-1 axis at `axis` (numpy's expand_dims)."""
    ax = axis_index("unsqueeze", axis, a.ndim + 1)
    return reshape(a, a.shape[:ax] + (1,) + a.shape[ax:])


def flatten(a: Tensor, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    """a with axes start_axis..end_axis (inclusive) merged into one."""
    if a.ndim == 0:
        return reshape(a, (1,))
    start = axis_index("flatten", start_axis, a.ndim)
    end = axis_index("flatten", end_axis, a.ndim)
    if start > end:
        raise ValueError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis}")
    merged = int(np.prod(a.shape[start:end + 1]))
    return reshape(a, a.shape[:start] + (merged,) + a.shape[end + 1:])


def unflatten(a: Tensor, axis: int, sizes) -> Tensor:
    """a with `axis` split into `sizes` (one may be -1)."""
    ax = axis_index("unflatten", axis, a.ndim)
    sizes = tuple(int(n) for n in sizes)
    known = int(np.prod([n for n in sizes if n != -1]))
    if sizes.count(-1) > 1 or (sizes.count(-1) == 0 and known != a.shape[ax]) or (
            sizes.count(-1) == 1 and (known == 0 or a.shape[ax] % known)):
        raise ValueError(f"unflatten: sizes {sizes} do not fit axis {axis} of size {a.shape[ax]}")
    return reshape(a, a.shape[:ax] + sizes + a.shape[ax + 1:])


def broadcast_to(a: Tensor, shape) -> Tensor:
    """a broadcast to `shape` (numpy's rules); the gradient is summed back to a's shape."""
    shape = tuple(int(n) for n in shape)
    try:
        np.broadcast_shapes(a.shape, shape)
        if len(shape) < a.ndim or np.broadcast_shapes(a.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"broadcast_to: shape {a.shape} does not broadcast to {shape}") from None
    be = backend_of(a.data)
    source = a.shape
    return record("broadcast_to", be.broadcast_to(a.data, shape), (a,),
                  lambda g: (be.sum_to(g, source),))


def expand(a: Tensor, *sizes) -> Tensor:
    """torch's expand: broadcast_to where -1 keeps an axis's size."""
    sizes = tuple(sizes[0]) if len(sizes) == 1 and not isinstance(sizes[0], int) else sizes
    lead = len(sizes) - a.ndim
    if lead < 0:
        raise ValueError(f"expand: {len(sizes)} sizes for a tensor of {a.ndim} dims")
    shape = tuple(a.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
    return broadcast_to(a, shape)


def _take(a: Tensor, ax: int, positions) -> Tensor:
    """a indexed along axis ax by host integer positions (a gather; backward scatters)."""
    return getitem(a, (slice(None),) * ax + (np.asarray(positions, dtype=np.int64),))


def repeat(a: Tensor, repeats, axis=None) -> Tensor:
    """Each element repeated `repeats` times along axis (numpy's repeat; flattened when None)."""
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    ax = axis_index("repeat", axis, a.ndim)
    given = np.asarray(getattr(repeats, "data", repeats))
    if given.dtype.kind not in "iu":  # a float count was truncated silently
        raise TypeError(f"repeat: repeats must be integers, got {repeats!r}")
    counts = np.broadcast_to(given.astype(np.int64), (a.shape[ax],))
    if np.any(counts < 0):
        raise ValueError(f"repeat: repeats must be >= 0, got {repeats}")
    return _take(a, ax, np.repeat(np.arange(a.shape[ax]), counts))


def tile(a: Tensor, reps) -> Tensor:
    """a repeated as a whole `reps` times along each axis (numpy's tile, torch's repeat)."""
    reps = integers("tile", "reps", reps)
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: reps must be >= 0, got {reps}")
    if len(reps) > a.ndim:
        a = reshape(a, (1,) * (len(reps) - a.ndim) + a.shape)
    reps = (1,) * (a.ndim - len(reps)) + reps
    for ax, r in enumerate(reps):
        if r != 1:
            a = _take(a, ax, np.tile(np.arange(a.shape[ax]), r))
    return a


def flip(a: Tensor, axis=None) -> Tensor:
    """a reversed along axis (all axes when None)."""
    axes = tuple(range(a.ndim)) if axis is None else _axes("flip", axis, a.ndim)
    return getitem(a, tuple(slice(None, None, -1) if i in axes else slice(None)
                            for i in range(a.ndim)))


def roll(a: Tensor, shift, axis=None) -> Tensor:
    """a shifted cyclically by `shift` along axis (flattened and back when None)."""
    if axis is None:
        return reshape(roll(reshape(a, (-1,)), shift, 0), a.shape)
    shifts = integers("roll", "shift", shift)
    axes = _axes("roll", axis, a.ndim)
    if len(shifts) != len(axes):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(axes)} axes")
    for s, ax in zip(shifts, axes):
        a = _take(a, ax, np.roll(np.arange(a.shape[ax]), int(s)))
    return a


def _pad_widths(pad_width, ndim):
    widths = np.asarray(pad_width, dtype=np.int64)
    try:
        widths = np.broadcast_to(widths.reshape(-1, 2) if widths.size != 1 else widths,
                                 (ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not give (before, after) for each "
                         f"of {ndim} axes") from None
    if np.any(widths < 0):
        raise ValueError(f"pad: widths must be >= 0, got {pad_width!r}")
    return [tuple(int(v) for v in w) for w in widths]


def pad(a: Tensor, pad_width, mode: str = "constant", value=0.0) -> Tensor:
    """a padded by numpy's pad_width per axis: mode 'constant' (value), 'reflect' or 'replicate'
    (numpy's 'edge')."""
    widths = _pad_widths(pad_width, a.ndim)
    if mode in ("reflect", "replicate", "edge"):
        for ax, (before, after) in enumerate(widths):
            if before or after:
                n = a.shape[ax]
                if mode == "reflect" and (before >= n or after >= n):
                    raise ValueError(f"pad: reflect needs widths < the axis size, got "
                                     f"{(before, after)} on axis {ax} of size {n}")
                np_mode = "reflect" if mode == "reflect" else "edge"
                a = _take(a, ax, np.pad(np.arange(n), (before, after), mode=np_mode))
        return a
    if mode != "constant":
        raise ValueError(f"pad: mode must be 'constant', 'reflect' or 'replicate', got {mode!r}")
    be = backend_of(a.data)
    shape = tuple(n + b + e for n, (b, e) in zip(a.shape, widths))
    inner = tuple(slice(b, b + n) for n, (b, _) in zip(a.shape, widths))
    out = be.slice_set(shape, inner, a.data, a.dtype)
    if value != 0:  # chosen, not added: inf * 0 inside would be NaN
        interior = np.zeros(shape, dtype=bool)
        interior[inner] = True
        out = be.where(be.from_host(interior), out, a.dtype.type(value))
    return record("pad", out, (a,), lambda g: (be.getitem(g, inner),))


def _triangle(name, a: Tensor, k: int, lower: bool) -> Tensor:
    k = integer(name, "k", k)
    if a.ndim < 2:
        raise ValueError(f"{name}: needs at least 2 dims, got shape {a.shape}")
    rows, cols = a.shape[-2:]
    keep = np.tri(rows, cols, k, dtype=bool) if lower else ~np.tri(rows, cols, k - 1, dtype=bool)
    return where(keep, a, np.zeros((), a.dtype))  # a's dtype kept (bool stays bool)


def tril(a: Tensor, k: int = 0) -> Tensor:
    """a with the elements above the k-th diagonal of its last two axes set to 0."""
    return _triangle("tril", a, k, True)


def triu(a: Tensor, k: int = 0) -> Tensor:
    """a with the elements below the k-th diagonal of its last two axes set to 0."""
    return _triangle("triu", a, k, False)


def diagonal(a: Tensor, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The offset diagonal over axis1 and axis2, as the last axis (numpy's diagonal)."""
    if a.ndim < 2:
        raise ValueError(f"diagonal: needs at least 2 dims, got shape {a.shape}")
    ax1, ax2 = axis_index("diagonal", axis1, a.ndim), axis_index("diagonal", axis2, a.ndim)
    if ax1 == ax2:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, got {axis1} and {axis2}")
    rest = [i for i in range(a.ndim) if i not in (ax1, ax2)]
    moved = a.transpose(tuple(rest) + (ax1, ax2))
    n1, n2 = a.shape[ax1], a.shape[ax2]
    start1, start2 = (0, offset) if offset >= 0 else (-offset, 0)
    length = max(0, min(n1 - start1, n2 - start2))
    index = (slice(None),) * len(rest) + (np.arange(start1, start1 + length),
                                          np.arange(start2, start2 + length))
    return getitem(moved, index)
