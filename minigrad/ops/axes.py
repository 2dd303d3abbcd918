"""Axis arguments checked once: an out-of-range axis is an error naming the op, never wrapped."""

from __future__ import annotations

import numbers


def axis_index(name: str, axis, ndim: int) -> int:
    """axis in [-ndim, ndim) as a non-negative index, or ValueError naming `name`."""
    axis = integer(name, "axis", axis)
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{name}: axis {axis} is out of range for a tensor of {ndim} dims "
            f"(expected {-ndim} <= axis < {ndim})" if ndim else
            f"{name}: axis {axis} is out of range for a 0-d tensor (it has no axes)"
        )
    return int(axis) % ndim


def integer(name: str, argument: str, value) -> int:
    """value as an int, or TypeError naming the op and the argument: a float (or a bool, or a
    string) is refused, never truncated (repeat(x, 1.5) repeated once)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: {argument} must be an integer, got {value!r}")
    return int(value)


def real(name: str, argument: str, value) -> float:
    """value as a float, or TypeError naming the op and the argument (a bool, a string, a
    tensor refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: {argument} must be a real number, got "
                        f"{type(value).__name__} {value!r}")
    return float(value)


def integers(name: str, argument: str, values) -> tuple[int, ...]:
    """One integer or a sequence of them as a tuple of ints (`integer` on each)."""
    if type(values) is int:  # the common case, without the checks' cost
        return (values,)
    if isinstance(values, numbers.Number) or not hasattr(values, "__iter__"):
        return (integer(name, argument, values),)
    return tuple(integer(name, argument, v) for v in values)


def reduction_axes(name: str, axis, ndim: int) -> tuple:
    """Sorted distinct axes for a reduction (None: all). A 0-d tensor accepts axis 0 or -1 and
    reduces nothing (torch's rule), so code written for any rank also works on scalars."""
    if axis is None:
        return tuple(range(ndim))
    axes = integers(name, "axis", axis)
    if ndim == 0:
        for ax in axes:
            if ax not in (0, -1):
                raise ValueError(f"{name}: axis {ax} is out of range for a 0-d tensor (0 or -1)")
        return ()
    out = [axis_index(name, ax, ndim) for ax in axes]
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated axis in {axis}")
    return tuple(sorted(out))
