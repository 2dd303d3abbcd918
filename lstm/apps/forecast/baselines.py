"""Classical baselines on the same split and forecast origins as the networks.

naive: y_{t+h} = y_t. seasonal naive: y_{t+h} = y_{t+h-m*k} with k = ceil(h/m). seasonal naive
with drift: the same plus k times the mean year-on-year (season-on-season) change of the fitted
segment, on the modelling scale (log for airline: the mean growth rate). ETS is the AICc-best of
statsmodels' ETSModel variants (ets.select_ets); SARIMA is statsmodels' SARIMAX with
the specification in SARIMA_SPECS. Every model is fitted once on everything before the test
segment (training + validation) on the dataset's modelling scale, then run with those
parameters fixed over the data up to each origin to forecast its horizon, and mapped back to
the original scale.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from .ets import quiet as _quiet
from .ets import select_ets

BASELINES = ("naive", "seasonal_naive", "seasonal_naive_drift", "ets", "sarima")
CLASSICAL = BASELINES  # every baseline is a classical method

# SARIMAX (order, seasonal_order, trend): the textbook choices, fixed a priori (not tuned on the
# test segment): the airline model (0,1,1)(0,1,1)_12 of Box & Jenkins for airline and co2, AR(9)
# for sunspots (Tong 1990), AR(1) for quarterly GDP growth.
SARIMA_SPECS = {
    "airline": ((0, 1, 1), (0, 1, 1, 12), "n"),
    "co2": ((0, 1, 1), (0, 1, 1, 12), "n"),
    "sunspots": ((9, 0, 0), (0, 0, 0, 0), "c"),
    "macro": ((1, 0, 0), (0, 0, 0, 0), "c"),
}


def naive(y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """(origins, horizon): the last observed value repeated."""
    return np.repeat(np.asarray(y, np.float64)[origins][:, None], horizon, axis=1)


def seasonal_naive(y: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """(origins, horizon): the value one season (or whole seasons) before each target."""
    h = np.arange(1, horizon + 1)
    back = season * np.ceil(h / season).astype(np.int64)
    steps = np.asarray(origins)[:, None] + h[None, :] - back[None, :]
    if steps.min() < 0:
        raise ValueError(f"seasonal_naive: origin {int(np.min(origins))} has less than one "
                         f"season ({season}) of history")
    return np.asarray(y, np.float64)[steps]


def seasonal_naive_drift(z: np.ndarray, origins: np.ndarray, horizon: int, season: int,
                         fit_end: int) -> np.ndarray:
    """(origins, horizon): seasonal naive plus k = ceil(h/season) times the mean change from
    one season to the next over z[:fit_end] (mean of z[t] - z[t-season])."""
    z = np.asarray(z, np.float64)
    if fit_end <= season:
        raise ValueError(f"seasonal_naive_drift: need more than one season ({season}) of "
                         f"fitted data, got fit_end={fit_end}")
    growth = float(np.mean(z[season:fit_end] - z[:fit_end - season]))
    k = np.ceil(np.arange(1, horizon + 1) / season)
    return seasonal_naive(z, origins, horizon, season) + k[None, :] * growth


def ets_forecasts(z: np.ndarray, fitted, spec: dict, origins, horizon: int) -> np.ndarray:
    """(origins, horizon): the fitted parameters run over z[:t+1] for each origin t."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    with _quiet():
        return np.stack([ETSModel(np.asarray(z[:t + 1], np.float64), **spec)
                         .smooth(fitted.params).forecast(horizon) for t in origins])


def fit_sarima(z: np.ndarray, order, seasonal_order, trend):
    """SARIMAX(z, order, seasonal_order, trend) fitted by maximum likelihood."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    with _quiet():
        return SARIMAX(np.asarray(z, np.float64), order=order, seasonal_order=seasonal_order,
                       trend=trend).fit(disp=False)


def sarima_forecasts(z: np.ndarray, fitted, origins, horizon: int) -> np.ndarray:
    """(origins, horizon): the fitted parameters applied to z[:t+1] for each origin t."""
    with _quiet():
        return np.stack([fitted.apply(np.asarray(z[:t + 1], np.float64)).forecast(horizon)
                         for t in origins])


def baseline_forecasts(dataset: str, y: np.ndarray, z: np.ndarray, inverse, fit_end: int,
                       origins, horizon: int, season: int) -> tuple[dict, dict]:
    """({baseline: (origins, horizon) forecasts on the original scale}, {"ets": select_ets's
    info}).

    y: the target on the original scale; z: on the modelling scale (z = transform(y), not
    standardised: the multiplicative ETS forms need the positive values), with `inverse`
    mapping z back; the models are fitted on z[:fit_end].
    """
    if dataset not in SARIMA_SPECS:
        raise ValueError(f"no baseline specification for dataset {dataset!r}; known: "
                         f"{tuple(SARIMA_SPECS)}")
    if importlib.util.find_spec("statsmodels") is None:
        raise ValueError("the ETS and SARIMA baselines need statsmodels: pip install "
                         "'minigrad-lstm[apps]'")
    origins = np.asarray(origins, np.int64)
    if origins.max() >= len(y) or origins.min() < fit_end - 1:
        raise ValueError(f"baseline origins must lie in [{fit_end - 1}, {len(y) - 1}] (after the"
                         f" fitted segment), got {origins.min()}..{origins.max()}")
    ets, ets_spec, ets_info = select_ets(z[:fit_end], season, dataset)
    sarima = fit_sarima(z[:fit_end], *SARIMA_SPECS[dataset])
    forecasts = {
        "naive": naive(y, origins, horizon),
        "seasonal_naive": seasonal_naive(y, origins, horizon, season),
        "seasonal_naive_drift": inverse(seasonal_naive_drift(z, origins, horizon, season,
                                                             fit_end)),
        "ets": inverse(ets_forecasts(z, ets, ets_spec, origins, horizon)),
        "sarima": inverse(sarima_forecasts(z, sarima, origins, horizon))}
    return forecasts, {"ets": ets_info}
