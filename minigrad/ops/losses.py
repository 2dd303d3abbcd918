"""Losses with torch's ``reduction="mean" | "sum" | "none"``: nll_loss, cross_entropy (ignore_index,
label_smoothing, probability targets), binary_cross_entropy (+ with_logits), l1, huber, mse.

Classes sit on the last axis (minigrad's convention); ``axis=1`` takes torch's (N, C, d1, ...)
layout, and ``weight=`` torch's per-class weights (the mean divides by the total weight). The plain
mean cross-entropy and mse keep their fused kernels (``ops/loss.py``); the other variants are
composed of primitives, so their gradients come from the parts.
"""

from __future__ import annotations

import numpy as np

from ..autograd import host_check, record
from ..backends import backend_of
from ..tensor import Tensor, as_operand
from . import loss as fused
from .activations import logsigmoid
from .elementwise import abs as abs_
from .elementwise import add, mul, sub, where
from .loss import log_softmax
from .reduce import sum as sum_
from .reductions import axis_index
from .selection import take_along_axis
from .shape import transpose

__all__ = [  # torch.nn.functional's names (minigrad.functional and mg.<name>)
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "huber_loss",
    "l1_loss", "mse_loss", "nll_loss",
]


def _check_reduction(name: str, reduction) -> None:
    if not isinstance(reduction, str) or reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
                         + ("" if isinstance(reduction, str) else " (weight= goes by keyword)"))


def _reduce(name: str, loss: Tensor, reduction: str, count=None) -> Tensor:
    _check_reduction(name, reduction)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return sum_(loss)
    n = loss.size if count is None else count
    if not n:  # 0 / 0: NaN, and a zero gradient (torch's; `sum * nan` gave every input NaN)
        return add(mul(sum_(loss), 0.0), np.nan)
    return mul(sum_(loss), 1.0 / n)


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


def _check_ignore_index(name: str, ignore_index) -> None:
    if not isinstance(ignore_index, int | np.integer) or isinstance(ignore_index, bool):
        raise TypeError(f"{name}: ignore_index must be an int, got {type(ignore_index).__name__} "
                        "(torch's third positional argument is weight: pass weight= by keyword)")


def _class_targets(name: str, scores: Tensor, targets, ignore_index: int):
    _check_ignore_index(name, ignore_index)
    t = targets.numpy() if isinstance(targets, Tensor) else np.asarray(targets)
    if t.dtype.kind not in "iu":
        raise ValueError(f"{name}: class targets must be integers, got dtype {t.dtype}")
    if scores.ndim < 1 or t.shape != scores.shape[:-1]:
        raise ValueError(f"{name}: targets of shape {t.shape} do not match scores of shape "
                         f"{scores.shape} (expected {scores.shape[:-1]}, classes on the last "
                         "axis; pass axis=1 for torch's (N, C, d1, ...) layout)")
    classes = scores.shape[-1]
    counted = t != ignore_index
    bad = t[counted & ((t < 0) | (t >= classes))]
    if bad.size:
        raise ValueError(f"{name}: target {bad[0]} is outside [0, {classes})")
    return np.where(counted, t, 0).astype(np.int64), counted


def _classes_last(name: str, scores, axis: int, *others):
    """scores (and same-shaped others) with the class axis moved last; axis=1 is torch's layout."""
    if not isinstance(scores, Tensor):
        raise TypeError(f"{name}: expected a Tensor of scores, got {type(scores).__name__}")
    if scores.ndim == 0:
        raise ValueError(f"{name}: needs at least 1 dim (the classes), got a 0-d tensor")
    ax = axis_index(name, axis, scores.ndim)
    if ax == scores.ndim - 1:
        return (scores, *others)
    order = tuple(d for d in range(scores.ndim) if d != ax) + (ax,)
    return (transpose(scores, order), *(o if o is None else transpose(o, order) for o in others))


def _class_weight(name: str, weight, scores: Tensor):
    """weight as a host array of one value per class (or None)."""
    if weight is None:
        return None
    w = weight.numpy() if isinstance(weight, Tensor) else np.asarray(weight)
    classes = scores.shape[-1]
    if w.shape != (classes,):
        raise ValueError(f"{name}: weight must have one value per class, shape ({classes},), "
                         f"got {w.shape}")
    return w.astype(scores.dtype)


def _weighted_count(counted, safe, w) -> float:
    """The mean's denominator: the counted positions, each weighted by its class's weight."""
    return float(counted.sum()) if w is None else float((w[safe] * counted).sum())


def nll_loss(log_probs: Tensor, targets, ignore_index: int = -100, reduction: str = "mean",
             weight=None, axis: int = -1) -> Tensor:
    """-weight[target] log_probs[..., target], averaged over non-ignored positions (divided by
    their total weight, torch's), summed, or per position. Classes on the last axis, or on `axis`
    (axis=1: torch's (N, C, d1, ...) with targets (N, d1, ...))."""
    (log_probs,) = _classes_last("nll_loss", log_probs, axis)
    safe, counted = _class_targets("nll_loss", log_probs, targets, ignore_index)
    w = _class_weight("nll_loss", weight, log_probs)
    picked = take_along_axis(log_probs, safe[..., None], -1).reshape(safe.shape)
    scale = counted.astype(log_probs.dtype) * (1 if w is None else w[safe])
    loss = -(picked * _like(scale.astype(log_probs.dtype), log_probs))
    return _reduce("nll_loss", loss, reduction, _weighted_count(counted, safe, w))


def _like(array: np.ndarray, t: Tensor) -> Tensor:
    """A host array as a constant on t's device."""
    return as_operand(array, t)


def cross_entropy(logits: Tensor, targets, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0, weight=None, axis: int = -1) -> Tensor:
    """-sum_c w_c q_c log_softmax(logits)_c over the class axis (the last, or `axis`: axis=1 is
    torch's (N, C, d1, ...) layout), q the one-hot target (or the given probabilities, of the
    logits' shape) smoothed by label_smoothing, w the class weights (1 when None); the mean
    divides by the total weight of the counted targets (torch's)."""
    if not isinstance(logits, Tensor):
        raise TypeError("cross_entropy: logits must be a Tensor")
    _check_ignore_index("cross_entropy", ignore_index)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    probabilities = isinstance(targets, Tensor) and targets.dtype.kind == "f" or (
        not isinstance(targets, Tensor) and np.asarray(targets).dtype.kind == "f")
    if probabilities:
        q = as_operand(targets, logits)
        if q.shape != logits.shape:
            raise ValueError(f"cross_entropy: targets must be integers (class indices) or "
                             f"probabilities of the logits' shape {logits.shape}, got {q.dtype} "
                             f"of shape {q.shape}")
        logits, q = _classes_last("cross_entropy", logits, axis, q)
        w = _class_weight("cross_entropy", weight, logits)
        classes = logits.shape[-1]
        if label_smoothing:
            q = q * (1.0 - label_smoothing) + label_smoothing / classes
        if w is not None:
            q = q * _like(w, logits)
        loss = -sum_(q * log_softmax(logits, -1), axis=-1)
        return _reduce("cross_entropy", loss, reduction)
    (logits,) = _classes_last("cross_entropy", logits, axis)
    if reduction == "mean" and not label_smoothing and weight is None:
        return fused.cross_entropy(logits, targets, ignore_index)
    log_probs = log_softmax(logits, -1)
    nll = nll_loss(log_probs, targets, ignore_index, "none", weight)
    safe, counted = _class_targets("cross_entropy", logits, targets, ignore_index)
    w = _class_weight("cross_entropy", weight, logits)
    if label_smoothing:
        classes = logits.shape[-1]
        mask = _like(counted.astype(logits.dtype), logits)
        weighted = log_probs if w is None else log_probs * _like(w, logits)
        uniform = -(sum_(weighted, axis=-1) * mask) * (1.0 / classes)
        nll = nll * (1.0 - label_smoothing) + uniform * label_smoothing
    return _reduce("cross_entropy", nll, reduction, _weighted_count(counted, safe, w))


def _check_probabilities(array) -> None:
    """torch's refusal of probabilities outside [0, 1] (NaN passes: it propagates, as in every
    other loss, and detect_anomaly names it)."""
    values = np.asarray(array)
    outside = (values < 0) | (values > 1)
    if outside.any():
        bad = values[outside]
        raise ValueError(
            f"binary_cross_entropy: probabilities must be in [0, 1], got {outside.sum()} "
            f"value(s) outside (from {bad.min()} to {bad.max()}); pass logits to "
            "binary_cross_entropy_with_logits")


def _element_weight(name: str, weight, loss: Tensor) -> Tensor:
    """loss times torch's `weight=` (broadcast to the loss's shape, not the other way)."""
    if weight is None:
        return loss
    w = as_operand(weight, loss)
    try:
        fits = np.broadcast_shapes(w.shape, loss.shape) == loss.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: weight of shape {w.shape} does not broadcast to the "
                         f"input's shape {loss.shape}")
    return mul(loss, w if w.dtype == loss.dtype else w.astype(loss.dtype))


def binary_cross_entropy(probabilities: Tensor, target, reduction: str = "mean",
                         weight=None) -> Tensor:
    """-w (y log p + (1 - y) log(1 - p)), each log clamped at -100; d/dp = (p - y) /
    max(p (1 - p), 1e-12) and d/dy = log(1 - p) - log(p) (torch's forms: the first finite at
    p = 0 and 1, the second +-inf there). `weight` multiplies each element's loss (broadcast
    to the input's shape; the mean still divides by the element count, torch's).
    Probabilities outside [0, 1] are refused (torch's), checked on every call of a compiled
    program too."""
    _check_reduction("binary_cross_entropy", reduction)
    p, y = _pair("binary_cross_entropy", probabilities, target)
    be = backend_of(p.data)
    host_check(lambda a: _check_probabilities(be.to_host(a)), p.data)
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
        gy = None
        if y.requires_grad:  # torch's -logit(p), unclamped (the clamped logs gave +-100)
            with np.errstate(divide="ignore"):
                gy = be.mul(g, be.sub(be.log(be.sub(one, pd)), be.log(pd)))
        return be.mul(g, slope), gy

    loss = record("binary_cross_entropy", loss, (p, y), backward)
    return _reduce("binary_cross_entropy",
                   _element_weight("binary_cross_entropy", weight, loss), reduction)


def binary_cross_entropy_with_logits(logits: Tensor, target, reduction: str = "mean",
                                     pos_weight=None, weight=None) -> Tensor:
    """-v (w y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))), w = pos_weight (one per class,
    the last axis), v = weight (per element, broadcast to the input's shape), without
    overflow."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    x, y = _pair("binary_cross_entropy_with_logits", logits, target)
    softplus_neg = -logsigmoid(x)  # log(1 + exp(-x))
    scale = 1.0 if pos_weight is None else (pos_weight - 1.0) * y + 1.0
    loss = _element_weight("binary_cross_entropy_with_logits", weight,
                           (1.0 - y) * x + scale * softplus_neg)
    return _reduce("binary_cross_entropy_with_logits", loss, reduction)


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
    """(prediction - target)^2; an integer or bool target is cast to the prediction's dtype
    (as every loss here), the mean of no elements is NaN with a zero gradient (torch's)."""
    if reduction == "mean" and isinstance(prediction, Tensor) and prediction.size:
        # the fused kernel (every training step's loss: nothing more on its path than a look at
        # the target's dtype)
        kind = getattr(getattr(target, "dtype", None), "kind", "f")
        if kind in "biu" and prediction.dtype.kind == "f":
            target = as_operand(target, prediction).astype(prediction.dtype)
        return fused.mse_loss(prediction, target)
    _check_reduction("mse_loss", reduction)
    p, y = _pair("mse_loss", prediction, target)
    d = sub(p, y)
    return _reduce("mse_loss", d * d, reduction)
