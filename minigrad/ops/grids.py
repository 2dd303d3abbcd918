"""Grids and windows: diag, meshgrid, unfold (torch's Tensor.unfold), masked_select, nonzero.

Each is one indexing primitive with indices built on the host (or a broadcast), so the values'
gradient is getitem's scatter (or broadcast_to's sum) and they run on every backend.
``masked_select`` and ``nonzero`` have data-dependent sizes: they read the mask (or the tensor)
on the host once, as torch does (a device sync).
"""

from __future__ import annotations

import numpy as np

from ..backends import backend_of
from ..tensor import Tensor
from .elementwise import where
from .reductions import axis_index
from .shape import getitem, reshape, transpose
from .shape_more import broadcast_to, diagonal


def _tensor(name, a) -> Tensor:
    if not isinstance(a, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(a).__name__}")
    return a


def diag(a: Tensor, k: int = 0) -> Tensor:
    """A 1-d tensor placed on the k-th diagonal of a square matrix, or the k-th diagonal of a 2-d
    tensor (numpy's and torch's diag)."""
    a = _tensor("diag", a)
    if not isinstance(k, int | np.integer):
        raise TypeError(f"diag: k must be an integer, got {k!r}")
    if a.ndim == 2:
        return diagonal(a, int(k), 0, 1)
    if a.ndim != 1:
        raise ValueError(f"diag: needs a 1-d or 2-d tensor, got shape {a.shape}")
    n, k = a.shape[0], int(k)
    m = n + abs(k)
    be = backend_of(a.data)
    if n == 0:
        return Tensor._wrap(be.zeros((m, m), a.dtype))
    rows, cols = np.indices((m, m))
    along = rows if k >= 0 else cols  # position in a of the element at (row, col)
    on = (cols - rows == k) & (along < n)
    picked = getitem(a, np.where(on, along, 0))
    mask = Tensor._wrap(be.from_host(on))
    return where(mask, picked, Tensor._wrap(be.zeros((), a.dtype)))


def meshgrid(*tensors, indexing: str = "xy") -> list[Tensor]:
    """Coordinate grids of 1-d tensors: indexing="xy" (numpy's default) swaps the first two axes
    of the "ij" grid (torch's default); each keeps its dtype; gradients sum back."""
    if len(tensors) == 1 and isinstance(tensors[0], list | tuple):
        tensors = tuple(tensors[0])
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    tensors = [_tensor("meshgrid", t) for t in tensors]
    for i, t in enumerate(tensors):
        if t.ndim > 1:
            raise ValueError(f"meshgrid: tensor {i} must be 0-d or 1-d, got shape {t.shape}")
    sizes = [t.size for t in tensors]
    positions = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        positions[0], positions[1] = 1, 0
        sizes[0], sizes[1] = sizes[1], sizes[0]
    shape = tuple(sizes)
    out = []
    for t, p in zip(tensors, positions):
        view = [1] * len(shape)
        view[p] = t.size
        out.append(broadcast_to(reshape(t, tuple(view)), shape))
    return out


def unfold(a: Tensor, axis: int, size: int, step: int) -> Tensor:
    """Windows of `size` every `step` along axis (torch's Tensor.unfold): that axis becomes the
    window count, (n - size) // step + 1, and a new last axis of length size holds each window."""
    a = _tensor("unfold", a)
    if not isinstance(size, int | np.integer) or size < 0:
        raise ValueError(f"unfold: size must be an integer >= 0, got {size!r}")
    if not isinstance(step, int | np.integer) or step <= 0:
        raise ValueError(f"unfold: step must be an integer > 0, got {step!r}")
    ax = axis_index("unfold", axis, a.ndim)
    n = a.shape[ax] if a.ndim else 1
    if size > n:
        raise ValueError(f"unfold: size {size} is larger than axis {axis} of length {n}")
    if a.ndim == 0:
        return reshape(a, (size,))
    windows = (n - size) // step + 1
    positions = np.arange(windows)[:, None] * step + np.arange(size)[None, :]
    picked = getitem(a, (slice(None),) * ax + (positions,))
    order = [d for d in range(picked.ndim) if d != ax + 1] + [ax + 1]
    return transpose(picked, tuple(order))


def masked_select(a: Tensor, mask) -> Tensor:
    """The 1-d tensor of a's elements where the bool mask is True (both broadcast, row-major
    order); the gradient scatters back to those places."""
    a = _tensor("masked_select", a)
    m = mask.numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_select: mask must be bool, got {m.dtype}")
    try:
        shape = np.broadcast_shapes(a.shape, m.shape)
    except ValueError:
        raise ValueError(f"masked_select: mask of shape {m.shape} does not broadcast with the "
                         f"tensor's shape {a.shape}") from None
    flat = reshape(broadcast_to(a, shape) if a.shape != shape else a, (-1,))
    return getitem(flat, np.flatnonzero(np.broadcast_to(m, shape)))


def nonzero(a: Tensor, as_tuple: bool = False):
    """Indices of the nonzero elements, row-major: torch's convention, an int64 (count, ndim)
    tensor (a 0-d tensor gives (1, 0) or (0, 0)); as_tuple=True gives numpy's convention, one
    1-d index tensor per axis (a 0-d tensor counts as 1-d). No gradient."""
    a = _tensor("nonzero", a)
    be = backend_of(a.data)
    values = a.numpy()
    if as_tuple:
        found = np.nonzero(values.reshape(-1) if values.ndim == 0 else values)
        return tuple(Tensor._wrap(be.from_host(i.astype(np.int64))) for i in found)
    return Tensor._wrap(be.from_host(np.argwhere(values).astype(np.int64)))
