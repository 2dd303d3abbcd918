"""Losses with torch's ``reduction="mean" | "sum" | "none"``: nll_loss, cross_entropy (ignore_index,
label_smoothing, probability targets), binary_cross_entropy (+ with_logits), l1, huber, mse.

Classes sit on the last axis (minigrad's convention; torch puts them on axis 1). The plain
mean cross-entropy and mse keep their fused kernels (``ops/loss.py``); the other variants are
composed of primitives, so their gradients come from the parts.
"""

from __future__ import annotations

import numpy as np

from ..autograd import record
from ..backends import backend_of
from ..tensor import Tensor, as_operand
from . import loss as fused
from .activations import logsigmoid
from .elementwise import abs as abs_
from .elementwise import mul, sub, where
from .loss import log_softmax
from .reduce import sum as sum_
from .selection import take_along_axis


def _reduce(name: str, loss: Tensor, reduction: str, count=None) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return sum_(loss)
    if reduction == "mean":
        n = loss.size if count is None else count
        return mul(sum_(loss), 1.0 / n if n else np.nan)
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _pair(name: str, prediction, target):
    if not isinstance(prediction, Tensor):
        raise TypeError(f"{name}: prediction must be a Tensor, got {type(prediction).__name__}")
    target = as_operand(target, prediction)
    if prediction.shape != target.shape:
        raise ValueError(f"{name}: prediction has shape {prediction.shape} but target has shape "
                         f"{target.shape}; they must match")
    if target.dtype != prediction.dtype:
        target = target.astype(prediction.dtype)
    return prediction, target


def _class_targets(name: str, scores: Tensor, targets, ignore_index: int):
    t = targets.numpy() if isinstance(targets, Tensor) else np.asarray(targets)
    if t.dtype.kind not in "iu":
        raise ValueError(f"{name}: class targets must be integers, got dtype {t.dtype}")
    if scores.ndim < 1 or t.shape != scores.shape[:-1]:
        raise ValueError(f"{name}: targets of shape {t.shape} do not match scores of shape "
                         f"{scores.shape} (expected {scores.shape[:-1]})")
    classes = scores.shape[-1]
    counted = t != ignore_index
    bad = t[counted & ((t < 0) | (t >= classes))]
    if bad.size:
        raise ValueError(f"{name}: target {bad[0]} is outside [0, {classes})")
    return np.where(counted, t, 0).astype(np.int64), counted


def nll_loss(log_probs: Tensor, targets, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """-log_probs[..., target], averaged over non-ignored positions (or summed, or per position)."""
    safe, counted = _class_targets("nll_loss", log_probs, targets, ignore_index)
    picked = take_along_axis(log_probs, safe[..., None], -1).reshape(safe.shape)
    mask = counted.astype(log_probs.dtype)
    loss = -(picked * _like(mask, log_probs))
    return _reduce("nll_loss", loss, reduction, int(counted.sum()))


def _like(array: np.ndarray, t: Tensor) -> Tensor:
    """A host array as a constant on t's device."""
    return as_operand(array, t)


def cross_entropy(logits: Tensor, targets, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """-sum_c q_c log_softmax(logits)_c over the last axis, q the one-hot target (or the given
    probabilities) smoothed by label_smoothing."""
    if not isinstance(logits, Tensor):
        raise TypeError("cross_entropy: logits must be a Tensor")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    probabilities = isinstance(targets, Tensor) and targets.dtype.kind == "f" or (
        not isinstance(targets, Tensor) and np.asarray(targets).dtype.kind == "f")
    classes = logits.shape[-1] if logits.ndim else 0
    if probabilities:
        q = as_operand(targets, logits)
        if q.shape != logits.shape:
            raise ValueError(f"cross_entropy: targets must be integers (class indices of shape "
                             f"{logits.shape[:-1]}) or probabilities of the logits' shape "
                             f"{logits.shape}, got {q.dtype} of shape {q.shape}")
        if label_smoothing:
            q = q * (1.0 - label_smoothing) + label_smoothing / classes
        loss = -sum_(q * log_softmax(logits, -1), axis=-1)
        return _reduce("cross_entropy", loss, reduction)
    if reduction == "mean" and not label_smoothing:
        return fused.cross_entropy(logits, targets, ignore_index)
    log_probs = log_softmax(logits, -1)
    nll = nll_loss(log_probs, targets, ignore_index, "none")
    if label_smoothing:
        _, counted = _class_targets("cross_entropy", logits, targets, ignore_index)
        mask = _like(counted.astype(logits.dtype), logits)
        uniform = -(sum_(log_probs, axis=-1) * mask) * (1.0 / classes)
        nll = nll * (1.0 - label_smoothing) + uniform * label_smoothing
    count = None
    if reduction == "mean":
        count = int((np.asarray(targets.numpy() if isinstance(targets, Tensor) else targets)
                     != ignore_index).sum())
    return _reduce("cross_entropy", nll, reduction, count)


def binary_cross_entropy(probabilities: Tensor, target, reduction: str = "mean") -> Tensor:
    """-(y log p + (1 - y) log(1 - p)), each log clamped at -100; d/dp = (p - y) /
    max(p (1 - p), 1e-12) (torch's forms: finite at p = 0 and 1)."""
    p, y = _pair("binary_cross_entropy", probabilities, target)
    be = backend_of(p.data)
    t = p.dtype.type
    one, floor_ = t(1), t(-100)
    pd, yd = p.data, y.data
    # torch clamps log at -100; flooring p at the smallest subnormal first keeps log finite
    # (log(0) is a domain error in the CUDA simulator) and still lands below -100
    tiny = t(np.finfo(p.dtype).smallest_subnormal)
    log_p = be.maximum(be.log(be.maximum(pd, tiny)), floor_)
    log_q = be.maximum(be.log(be.maximum(be.sub(one, pd), tiny)), floor_)
    loss = be.neg(be.add(be.mul(yd, log_p), be.mul(be.sub(one, yd), log_q)))

    def backward(g):
        slope = be.div(be.sub(pd, yd), be.maximum(be.mul(pd, be.sub(one, pd)), t(1e-12)))
        gy = be.mul(g, be.sub(log_q, log_p)) if y.requires_grad else None
        return be.mul(g, slope), gy

    return _reduce("binary_cross_entropy",
                   record("binary_cross_entropy", loss, (p, y), backward), reduction)


def binary_cross_entropy_with_logits(logits: Tensor, target, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """-(w y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))), w = pos_weight, without overflow."""
    x, y = _pair("binary_cross_entropy_with_logits", logits, target)
    softplus_neg = -logsigmoid(x)  # log(1 + exp(-x))
    weight = 1.0 if pos_weight is None else (pos_weight - 1.0) * y + 1.0
    return _reduce("binary_cross_entropy_with_logits", (1.0 - y) * x + weight * softplus_neg,
                   reduction)


def l1_loss(prediction: Tensor, target, reduction: str = "mean") -> Tensor:
    """|prediction - target|."""
    p, y = _pair("l1_loss", prediction, target)
    return _reduce("l1_loss", abs_(sub(p, y)), reduction)


def huber_loss(prediction: Tensor, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """d^2 / 2 where |d| < delta, else delta (|d| - delta / 2), d = prediction - target."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    p, y = _pair("huber_loss", prediction, target)
    d = sub(p, y)
    a = abs_(d)
    return _reduce("huber_loss", where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta)),
                   reduction)


def mse_loss(prediction: Tensor, target, reduction: str = "mean") -> Tensor:
    """(prediction - target)^2."""
    if reduction == "mean":
        return fused.mse_loss(prediction, target)
    p, y = _pair("mse_loss", prediction, target)
    d = sub(p, y)
    return _reduce("mse_loss", d * d, reduction)
