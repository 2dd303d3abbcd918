"""Finite-difference gradient checker: analytic VJPs against central differences, in float64."""

from __future__ import annotations

import numpy as np

from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the central difference."""


def _scalarize(out, upstream):
    return float(np.sum(out.numpy().astype(np.float64) * upstream))


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0) -> bool:
    """Check d<fn(*inputs), u>/d input for a random upstream u against central differences.

    Every floating input (Tensor or array) is copied to float64 and checked; other inputs (integer
    targets, Python values) pass through. fn returns a Tensor. Raises GradcheckError naming the
    input, the index and both values on the first disagreement; returns True otherwise.
    """
    if not isinstance(inputs, list | tuple):
        inputs = [inputs]
    args, checked = [], []
    for i, x in enumerate(inputs):
        data = x.numpy() if isinstance(x, Tensor) else x
        if isinstance(data, np.ndarray) and np.issubdtype(data.dtype, np.floating):
            # a C-ordered copy: the perturbation below writes through reshape(-1), which is a
            # view only of a contiguous array (a transposed or strided input would be perturbed
            # in a copy, every numeric gradient read as 0)
            t = Tensor(np.array(data, dtype=np.float64, order="C"), requires_grad=True)
            args.append(t)
            checked.append(i)
        else:
            args.append(x)
    if not checked:
        raise ValueError("gradcheck: no floating-point input to check")

    out = fn(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if out.dtype != np.float64:
        raise GradcheckError(f"gradcheck: fn returned {out.dtype} for float64 inputs: some op "
                             "changed the dtype")
    rng = np.random.default_rng(seed)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)

    for i in checked:
        t = args[i]
        analytic = np.zeros(t.shape) if t.grad is None else t.grad
        flat = t.data.reshape(-1)
        if not np.shares_memory(flat, t.data):
            raise RuntimeError(f"gradcheck: input {i} could not be perturbed in place")
        with no_grad():
            for j in range(flat.size):
                original = flat[j]
                flat[j] = original + eps
                plus = _scalarize(fn(*args), upstream)
                flat[j] = original - eps
                minus = _scalarize(fn(*args), upstream)
                flat[j] = original
                numeric = (plus - minus) / (2 * eps)
                value = analytic.reshape(-1)[j]
                if not abs(value - numeric) <= atol + rtol * abs(numeric):
                    index = np.unravel_index(j, t.shape) if t.shape else ()
                    raise GradcheckError(
                        f"gradcheck: input {i} (shape {t.shape}) at index {tuple(map(int, index))}:"
                        f" analytic {value:.10g} vs numeric {numeric:.10g} "
                        f"(atol {atol}, rtol {rtol})"
                    )
    return True
