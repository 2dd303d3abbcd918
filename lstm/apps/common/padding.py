"""Padded batches that a compiled training step can take without tracing once per batch.

A variable-length batch is padded to its own longest sequence, so each new longest length is a
new input signature for `mg.compile` (a trace per length, the bounded cache thrashing). When the
step is compiled the applications pad each batch instead to the shortest of a few `buckets`
(evenly spaced up to the training split's longest sequence) that holds it, and pass the lengths
as an int64 `Tensor`, so the program reads them on every call: at most `BUCKETS` shapes (twice
that with a short last batch) are traced per run. The padded steps are masked (`valid_mask`), so
the losses do not change beyond float rounding.
"""

from __future__ import annotations

import numpy as np

import minigrad as mg

from ...checks import check_length_range

BUCKETS = 4  # padded lengths per split when the step is compiled


def buckets(longest: int, count: int = BUCKETS) -> tuple[int, ...]:
    """Up to `count` evenly spaced padded lengths, the last `longest` (the split's longest)."""
    if longest < 1 or count < 1:
        raise ValueError(f"buckets: longest and count must be >= 1, got {longest} and {count}")
    return tuple(sorted({-(-longest * k // count) for k in range(1, count + 1)}))


def pad_to(array: np.ndarray, steps: int, axis: int, fill=0) -> np.ndarray:
    """`array` extended with `fill` along `axis` to `steps` entries (as it is when it has them)."""
    missing = steps - array.shape[axis]
    if missing < 0:
        raise ValueError(f"pad_to: axis {axis} has {array.shape[axis]} entries, more than "
                         f"steps={steps}")
    if missing == 0:
        return array
    widths = [(0, 0)] * array.ndim
    widths[axis] = (0, missing)
    return np.pad(array, widths, constant_values=fill)


def to_bucket(array: np.ndarray, axis: int, sizes: tuple[int, ...] | None, fill=0) -> np.ndarray:
    """`array` padded along `axis` to the shortest of `sizes` that holds it (None: as it is)."""
    if sizes is None:
        return array
    length = array.shape[axis]
    fitting = [s for s in sizes if s >= length]
    if not fitting:
        raise ValueError(f"to_bucket: a batch of length {length} is longer than every bucket "
                         f"{sizes}")
    return pad_to(array, fitting[0], axis, fill)


def valid_mask(lengths, steps: int, batch_first: bool = False):
    """True where t < lengths[b]: (steps, B), or (B, steps) with batch_first. Numpy lengths
    give a numpy array; an int64 Tensor gives a bool Tensor computed from it (under mg.compile
    the program reads the lengths on every call, their range checked on every call)."""
    tensor = isinstance(lengths, mg.Tensor)
    array = lengths if tensor else np.asarray(lengths)
    if array.ndim != 1 or array.shape[0] == 0:
        raise ValueError(f"lengths must be a non-empty (B,) array, got shape {array.shape}")

    check_length_range(array, steps)
    times = np.arange(steps)
    if not tensor:
        return times[None, :] < array[:, None] if batch_first else times[:, None] < array[None, :]
    if batch_first:
        return mg.less(times.reshape(1, steps), array.reshape(array.shape[0], 1))
    return mg.less(times.reshape(steps, 1), array.reshape(1, array.shape[0]))
