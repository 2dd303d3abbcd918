"""Creation: arange, linspace, eye, full, *_like, rand/randn/randint with a numpy Generator.

Floats default to float32 (the engine's default), integer ranges to int64; every function takes
``device`` and, for floats, ``requires_grad``. Random draws come from ``rng`` (a numpy Generator
or a seed), made on the host and moved, so CPU and CUDA see the same numbers for the same seed.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..backends import get
from ..dtypes import check_supported
from ..tensor import DEFAULT_FLOAT, Tensor, shape_args, tensor
from .axes import integer


def _make(array, dtype, requires_grad, device) -> Tensor:
    return tensor(np.asarray(array, dtype=dtype), requires_grad=requires_grad, dtype=dtype,
                  device=device)


def arange(start, stop=None, step=1, dtype=None, device="cpu", requires_grad=False) -> Tensor:
    """[start, stop) in steps of step (numpy's arange; int64 for integers, float32 otherwise)."""
    if step == 0:
        raise ValueError("arange: step must not be 0")
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is None:
        dtype = np.int64 if values.dtype.kind in "iu" else DEFAULT_FLOAT
    return _make(values, dtype, requires_grad, device)


def linspace(start, stop, num: int = 50, dtype=DEFAULT_FLOAT, device="cpu",
             requires_grad=False) -> Tensor:
    """num evenly spaced values from start to stop inclusive."""
    num = integer("linspace", "num", num)
    if num < 0:
        raise ValueError(f"linspace: num must be >= 0, got {num}")
    if np.dtype(dtype).kind == "b":
        raise ValueError("linspace: dtype bool is not supported (as torch): evenly spaced values "
                         "need a numeric dtype")
    return _make(np.linspace(start, stop, num), dtype, requires_grad, device)


def eye(n: int, m=None, k: int = 0, dtype=DEFAULT_FLOAT, device="cpu",
        requires_grad=False) -> Tensor:
    """n x m (m = n) with ones on the k-th diagonal."""
    shape_args("eye", (n,) if m is None else (n, m))
    return _make(np.eye(n, m, k), dtype, requires_grad, device)


def full(shape, value, dtype=None, device="cpu", requires_grad=False) -> Tensor:
    """shape filled with value (float32 for floats, int64 for ints, bool for bools)."""
    shape = shape_args("full", (shape,) if isinstance(shape, numbers.Integral) else (shape,))
    if dtype is None:
        dtype = (np.bool_ if isinstance(value, bool | np.bool_) else
                 np.int64 if isinstance(value, numbers.Integral) else DEFAULT_FLOAT)
    return _make(np.full(shape, value), dtype, requires_grad, device)


def full_like(t: Tensor, value, dtype=None, requires_grad=False) -> Tensor:
    """t's shape and device (and dtype unless given) filled with value."""
    return full(t.shape, value, t.dtype if dtype is None else dtype, t.device, requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    """Zeros of t's shape, dtype and device."""
    return full_like(t, 0, dtype, requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    """Ones of t's shape, dtype and device."""
    return full_like(t, 1, dtype, requires_grad)


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def rand(*shape, rng=None, dtype=DEFAULT_FLOAT, device="cpu", requires_grad=False) -> Tensor:
    """Uniform draws in [0, 1) from rng."""
    return _make(_rng(rng).random(shape_args("rand", shape)), dtype, requires_grad, device)


def randint(low, high=None, size=(), rng=None, dtype=np.int64, device="cpu") -> Tensor:
    """Integers in [low, high) (in [0, low) when high is None) from rng."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    size = shape_args("randint", (size,) if isinstance(size, numbers.Integral) else (size,))
    return _make(_rng(rng).integers(low, high, size), dtype, False, device)


def rand_like(t: Tensor, rng=None, dtype=None, requires_grad=False) -> Tensor:
    """Uniform [0, 1) draws of t's shape and device."""
    return rand(t.shape, rng=rng, dtype=t.dtype if dtype is None else dtype, device=t.device,
                requires_grad=requires_grad)


def randn_like(t: Tensor, rng=None, dtype=None, requires_grad=False) -> Tensor:
    """Standard normal draws of t's shape and device."""
    return _make(_rng(rng).standard_normal(t.shape), t.dtype if dtype is None else dtype,
                 requires_grad, t.device)


def empty(*shape, dtype=DEFAULT_FLOAT, device="cpu", requires_grad=False) -> Tensor:
    """An uninitialised tensor of shape (its values are whatever the memory held: write before
    reading, as torch.empty and np.empty)."""
    dtype = check_supported("empty", dtype)
    if requires_grad and dtype.kind != "f":
        raise ValueError(f"empty: only float tensors can require gradients, got {dtype}")
    t = Tensor._wrap(get(device).empty(shape_args("empty", shape), dtype))
    return t.requires_grad_(True) if requires_grad else t
