"""The step counts of a fused recurrence from its ``lengths`` (PackedSequence semantics), checked
once here for every caller: the primitives of ``ops/recurrent.py`` and compiled cells."""

from __future__ import annotations

import numpy as np

from ..autograd import host_check, state
from ..backends import backend_of
from ..tensor import Tensor


def step_counts(name, lengths, T, B):
    """int64 (B,) valid steps per batch element (all T when lengths is None); ValueError naming
    `name` for a wrong shape, dtype or a length outside 1..T. Under mg.compile a CPU lengths
    tensor stays a program value, checked on every call (autograd.host_check)."""
    if lengths is None:
        return np.full(B, T, dtype=np.int64)
    compiled = state.compiling and isinstance(lengths, Tensor) and \
        type(lengths.data) is np.ndarray
    # under mg.compile the program reads the lengths (and checks them on every call)
    raw = lengths.data if compiled else (
        lengths.numpy() if isinstance(lengths, Tensor) else np.asarray(lengths))
    if raw.shape != (B,) or not (np.issubdtype(raw.dtype, np.integer) or raw.size == 0):
        raise ValueError(f"{name}: lengths must be integers of shape ({B},) (one per batch "
                         f"element), got {raw.dtype} of shape {raw.shape}")
    if compiled:
        host_check(lambda a: _check_lengths(name, a, T), raw)
        return backend_of(raw).astype(raw, np.dtype(np.int64))
    steps = raw.astype(np.int64)
    _check_lengths(name, steps, T)
    return steps


def _check_lengths(name, steps, T):
    bad = (steps < 1) | (steps > T)
    if bad.any():
        b = int(np.argmax(bad))
        raise ValueError(f"{name}: lengths must lie in 1..{T} (T = x.shape[0]), got "
                         f"lengths[{b}] = {int(steps[b])}")
