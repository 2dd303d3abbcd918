"""Softmax family and losses: fused, numerically stable row kernels over the last axis."""

from __future__ import annotations

import numpy as np

from ..autograd import host_check, record, state
from ..backends import backend_of
from ..tensor import Tensor, as_operand
from .axes import axis_index
from .elementwise import as_floating, check_operands
from .shape import reshape, transpose


def _over_last_axis(name, fn, a: Tensor, axis: int) -> Tensor:
    """Apply a last-axis op along `axis` by moving that axis last and back."""
    axis = axis_index(name, axis, a.ndim)
    if axis == a.ndim - 1:
        return None
    perm = list(range(a.ndim))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    return transpose(fn(transpose(a, perm), -1), perm)


def _scalar_or_empty(name, fn, a: Tensor, axis):
    """softmax-family of a 0-d tensor (as a 1-element axis, shape () kept, as torch) or of an
    empty tensor (an empty result); None for everything else."""
    if a.ndim == 0:
        if axis not in (0, -1):
            axis_index(name, axis, 0)
        return reshape(fn(reshape(a, (1,)), 0), ())
    if a.size == 0:
        axis_index(name, axis, a.ndim)
        be = backend_of(a.data)
        shape, dtype = a.shape, a.dtype
        return record(name, be.zeros(shape, dtype), (a,), lambda g: (be.zeros(shape, dtype),))
    return None


def softmax(a: Tensor, axis: int = -1) -> Tensor:
    """exp(a - max) / sum(exp(a - max)); d/da = y * (g - sum(g * y))."""
    return _rowwise("softmax", softmax, a, axis)


def log_softmax(a: Tensor, axis: int = -1) -> Tensor:
    """a - logsumexp(a); d/da = g - softmax(a) * sum(g)."""
    return _rowwise("log_softmax", log_softmax, a, axis)


def _rowwise(name, op, a, axis):
    """The backend's `name` over `axis` of a and its `name`_backward from the saved output; a
    0-d or empty a, or another axis, through the helpers above (which call `op` again)."""
    a = as_floating(a)
    special = _scalar_or_empty(name, op, a, axis)
    if special is not None:
        return special
    moved = _over_last_axis(name, op, a, axis)
    if moved is not None:
        return moved
    be = backend_of(a.data)
    out = getattr(be, name)(a.data)
    backward = f"{name}_backward"  # looked up when it runs (mg.compile patches the backends)
    return record(name, out, (a,), lambda g: (getattr(be, backward)(out, g),))


def cross_entropy(logits: Tensor, targets, ignore_index: int = -100) -> Tensor:
    """mean over non-ignored positions of -log_softmax(logits)[target], classes on the last axis.

    logits (..., C) float; targets (...) integers in [0, C) or ignore_index.
    """
    if not isinstance(logits, Tensor):
        raise TypeError("cross_entropy: logits must be a Tensor")
    be = backend_of(logits.data)
    if state.compiling and isinstance(targets, Tensor):  # the program reads the targets
        t = targets.data
    else:
        t = targets.numpy() if isinstance(targets, Tensor) else np.asarray(targets)
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"cross_entropy: targets must be integers, got dtype {t.dtype}")
    if logits.ndim < 1 or tuple(t.shape) != logits.shape[:-1]:
        raise ValueError(
            f"cross_entropy: targets of shape {tuple(t.shape)} do not match logits of shape "
            f"{logits.shape} (expected targets of shape {logits.shape[:-1]})"
        )
    classes = logits.shape[-1]
    if state.compiling and isinstance(targets, Tensor):
        host_check(lambda a: _check_targets(be.to_host(a), ignore_index, classes), t)
        flat_t = be.astype(be.reshape(t, (-1,)), np.dtype(np.int64))
    else:
        _check_targets(t, ignore_index, classes)
        flat_t = be.from_host(np.ascontiguousarray(t.reshape(-1), dtype=np.int64))
    rows = be.reshape(logits.data, (-1, classes))
    loss, log_probs, count = be.cross_entropy(rows, flat_t, ignore_index)
    shape = logits.shape

    def backward(g):
        grad = be.cross_entropy_backward(log_probs, flat_t, ignore_index, g, count)
        return (be.reshape(grad, shape),)

    return record("cross_entropy", loss, (logits,), backward)


def _check_targets(t, ignore_index, classes):
    counted = t[t != ignore_index]
    if counted.size and (counted.min() < 0 or counted.max() >= classes):
        bad = counted[(counted < 0) | (counted >= classes)][0]
        raise ValueError(f"cross_entropy: target {bad} is outside [0, {classes})")


def mse_loss(prediction: Tensor, target) -> Tensor:
    """mean((prediction - target)^2); d/dprediction = 2 (prediction - target) / n."""
    if not isinstance(prediction, Tensor):
        raise TypeError("mse_loss: prediction must be a Tensor")
    target = as_operand(target, prediction)
    check_operands("mse_loss", prediction, target)
    if prediction.shape != target.shape:
        raise ValueError(
            f"mse_loss: prediction has shape {prediction.shape} but target has shape "
            f"{target.shape}; they must match (broadcasting here is almost always a bug)"
        )
    if prediction.size == 0:
        raise ValueError("mse_loss: empty prediction")
    be = backend_of(prediction.data)
    diff = be.sub(prediction.data, target.data)
    scale = prediction.dtype.type(2.0 / prediction.size)
    loss = be.mul(be.sum(be.mul(diff, diff)), prediction.dtype.type(1.0 / prediction.size))

    def backward(g):
        gp = be.mul(diff, be.mul(g, scale))
        return gp, (be.neg(gp) if target.requires_grad else None)

    return record("mse_loss", loss, (prediction, target), backward)
