"""Multi-tensor optimizer kernels: one compiled call updates every parameter of a group.

``adam_foreach(params, grads, ms, vs, *hyper)`` takes tuples of flat C arrays of one dtype (a
Numba UniTuple: one specialisation per count, cached on disk) and runs torch.optim.Adam's update
element by element with the scalar rule of the per-parameter kernel
(``backends.optimizer_rules.adam_element``, the same compile flags), so its results are the
per-parameter kernel's bit for bit; what it removes is the Python and the dispatch of one kernel
call per parameter.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .backends import optimizer_rules

_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}, "boundscheck": False}
_adam = njit(inline="always", **_JIT)(optimizer_rules.adam_element)


@njit(**_JIT)
def adam_foreach(params, grads, ms, vs, step_size, beta1, beta2, eps, weight_decay, root_bias2):
    """torch.optim.Adam over every (param, grad, m, v) of the tuples, in place."""
    one = params[0].dtype.type(1)
    for k in range(len(params)):
        p, g, m, v = params[k], grads[k], ms[k], vs[k]
        for i in range(p.size):
            p[i], m[i], v[i] = _adam(p[i], g[i], m[i], v[i], step_size, beta1, beta2, eps,
                                     weight_decay, root_bias2, one)


@njit(**_JIT)
def adam_foreach_clipped(params, grads, ms, vs, coef, step_size, beta1, beta2, eps, weight_decay,
                         root_bias2):
    """adam_foreach of the gradients times coef (clip_grad_norm_'s factor, in their dtype), each
    scaled gradient written back in place (what clip_scaled would have left in .grad): the
    gradients read once, where clip_scaled then adam_foreach read them twice and wrote a copy."""
    one = params[0].dtype.type(1)
    for k in range(len(params)):
        p, g, m, v = params[k], grads[k], ms[k], vs[k]
        for i in range(p.size):
            scaled = g[i] * coef
            g[i] = scaled
            p[i], m[i], v[i] = _adam(p[i], scaled, m[i], v[i], step_size, beta1, beta2, eps,
                                     weight_decay, root_bias2, one)


def flat(a: np.ndarray) -> np.ndarray | None:
    """a as a flat view, or None when a is not C-contiguous (it takes the per-parameter path)."""
    return a.reshape(-1) if a.flags.c_contiguous else None


def group_key(param, grad, step):
    """Parameters that can share one foreach call: numpy arrays of one float dtype, a gradient
    of that dtype, C-contiguous state, the same step count (bias correction)."""
    data = param.data
    if type(data) is not np.ndarray or type(grad) is not np.ndarray or \
            grad.dtype != data.dtype or data.dtype not in (np.float32, np.float64):
        return None
    return data.dtype.str, step


# ---- gradient clipping by the 2-norm of all gradients, in one pass each ------------------------
_LANES = 8  # partial sums: the loop vectorises, and each sums n/8 terms (a smaller error)


@njit(**_JIT)
def _sum_squares(grads):
    """The float64 sum of the squares of every element of the tuple's flat arrays."""
    total = 0.0
    for k in range(len(grads)):
        g = grads[k]
        lanes = np.zeros(_LANES)
        n = g.size - g.size % _LANES
        for i in range(0, n, _LANES):
            for j in range(_LANES):
                x = np.float64(g[i + j])
                lanes[j] += x * x
        part = 0.0
        for j in range(_LANES):
            part += lanes[j]
        for i in range(n, g.size):
            x = np.float64(g[i])
            part += x * x
        total += part
    return total


@njit(**_JIT)
def _scale_into(grads, outs, coef):
    """outs[k] = grads[k] * coef (coef in their dtype, as eager's multiply)."""
    for k in range(len(grads)):
        g, out = grads[k], outs[k]
        for i in range(g.size):
            out[i] = g[i] * coef


def foreach_norm2(grads) -> bool:
    """True when clip_grad_norm_ of these gradients (by the 2-norm) may take the one-pass
    kernels: numpy C-contiguous, aligned, writeable arrays of one float dtype (one Numba array
    type, so the tuple is homogeneous; a read-only broadcast takes the per-array path)."""
    first = grads[0]
    return type(first) is np.ndarray and first.dtype in (np.float32, np.float64) and all(
        type(g) is np.ndarray and g.dtype == first.dtype and g.flags.c_contiguous and
        g.flags.aligned and g.flags.writeable for g in grads)


def grad_norm(grads: tuple) -> np.ndarray:
    """The 2-norm of all gradients together, a 0-d float64 array: one kernel call over every
    gradient (foreach_norm2 must hold)."""
    return np.asarray(_sum_squares(tuple(g.reshape(-1) for g in grads)) ** 0.5)


def clip_coefficient(total, max_norm: float) -> float:
    """max_norm / (total + 1e-6), at most 1 (torch's clip_grad_norm_)."""
    return min(max_norm / (float(total) + 1e-6), 1.0)


def clip_factor(grads: tuple, total, max_norm: float):
    """clip_coefficient(total, max_norm) in the gradients' dtype (what multiplies each)."""
    return grads[0].dtype.type(clip_coefficient(total, max_norm))


def clip_scaled(grads: tuple, total: np.ndarray, max_norm: float) -> tuple:
    """New arrays: each gradient times clip_coefficient(total, max_norm) in its dtype (a factor
    of exactly 1 when the norm is within max_norm), one kernel call over all of them."""
    coef = clip_factor(grads, total, max_norm)
    outs = tuple(np.empty_like(g) for g in grads)
    _scale_into(tuple(g.reshape(-1) for g in grads), tuple(o.reshape(-1) for o in outs), coef)
    return outs
