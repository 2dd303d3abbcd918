"""Test-set metrics on host arrays, in float64: regression (adding) and sequence recall (copy,
selective copy, MQAR)."""

from __future__ import annotations

import numpy as np


def regression_metrics(prediction, target, tolerance: float | None = None) -> dict[str, float]:
    """MSE, RMSE, MAE and R^2 = 1 - SS_res / SS_tot (nan when the target is constant).

    With `tolerance`, also `within_tolerance`: the fraction of |prediction - target| < tolerance.
    """
    prediction = np.asarray(prediction, np.float64)
    target = np.asarray(target, np.float64)
    if prediction.shape != target.shape or prediction.size == 0:
        raise ValueError(f"regression_metrics: prediction shape {prediction.shape} and target "
                         f"shape {target.shape} must match and be non-empty")
    error = prediction - target
    mse = float(np.mean(error ** 2))
    total = float(np.sum((target - target.mean()) ** 2))
    out = {"mse": mse, "rmse": float(np.sqrt(mse)), "mae": float(np.mean(np.abs(error))),
           "r2": 1.0 - float(np.sum(error ** 2)) / total if total > 0 else float("nan")}
    if tolerance is not None:
        out["within_tolerance"] = float(np.mean(np.abs(error) < tolerance))
    return out


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """logits - logsumexp(logits) over the last axis, in float64."""
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def copy_metrics(logits, targets, n_copy: int) -> dict[str, float]:
    """Cross-entropy over all steps, and over / accuracy of argmax on the last n_copy steps.

    logits (T', B, C), targets (T', B) ints. `recall_accuracy` is the solved test's number (chance
    1 / n_symbols); `recall_cross_entropy` is S4's score (baseline ln n_symbols).
    """
    logits = np.asarray(logits)
    targets = np.asarray(targets)
    if logits.ndim != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(f"copy_metrics: logits must be (T', B, C) and targets (T', B), got "
                         f"{logits.shape} and {targets.shape}")
    if not 1 <= n_copy <= targets.shape[0]:
        raise ValueError(f"copy_metrics: n_copy must be in 1..{targets.shape[0]}, got {n_copy}")
    due = np.zeros(targets.shape, bool)
    due[-n_copy:] = True  # the recall phase
    return _recall_scores("copy_metrics", logits, targets, due)


def query_metrics(logits, targets, due) -> dict[str, float]:
    """copy_metrics' four numbers where the answers are due at the steps `due` (T', B) bool (MQAR:
    the query steps) instead of the last n_copy steps."""
    logits, targets, due = np.asarray(logits), np.asarray(targets), np.asarray(due, bool)
    if logits.ndim != 3 or targets.shape != logits.shape[:2] or due.shape != targets.shape:
        raise ValueError(f"query_metrics: logits must be (T', B, C), targets and due (T', B), "
                         f"got {logits.shape}, {targets.shape} and {due.shape}")
    if not due.any():
        raise ValueError("query_metrics: no step is due (due is all False)")
    return _recall_scores("query_metrics", logits, targets, due)


def _recall_scores(caller: str, logits, targets, due) -> dict[str, float]:
    if targets.min() < 0 or targets.max() >= logits.shape[-1]:
        raise ValueError(f"{caller}: targets must be in [0, {logits.shape[-1]}), got "
                         f"min {targets.min()} max {targets.max()}")
    picked = -np.take_along_axis(log_softmax(logits), targets[..., None], axis=-1)[..., 0]
    right = logits.argmax(axis=-1) == targets
    return {"cross_entropy": float(picked.mean()),
            "recall_cross_entropy": float(picked[due].mean()),
            "recall_accuracy": float(right[due].mean()),
            "accuracy": float(right.mean())}
