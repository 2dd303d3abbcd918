"""Gradient clipping (``mg.optim.clip_grad_norm_``, ``clip_grad_value_``) and clipped_step, the
clip folded into the multi-tensor Adam step that mg.compile's programs run; and the real-number
argument check the optimizers share."""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import autograd, optim_kernels
from .backends import backend_of
from .tensor import Tensor


def check_hyperparameter(name, value, low=0.0, high=None, open_high=False):
    """value a real number (not a bool) in [low, high] (or [low, high)); NaN is refused (it
    passes every comparison torch's checks make false, and would silently fill the weights)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    if math.isnan(value):
        raise ValueError(f"{name} must be a number, got nan")
    if value < low or (high is not None and (value >= high if open_high else value > high)):
        bound = f"[{low}, {high}{')' if open_high else ']'}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")


def _grads(what: str, params):
    """The tensors of `params` that have a gradient; a single Tensor counts as one (torch's;
    iterating it would give its rows, which have none, and clip nothing)."""
    if isinstance(params, Tensor):
        params = [params]
    params = list(params)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{what}: parameter {i} is a {type(p).__name__}, expected a Tensor")
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(params, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None):
    """Scale all gradients together so their joint norm is <= max_norm; returns the norm before
    (a float; inside ``mg.compile`` a 0-d float64 Tensor, as reading it would be a host sync).
    `params` is a tensor or an iterable of tensors; norm_type inf is the largest |g|, -inf the
    smallest (torch's). error_if_nonfinite: a NaN or infinite norm raises RuntimeError instead
    of scaling every gradient by NaN or 0 (eager only: inside mg.compile the norm stays on the
    device). foreach is accepted for torch's signature; the kernels are chosen here."""
    check_hyperparameter("max_norm", max_norm)
    check_hyperparameter("norm_type", norm_type, -math.inf)
    if norm_type == 0:
        raise ValueError("norm_type must be non-zero (a p-norm's p, or inf), got 0")
    if foreach not in (None, True, False):
        raise ValueError(f"clip_grad_norm_: foreach must be None, True or False, got {foreach!r}")
    if error_if_nonfinite and autograd.state.compiling:
        raise ValueError("clip_grad_norm_: error_if_nonfinite=True needs the norm on the host, "
                         "which a compiled program does not read; check it outside mg.compile")
    params = _grads("clip_grad_norm_", params)
    if not params:
        return 0.0
    grads = tuple(p.grad for p in params)
    if norm_type == 2.0 and optim_kernels.foreach_norm2(grads):
        # one kernel for the norm, one for the scaling (compiled: two calls of the program)
        total = optim_kernels.grad_norm(grads)
        if autograd.state.compiling:
            for p, g in zip(params, optim_kernels.clip_scaled(grads, total, max_norm)):
                p.grad = g
            return Tensor._wrap(total)
        norm = float(backend_of(total).to_host(total))  # eager returns a float: one read
        _check_finite(norm, norm_type, error_if_nonfinite)
        # `not >= 1`: a NaN norm scales every gradient by NaN, as torch's clip and the
        # compiled program's clip_scaled do (a `< 1` test skipped it: NaN stayed where it was)
        if not optim_kernels.clip_coefficient(norm, max_norm) >= 1.0:
            for p, g in zip(params, optim_kernels.clip_scaled(grads, total, max_norm)):
                p.grad = g
        return norm
    if autograd.state.compiling:
        return _clip_on_device(params, max_norm, norm_type)
    magnitudes = [np.abs(backend_of(p.grad).to_host(p.grad).astype(np.float64)) for p in params]
    if norm_type == math.inf:
        total = float(np.max([np.max(m, initial=0.0) for m in magnitudes]))
    elif norm_type == -math.inf:  # the smallest |g| (it gave 1.0: sum(|g| ** -inf) ** -0)
        total = float(np.min([np.min(m, initial=math.inf) for m in magnitudes]))
    else:
        with np.errstate(divide="ignore"):  # a negative p at a zero element: inf, then 0
            total = float(sum(float(np.sum(m ** norm_type)) for m in magnitudes)
                          ** (1.0 / norm_type))
    _check_finite(total, norm_type, error_if_nonfinite)
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # NaN too, as above
        for p in params:
            be = backend_of(p.grad)
            p.grad = be.mul(p.grad, p.grad.dtype.type(coef))
    return total


def _check_finite(total: float, norm_type: float, error_if_nonfinite: bool) -> None:
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is {total}, so it cannot be clipped; find the NaN or "
                           "inf (mg.detect_anomaly()), or pass error_if_nonfinite=False to "
                           "scale by it anyway")


def clipped_step(optimizer, total, max_norm: float, grads: tuple) -> None:
    """clip_grad_norm_'s scaling (by the 2-norm `total` of `grads`) folded into the multi-tensor
    Adam step that follows it, as mg.compile's programs run them (compiler/batch.py:
    ``fold_clip``): Adam reads each gradient once, scales it as clip_scaled would, writes it back
    in place (so .grad holds the clipped gradient afterwards, as eager's) and updates with it. A
    gradient the step does not take into its kernel is scaled in place before its update, or
    after the step if the optimizer does not hold its parameter."""
    factor = optim_kernels.clip_factor(grads, total, max_norm)
    pending = {id(g): g for g in grads}
    optimizer.step((factor, pending))
    for g in pending.values():
        np.multiply(g, factor, out=g)


def _clip_on_device(params, max_norm, norm_type):
    """clip_grad_norm_ in backend kernels, no host read: the same float64 sums in the same order
    and the same coefficient (a factor of exactly 1 where eager skips the multiply)."""
    be = backend_of(params[0].grad)
    f64 = np.dtype(np.float64)
    total = None
    for p in params:
        magnitude = be.absolute(be.astype(p.grad, f64))
        if norm_type == math.inf:
            part = be.amax(magnitude)
            total = part if total is None else be.maximum(total, part)
        elif norm_type == -math.inf:
            part = be.neg(be.amin(magnitude))  # the largest -|g|: min |g| negated back below
            total = part if total is None else be.maximum(total, part)
        else:
            part = be.sum(be.power(magnitude, be.full((), norm_type, f64)))
            total = be.add(be.full((), 0.0, f64), part) if total is None else be.add(total, part)
    if norm_type == -math.inf:
        total = be.neg(total)
    elif norm_type != math.inf:
        total = be.power(total, be.full((), 1.0 / norm_type, f64))
    coef = be.div(be.full((), max_norm, f64), be.add(total, be.full((), 1e-6, f64)))
    coef = be.clip(coef, 0.0, 1.0)
    for p in params:
        p.grad = be.mul(p.grad, be.astype(coef, p.grad.dtype))
    return Tensor._wrap(be.asarray(total))


def clip_grad_value_(params, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value]; `params` a tensor or an
    iterable of tensors (foreach accepted for torch's signature)."""
    check_hyperparameter("clip_value", clip_value)
    if foreach not in (None, True, False):
        raise ValueError(f"clip_grad_value_: foreach must be None, True or False, got "
                         f"{foreach!r}")
    for p in _grads("clip_grad_value_", params):
        be = backend_of(p.grad)
        p.grad = be.clip(p.grad, -clip_value, clip_value)
