"""Argument checks shared by the cells and layers: one clear message naming the argument."""

from __future__ import annotations

import numbers

import numpy as np

from minigrad.tensor import Tensor

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_size(owner: str, name: str, value, minimum: int = 1) -> int:
    """`value` as an int if it is an integer >= minimum (not a bool, float or string)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r} "
                         f"({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_dtype(owner: str, dtype) -> np.dtype:
    """float32 or float64 (what the kernels compute in); anything else raises at construction."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"{owner}: dtype must be float32 or float64, got {dtype!r}") from None
    if resolved not in DTYPES:
        raise ValueError(f"{owner}: dtype {resolved} is not supported; the kernels compute in "
                         "float32 (the default) or float64")
    return resolved


def check_pair_state(owner: str, state):
    """(h0, c0) from an LSTM state: None, or a pair; one tensor is named as the mistake."""
    if state is None:
        return None, None
    if isinstance(state, tuple | list) and len(state) == 2:
        return state[0], state[1]
    what = (f"one {type(state).__name__} of shape {tuple(state.shape)}"
            if isinstance(state, Tensor | np.ndarray) else f"{type(state).__name__}"
            + (f" of length {len(state)}" if isinstance(state, tuple | list) else ""))
    raise ValueError(f"{owner}: state must be a pair (h0, c0) (or None), got {what}; the LSTM "
                     "carries a hidden and a cell state")
