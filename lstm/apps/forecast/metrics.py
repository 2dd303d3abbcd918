"""Forecast accuracy on the original scale: MSE, RMSE, MAE, R^2, sMAPE and MASE.

Every forecast origin contributes its `horizon` errors; the metrics pool all (origin, step)
pairs. R^2 is 1 - SS_res / SS_tot over the pooled targets (scikit-learn's r2_score on the
flattened arrays). sMAPE is in percent, 100 * mean(2 |y - f| / (|y| + |f|)), a term with
y = f = 0 counting 0. MASE divides the MAE by the in-sample MAE of the seasonal naive
forecast y_t = y_{t-m} on the training segment (Hyndman & Koehler 2006).
"""

from __future__ import annotations

import numpy as np

from ...metrics import regression_metrics

METRICS = ("mse", "rmse", "mae", "r2", "smape", "mase")


def smape(prediction, target) -> float:
    """Symmetric MAPE in percent; 0/0 terms count 0."""
    prediction = np.asarray(prediction, np.float64)
    target = np.asarray(target, np.float64)
    denominator = np.abs(target) + np.abs(prediction)
    terms = np.divide(2.0 * np.abs(target - prediction), denominator,
                      out=np.zeros_like(denominator), where=denominator > 0)
    return float(100.0 * terms.mean())


def mase_scale(insample, season: int) -> float:
    """In-sample MAE of the seasonal naive forecast with period `season` (1: naive)."""
    insample = np.asarray(insample, np.float64)
    if season < 1 or insample.size <= season:
        raise ValueError(f"mase_scale: need season >= 1 and more than {season} in-sample values,"
                         f" got season {season} and {insample.size} values")
    scale = float(np.mean(np.abs(insample[season:] - insample[:-season])))
    if scale == 0:
        raise ValueError("mase_scale: the in-sample seasonal differences are all zero")
    return scale


def forecast_metrics(prediction, target, scale: float) -> dict[str, float]:
    """The six metrics of (origins, horizon) forecasts; `scale` is mase_scale's value."""
    prediction = np.asarray(prediction, np.float64)
    target = np.asarray(target, np.float64)
    if not np.all(np.isfinite(prediction)):
        raise ValueError(f"forecast_metrics: {int((~np.isfinite(prediction)).sum())} "
                         "predictions are not finite")
    out = regression_metrics(prediction.ravel(), target.ravel())
    out["smape"] = smape(prediction, target)
    out["mase"] = out["mae"] / scale
    return {k: out[k] for k in METRICS}
