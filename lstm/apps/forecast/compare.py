"""How sure is a difference in forecast accuracy: the Diebold-Mariano test with the Harvey,
Leybourne & Newbold (1997) small-sample correction, and a moving-block bootstrap interval on
the RMSE difference.

Both work on the test origins as the unit of observation. Each origin t forecasts `horizon`
steps; its loss is the mean squared error over those steps, and the loss differential
d_t = loss_a(t) - loss_b(t). Consecutive origins share horizon - 1 targets, so d_t is
autocorrelated up to lag horizon - 1 (as an h-step-ahead error is in Diebold & Mariano 1995).

DM = mean(d) / sqrt(V / n), V = gamma_0 + 2 sum_{k=1}^{h-1} gamma_k (sample autocovariances of
d, divided by n); when that V is not positive (possible with few origins; below 1e-10 gamma_0
counts as zero), the Bartlett
(Newey-West) weights 1 - k/h are used instead, which keep it non-negative. HLN multiply DM by
sqrt((n + 1 - 2h + h(h-1)/n) / n) and compare it with Student's t on n - 1 degrees of freedom.

The bootstrap resamples origins in moving blocks of `horizon` consecutive origins (Kunsch
1989), recomputes RMSE_a - RMSE_b over the resampled (origin, step) pairs, and reports the 2.5
and 97.5 percentiles. With several seeds of a network, `a` is a stack (seeds, origins,
horizon): its loss is the mean over seeds, its RMSE the mean of the seeds' RMSEs, so the test
is about the seed-averaged accuracy the tables report, and the seed spread is reported apart.
"""

from __future__ import annotations

import math

import numpy as np


def _stack(forecasts, actual) -> tuple[np.ndarray, np.ndarray]:
    actual = np.asarray(actual, np.float64)
    if actual.ndim != 2:
        raise ValueError(f"actual must be (origins, horizon), got shape {actual.shape}")
    forecasts = np.asarray(forecasts, np.float64)
    if forecasts.ndim == 2:
        forecasts = forecasts[None]
    if forecasts.ndim != 3 or forecasts.shape[1:] != actual.shape:
        raise ValueError(f"forecasts must be (origins, horizon) or (seeds, origins, horizon) "
                         f"matching actual {actual.shape}, got shape {forecasts.shape}")
    return forecasts, actual


def origin_losses(forecasts, actual) -> np.ndarray:
    """(origins,): each origin's squared error averaged over its horizon (and over seeds)."""
    forecasts, actual = _stack(forecasts, actual)
    return ((forecasts - actual[None]) ** 2).mean(axis=(0, 2))


def _autocovariance(d: np.ndarray, lag: int) -> float:
    centred = d - d.mean()
    return float(np.dot(centred[lag:], centred[:len(d) - lag]) / len(d))


def diebold_mariano(forecasts_a, forecasts_b, actual, horizon: int | None = None) -> dict:
    """DM test of equal mean squared error of a and b (two-sided), HLN-corrected.

    Returns {"dm": corrected statistic, "p_value", "mean_diff": mean(d) (a's MSE minus b's),
    "n": origins, "lags": h - 1, "variance": "rectangular" | "bartlett"}. Negative dm: a is
    more accurate.
    """
    from scipy import stats

    d = origin_losses(forecasts_a, actual) - origin_losses(forecasts_b, actual)
    n = d.size
    h = np.asarray(actual).shape[1] if horizon is None else int(horizon)
    if h < 1 or n <= h:
        raise ValueError(f"diebold_mariano: {n} origins are too few for horizon {h} (need "
                         "more origins than the horizon to estimate h - 1 autocovariances)")
    lags = h - 1
    gammas = [_autocovariance(d, k) for k in range(lags + 1)]
    variance, kind = gammas[0] + 2.0 * sum(gammas[1:]), "rectangular"
    if not variance > 1e-10 * gammas[0]:  # zero up to rounding counts as not positive
        variance = gammas[0] + 2.0 * sum((1.0 - k / (lags + 1)) * g
                                         for k, g in enumerate(gammas[1:], start=1))
        kind = "bartlett"
    mean = float(d.mean())
    if not variance > 0:  # d constant: no sampling variation to test against
        return {"dm": math.nan, "p_value": math.nan, "mean_diff": mean, "n": n, "lags": lags,
                "variance": kind}
    correction = (n + 1 - 2 * h + h * (h - 1) / n) / n
    if correction <= 0:
        raise ValueError(f"diebold_mariano: {n} origins are too few for horizon {h} (the HLN "
                         "correction n + 1 - 2h + h(h-1)/n is not positive)")
    dm = mean / math.sqrt(variance / n) * math.sqrt(correction)
    p_value = float(2.0 * stats.t.sf(abs(dm), df=n - 1))
    return {"dm": float(dm), "p_value": p_value, "mean_diff": mean, "n": n, "lags": lags,
            "variance": kind}


def _rmse(forecasts: np.ndarray, actual: np.ndarray) -> float:
    """Mean over seeds of each seed's RMSE over all (origin, step) pairs."""
    return float(np.sqrt(((forecasts - actual[None]) ** 2).mean(axis=(1, 2))).mean())


def block_bootstrap_rmse_diff(forecasts_a, forecasts_b, actual, block: int | None = None,
                              n_boot: int = 2000, seed: int = 0,
                              level: float = 0.95) -> dict:
    """RMSE_a - RMSE_b and its moving-block bootstrap percentile interval over origins.

    Returns {"diff", "low", "high", "block", "n_boot"}."""
    a, actual = _stack(forecasts_a, actual)
    b, _ = _stack(forecasts_b, actual)
    n = actual.shape[0]
    block = actual.shape[1] if block is None else int(block)
    block = max(1, min(block, n))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - block + 1, size=(n_boot, math.ceil(n / block)))
    index = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(n_boot, -1)[:, :n]
    diffs = np.array([_rmse(a[:, i], actual[i]) - _rmse(b[:, i], actual[i]) for i in index])
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(diffs, [tail, 1.0 - tail])
    return {"diff": _rmse(a, actual) - _rmse(b, actual), "low": float(low), "high": float(high),
            "block": block, "n_boot": n_boot}
