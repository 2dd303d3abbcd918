"""Numba kernels of the CPU backend: flat loops over contiguous float32/float64 buffers.

Every kernel is compiled with ``error_model="numpy"`` (no Python zero-division checks, so loops
with a division vectorise) and ``cache=True`` (a warm process start does not recompile). The float32
kernels use typed constants only: a bare Python float inside ``@njit`` promotes float32 to float64.

The float32 tanh is the clamped rational approximation of ``scalar_rules.tanh_f32`` (largest error
3.3e-7, about 2 ulp near 1, exactly +-1 past its saturation point). It vectorises where libm's tanhf
does not. float64 keeps libm's exact tanh, so gradient checks in float64 see the true function.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from . import optimizer_rules, scalar_rules

_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}, "boundscheck": False}

# The float32 rational tanh and the sigmoid, 1 / (1 + exp(-x)) (float32: exp_f32, which
# vectorises; monotone and accurate in the tails), are written once in scalar_rules; the backend's
# tanh and sigmoid run the rules' generated kernels (cpu_elementwise). These compiled forms are
# for kernels that inline them (mg.compile's fused runs).
tanh_f32 = njit(forceinline=True, **_JIT)(scalar_rules.tanh_f32)
sigmoid_f32 = scalar_rules.compiled("cpu", np.float32).sigmoid
sigmoid_f64 = scalar_rules.compiled("cpu", np.float64).sigmoid


# ---- clip's backward (its bounds are arguments, not a rule's parameters) -------------------


@njit(**_JIT)
def clip_backward(x, lo, hi, g, out):
    """dx = g where lo <= x <= hi (torch's convention at the bounds)."""
    zero = x.dtype.type(0.0)
    for i in range(x.size):
        v = x[i]
        out[i] = g[i] if (v >= lo and v <= hi) else zero


# ---- row-wise kernels over the last axis (2-d views: rows x classes) --------------------------


def exp_any(x):
    """exp for the row kernels: exp_f32 in float32 (vectorises, <= 1.01 ulp; libm's expf does
    not vectorise), libm's exp in float64."""
    return np.exp(x)


_exp_f32 = scalar_rules.compiled("cpu", np.float32).exp_f32


@overload(exp_any, inline="always")
def _exp_any(x):
    if x == types.float32:
        return lambda x: _exp_f32(x)
    return lambda x: np.exp(x)


@njit(inline="always", **_JIT)
def _row_max(x, r):
    """The largest of row r (four running maxima: one chain of dependent max's took as long as
    the row's exponentials)."""
    n = x.shape[1]
    m0 = x[r, 0]
    m1, m2, m3 = m0, m0, m0
    j = 1
    while j + 4 <= n:
        m0 = max(m0, x[r, j])
        m1 = max(m1, x[r, j + 1])
        m2 = max(m2, x[r, j + 2])
        m3 = max(m3, x[r, j + 3])
        j += 4
    while j < n:
        m0 = max(m0, x[r, j])
        j += 1
    return max(max(m0, m1), max(m2, m3))


@njit(inline="always", **_JIT)
def _sum_row(e):
    """Sum of e in four running sums (a single sum is a chain of dependent adds)."""
    n = e.size
    s0 = s1 = s2 = s3 = e.dtype.type(0.0)
    j = 0
    while j + 4 <= n:
        s0 += e[j]
        s1 += e[j + 1]
        s2 += e[j + 2]
        s3 += e[j + 3]
        j += 4
    while j < n:
        s0 += e[j]
        j += 1
    return (s0 + s1) + (s2 + s3)


@njit(inline="always", **_JIT)
def _log_softmax_row(x, r, out):
    """out[r] = log_softmax(x[r]) = (x - m) - log(sum exp(x - m)), m the row's max: m + log(sum)
    would round away the small log-probabilities where |x| >> 1. The exponentials go to out[r]
    first (a loop without a reduction vectorises), then are summed."""
    m = _row_max(x, r)
    row = out[r]
    for j in range(x.shape[1]):
        row[j] = exp_any(x[r, j] - m)
    log_total = np.log(_sum_row(row))
    for j in range(x.shape[1]):
        row[j] = (x[r, j] - m) - log_total


@njit(**_JIT)
def softmax_rows(x, out):
    for r in range(x.shape[0]):
        m = _row_max(x, r)
        total = x.dtype.type(0.0)
        for j in range(x.shape[1]):
            e = np.exp(x[r, j] - m)
            out[r, j] = e
            total += e
        inv = x.dtype.type(1.0) / total
        for j in range(x.shape[1]):
            out[r, j] *= inv


@njit(**_JIT)
def log_softmax_rows(x, out):
    for r in range(x.shape[0]):
        _log_softmax_row(x, r, out)


@njit(**_JIT)
def softmax_backward_rows(y, g, out):
    """dx = y * (g - sum(g * y)) per row, from the saved softmax y."""
    for r in range(y.shape[0]):
        dot = y.dtype.type(0.0)
        for j in range(y.shape[1]):
            dot += g[r, j] * y[r, j]
        for j in range(y.shape[1]):
            out[r, j] = y[r, j] * (g[r, j] - dot)


@njit(**_JIT)
def log_softmax_backward_rows(y, g, out):
    """dx = g - exp(y) * sum(g) per row, from the saved log-softmax y."""
    for r in range(y.shape[0]):
        total = y.dtype.type(0.0)
        for j in range(y.shape[1]):
            total += g[r, j]
        for j in range(y.shape[1]):
            out[r, j] = g[r, j] - np.exp(y[r, j]) * total


@njit(**_JIT)
def cross_entropy_rows(logits, targets, ignore_index, log_probs):
    """Sum over counted rows of -log_softmax(logits)[target]; fills log_probs; -> (sum, n)."""
    total = 0.0
    count = 0
    for r in range(logits.shape[0]):
        _log_softmax_row(logits, r, log_probs)
        t = targets[r]
        if t != ignore_index:
            total -= log_probs[r, t]
            count += 1
    return total, count


@njit(**_JIT)
def cross_entropy_backward_rows(log_probs, targets, ignore_index, scale, out):
    """d logits = scale * (softmax - onehot(target)) on counted rows, 0 on ignored rows."""
    zero = log_probs.dtype.type(0.0)
    for r in range(log_probs.shape[0]):
        t = targets[r]
        if t == ignore_index:
            for j in range(log_probs.shape[1]):
                out[r, j] = zero
        else:
            for j in range(log_probs.shape[1]):
                out[r, j] = scale * exp_any(log_probs[r, j])
            out[r, t] -= scale


@njit(**_JIT)
def index_add_rows(out, index, g):
    """out[index[i]] += g[i] for each i in order (a negative index counts from the end; the
    caller checked the range): np.add.at's additions for one integer index of the first axis."""
    n = out.shape[0]
    for i in range(index.size):
        r = index[i]
        if r < 0:
            r += n
        for j in range(out.shape[1]):
            out[r, j] += g[i, j]


# ---- optimizer updates: one pass over a parameter, its gradient and its state -----------------


_sgd = njit(inline="always", **_JIT)(optimizer_rules.sgd_element)
_adam = njit(inline="always", **_JIT)(optimizer_rules.adam_element)
_rmsprop = njit(inline="always", **_JIT)(optimizer_rules.rmsprop_element)


@njit(**_JIT)
def sgd_update(param, grad, velocity, lr, momentum, weight_decay, keep, nesterov, first):
    """torch.optim.SGD per element (optimizer_rules); keep = 1 - dampening."""
    zero = param.dtype.type(0)
    for i in range(param.size):
        param[i], velocity[i] = _sgd(param[i], grad[i], velocity[i], lr, momentum, weight_decay,
                                     keep, nesterov, first, zero)


@njit(**_JIT)
def adam_update(param, grad, m, v, step_size, beta1, beta2, eps, weight_decay, root_bias2):
    """torch.optim.Adam per element (optimizer_rules)."""
    one = param.dtype.type(1)
    for i in range(param.size):
        param[i], m[i], v[i] = _adam(param[i], grad[i], m[i], v[i], step_size, beta1, beta2, eps,
                                     weight_decay, root_bias2, one)


@njit(**_JIT)
def rmsprop_update(param, grad, square_avg, grad_avg, velocity, lr, alpha, eps, weight_decay,
                   momentum, centered):
    """torch.optim.RMSprop per element (optimizer_rules)."""
    zero, one = param.dtype.type(0), param.dtype.type(1)
    for i in range(param.size):
        param[i], square_avg[i], grad_avg[i], velocity[i] = _rmsprop(
            param[i], grad[i], square_avg[i], grad_avg[i], velocity[i], lr, alpha, eps,
            weight_decay, momentum, centered, zero, one)
