"""Argument checks shared by the cells and layers: one clear message naming the argument."""

from __future__ import annotations

import numbers

import numpy as np

from minigrad.autograd import host_check
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


def check_flag(owner: str, name: str, value) -> bool:
    """A True/False option (a string such as "no" would be silently true)."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_fraction(owner: str, name: str, value) -> float:
    """A number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{owner}: {name} must be a number in [0, 1), got {value!r}")
    return float(value)


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


def check_single_state(owner: str, state):
    """h0 of an RNN or GRU: None or one tensor; a pair (an LSTM habit) is named as the mistake."""
    if isinstance(state, tuple | list):
        raise ValueError(f"{owner}: h0 must be one tensor (or None), got a "
                         f"{type(state).__name__} of length {len(state)}; only the LSTM "
                         "carries a pair (h0, c0)")
    return state


def check_states(owner: str, names: tuple, state) -> tuple:
    """The given states in `names` order, None where not given: a one-state module takes one
    tensor (or None), the LSTM's (h, c) a pair, other cells a tuple of as many as they carry."""
    if len(names) == 1:
        return (check_single_state(owner, state),)
    if names == ("h", "c") and not isinstance(state, tuple | list):
        return check_pair_state(owner, state)
    if state is None:
        return (None,) * len(names)
    if not isinstance(state, tuple | list):
        raise ValueError(f"{owner}: state must be a tuple of {len(names)} tensors {names} (or "
                         f"None), got one {type(state).__name__}")
    if len(state) != len(names):
        raise ValueError(f"{owner}: state must be a tuple of {len(names)} tensors {names}, got a "
                         f"{type(state).__name__} of length {len(state)}")
    return tuple(state)


def check_length_range(lengths, steps: int, prefix: str = "", bound: str = "") -> None:
    """Every entry of `lengths` (an integer array, or a Tensor of one) in 1..steps, checked where
    the values are: at once for host values, on every call of a compiled program for a Tensor
    (minigrad's host_check). The message starts with `prefix` and names the bound as
    `1..steps` followed by `bound` (e.g. " (seq_len)")."""

    def in_range(values):
        values = values.copy_to_host() if hasattr(values, "copy_to_host") else values
        if values.min() < 1 or values.max() > steps:
            raise ValueError(f"{prefix}every length must be in 1..{steps}{bound}, got min "
                             f"{values.min()} max {values.max()}")

    host_check(in_range, lengths.data if isinstance(lengths, Tensor) else lengths)
