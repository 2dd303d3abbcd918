"""Multi-tensor optimizer kernels: one compiled call updates every parameter of a group.

``adam_foreach(params, grads, ms, vs, *hyper)`` takes tuples of flat C arrays of one dtype (a
Numba UniTuple: one specialisation per count, cached on disk) and runs torch.optim.Adam's update
element by element with the scalar rule of the per-parameter kernel
(``backends.optimizer_rules.adam_element``, the same compile flags), so its results are the
per-parameter kernel's bit for bit; what it removes is the Python and the dispatch of one kernel
call per parameter. ``sgd_foreach`` does the same for torch.optim.SGD (``sgd_element``).
Device arrays (the CUDA backend's) take the same calls to the CUDA backend's multi-tensor
kernels (``backends/cuda_foreach.py``: one launch per optimizer group, three for clipping, the
norm and its coefficient never read on the host).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .backends import optimizer_rules

_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}, "boundscheck": False}
_adam = njit(inline="always", **_JIT)(optimizer_rules.adam_element)


def _on_device(a) -> bool:
    return getattr(a, "__cuda_ndarray__", False) is True


def _device_kernels():
    """The CUDA backend's multi-tensor kernels (imported on first use: it loads numba.cuda)."""
    from .backends import cuda_foreach

    return cuda_foreach


def adam_foreach(params, grads, ms, vs, *hyper) -> None:
    """torch.optim.Adam over every (param, grad, m, v) of the tuples (flat arrays of one dtype,
    all numpy or all device arrays), in place: one kernel call."""
    if _on_device(params[0]):
        _device_kernels().adam_foreach(params, grads, ms, vs, *hyper)
    else:
        _adam_foreach_host(params, grads, ms, vs, *hyper)


@njit(**_JIT)
def _adam_foreach_host(params, grads, ms, vs, step_size, beta1, beta2, eps, weight_decay,
                       root_bias2):
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


_sgd = njit(inline="always", **_JIT)(optimizer_rules.sgd_element)


def sgd_foreach(params, grads, velocities, *hyper, nesterov: bool, first: bool) -> None:
    """torch.optim.SGD over every (param, grad, velocity) of the tuples (flat arrays of one
    dtype, all numpy or all device arrays), in place: one kernel call."""
    if _on_device(params[0]):
        _device_kernels().sgd_foreach(params, grads, velocities, *hyper, nesterov=nesterov,
                                      first=first)
    else:
        _sgd_foreach_host(params, grads, velocities, *hyper, nesterov, first)


@njit(**_JIT)
def _sgd_foreach_host(params, grads, velocities, lr, momentum, weight_decay, keep, nesterov,
                      first):
    """torch.optim.SGD over every (param, grad, velocity) of the tuples, in place."""
    zero = params[0].dtype.type(0)
    for k in range(len(params)):
        p, g, u = params[k], grads[k], velocities[k]
        for i in range(p.size):
            p[i], u[i] = _sgd(p[i], g[i], u[i], lr, momentum, weight_decay, keep, nesterov,
                              first, zero)


def flat(a):
    """a (a numpy or device array) as a flat view, or None when a is not C-contiguous (it takes
    the per-parameter path)."""
    if _on_device(a):
        return a.reshape(a.size) if a.is_c_contiguous() else None
    return a.reshape(-1) if a.flags.c_contiguous else None


def group_key(param, grad, step):
    """Parameters that can share one foreach call: (dtype, step, on the device) for numpy
    arrays, or device arrays, of one float dtype, a gradient of that dtype and place, the same
    step count (bias correction); None for any other."""
    data = param.data
    device = _on_device(data)
    if not (type(data) is np.ndarray and type(grad) is np.ndarray or
            device and _on_device(grad)) or \
            grad.dtype != data.dtype or data.dtype not in (np.float32, np.float64):
        return None
    return data.dtype.str, step, device


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
    type, so the tuple is homogeneous; a read-only broadcast takes the per-array path), or
    C-contiguous device arrays of one float dtype."""
    first = grads[0]
    if _on_device(first):
        return first.dtype in (np.float32, np.float64) and all(
            _on_device(g) and g.dtype == first.dtype and g.is_c_contiguous() for g in grads)
    return type(first) is np.ndarray and first.dtype in (np.float32, np.float64) and all(
        type(g) is np.ndarray and g.dtype == first.dtype and g.flags.c_contiguous and
        g.flags.aligned and g.flags.writeable for g in grads)


def grad_norm(grads: tuple):
    """The 2-norm of all gradients together, a 0-d float64 array: one kernel call over every
    gradient (foreach_norm2 must hold); for device arrays a device array, two launches."""
    if _on_device(grads[0]):
        return _device_kernels().grad_norm(grads)
    return np.asarray(_sum_squares(tuple(g.reshape(-1) for g in grads)) ** 0.5)


def clip_coefficient(total, max_norm: float) -> float:
    """max_norm / (total + 1e-6), at most 1 (torch's clip_grad_norm_)."""
    return min(max_norm / (float(total) + 1e-6), 1.0)


def clip_factor(grads: tuple, total, max_norm: float):
    """clip_coefficient(total, max_norm) in the gradients' dtype (what multiplies each)."""
    return grads[0].dtype.type(clip_coefficient(total, max_norm))


def clip_scaled(grads: tuple, total: np.ndarray, max_norm: float) -> tuple:
    """New arrays: each gradient times clip_coefficient(total, max_norm) in its dtype (a factor
    of exactly 1 when the norm is within max_norm), one kernel call over all of them; device
    arrays (total too) on the device, the coefficient computed there."""
    if _on_device(grads[0]):
        return _device_kernels().clip_scaled(grads, total, max_norm)
    coef = clip_factor(grads, total, max_norm)
    outs = tuple(np.empty_like(g) for g in grads)
    _scale_into(tuple(g.reshape(-1) for g in grads), tuple(o.reshape(-1) for o in outs), coef)
    return outs
