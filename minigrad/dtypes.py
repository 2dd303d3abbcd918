"""The dtypes minigrad holds and its one promotion rule (numpy 2's, NEP 50).

- Tensor with Python scalar: the scalar is "weak": it takes the tensor's dtype unless its kind is
  higher (a float with an integer or bool tensor gives float64, an int with a bool tensor int64),
  so ``int32 ** 0.5`` is float64 and never truncates. A Python int that does not fit an integer
  tensor's dtype is an error (numpy's OverflowError, named by the op).
- Tensor with tensor (and numpy arrays or numpy scalars, which are "strong"): numpy's
  ``result_type`` (int32 with float32 is float64), except that two floating dtypes of different
  precision are an error: minigrad does not silently run a float32 model in float64.
- Floating functions (exp, log, tanh, sigmoid, softmax) of integer or bool tensors compute in
  ``promote_types(dtype, float32)``: numpy's float64 for int32/int64, float32 where numpy would
  pick float16 (minigrad has no float16 kernels). True division and mean of integers or bools
  give float64, as numpy's do.
"""

from __future__ import annotations

import numbers

import numpy as np

SUPPORTED = tuple(np.dtype(t) for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64,
    np.uint8, np.uint16, np.uint32, np.uint64, np.float32, np.float64,
))


def check_supported(name: str, dtype) -> np.dtype:
    """dtype as np.dtype, or TypeError naming `name`, the dtype and the supported ones."""
    dtype = np.dtype(dtype)
    if dtype not in SUPPORTED:
        objects = " (Python objects: an integer beyond 64 bits, None, a string or mixed " \
            "types)" if dtype.kind == "O" else ""
        raise TypeError(
            f"{name}: unsupported dtype {dtype}{objects}; minigrad holds bool, signed and "
            "unsigned integers, float32 and float64"
        )
    return dtype


def is_floating(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def floating(dtype) -> np.dtype:
    """The dtype a floating function computes in for inputs of `dtype`."""
    dtype = np.dtype(dtype)
    return dtype if dtype.kind == "f" else np.promote_types(dtype, np.float32)


def is_python_scalar(x) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, np.generic)


def with_scalar(name: str, dtype, value) -> np.dtype:
    """The result dtype of a tensor of `dtype` with the Python scalar `value` (weak)."""
    if isinstance(value, complex):
        raise TypeError(f"{name}: complex scalar {value!r} is not supported")
    result = np.result_type(np.dtype(dtype), value)
    if result.kind in "iu":
        info = np.iinfo(result)
        if not info.min <= value <= info.max:
            raise ValueError(
                f"{name}: Python integer {value} does not fit the {result} operand "
                f"([{info.min}, {info.max}])"
            )
    return result


def with_tensor(name: str, a, b, describe) -> np.dtype:
    """The result dtype of two tensor operands, or ValueError for floats of two precisions."""
    if a.dtype == b.dtype:
        return a.dtype
    if is_floating(a.dtype) and is_floating(b.dtype):
        raise ValueError(
            f"{name}: dtype mismatch between {describe(a)} and {describe(b)}: minigrad does not "
            "mix float precisions silently; cast one with .astype()"
        )
    return np.result_type(a.dtype, b.dtype)
