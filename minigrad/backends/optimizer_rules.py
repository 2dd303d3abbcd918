"""The per-element optimizer updates (torch.optim's formulas), written once for both backends.

Each rule takes one element of the parameter, its gradient and its state, and the hyperparameters
already cast to the parameter's dtype (the ``*_hyperparameters`` functions do it on the host; typed
``zero`` and ``one`` come from the caller, so float32 never meets a float64 constant), and returns
the new parameter and state. The CPU kernels compile the rules with ``njit(inline="always")``, the
CUDA kernels with ``cuda.jit(device=True)``: one formula and one rounding (the parameter's dtype,
as torch's) on both devices. Before, the CPU computed in float64 and CUDA in float32.
"""

from __future__ import annotations

import math

import numpy as np


def sgd_hyperparameters(dtype, lr, momentum, weight_decay, dampening):
    """(lr, momentum, weight_decay, keep = 1 - dampening) in `dtype`."""
    t = np.dtype(dtype).type
    return t(lr), t(momentum), t(weight_decay), t(1.0 - dampening)


def adam_hyperparameters(dtype, lr, beta1, beta2, eps, weight_decay, step):
    """(step_size = lr / (1 - beta1^t), beta1, beta2, eps, weight_decay,
    root_bias2 = sqrt(1 - beta2^t)) in `dtype`; the bias corrections are computed in float64."""
    t = np.dtype(dtype).type
    step_size = lr / (1.0 - beta1**step)
    root_bias2 = math.sqrt(1.0 - beta2**step)
    return t(step_size), t(beta1), t(beta2), t(eps), t(weight_decay), t(root_bias2)


def rmsprop_hyperparameters(dtype, lr, alpha, eps, weight_decay, momentum):
    """(lr, alpha, eps, weight_decay, momentum) in `dtype`."""
    t = np.dtype(dtype).type
    return t(lr), t(alpha), t(eps), t(weight_decay), t(momentum)


def sgd_element(p, g, velocity, lr, momentum, weight_decay, keep, nesterov, first, zero):
    """-> (p, velocity): d = g + wd p; v = d (first) or mu v + keep d; p -= lr (d + mu v or v)."""
    d = g + weight_decay * p
    if momentum != zero:
        velocity = d if first else momentum * velocity + keep * d
        d = d + momentum * velocity if nesterov else velocity
    return p - lr * d, velocity


def adam_element(p, g, m, v, step_size, beta1, beta2, eps, weight_decay, root_bias2, one):
    """-> (p, m, v): m, v moving averages of d and d^2; p -= step_size m / (sqrt(v)/rb2 + eps)."""
    d = g + weight_decay * p
    m = beta1 * m + (one - beta1) * d
    v = beta2 * v + (one - beta2) * d * d
    return p - step_size * m / (math.sqrt(v) / root_bias2 + eps), m, v


def rmsprop_element(p, g, square_avg, grad_avg, velocity, lr, alpha, eps, weight_decay, momentum,
                    centered, zero, one):
    """-> (p, square_avg, grad_avg, velocity), torch.optim.RMSprop's update of one element."""
    d = g + weight_decay * p
    square_avg = alpha * square_avg + (one - alpha) * d * d
    if centered:
        grad_avg = alpha * grad_avg + (one - alpha) * d
        denom = math.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        denom = math.sqrt(square_avg) + eps
    if momentum > zero:
        velocity = momentum * velocity + d / denom
        return p - lr * velocity, square_avg, grad_avg, velocity
    return p - lr * d / denom, square_avg, grad_avg, velocity
