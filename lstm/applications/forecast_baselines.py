"""Classical baselines on the same split and forecast origins as the networks.

naive: y_{t+h} = y_t. seasonal naive: y_{t+h} = y_{t+h-m*ceil(h/m)}. ETS and SARIMA are
statsmodels' ETSModel and SARIMAX with the specification in BASELINE_SPECS per dataset, fitted
once by maximum likelihood on everything before the test segment (training + validation) on the
dataset's modelling scale (log for airline), then run with those parameters fixed over the data
up to each origin to forecast its horizon, and mapped back to the original scale.
"""

from __future__ import annotations

import contextlib
import importlib.util
import warnings

import numpy as np

BASELINES = ("naive", "seasonal_naive", "ets", "sarima")

# ETSModel keywords and SARIMAX (order, seasonal_order, trend): the textbook choices, fixed a
# priori (not tuned on the test segment): the airline model (0,1,1)(0,1,1)_12 of Box & Jenkins
# for airline and co2, AR(9) for sunspots (Tong 1990), AR(1) for quarterly GDP growth; ETS with
# additive error, damped trend and season where the series has them (the 11-year sunspot cycle as
# a season of 11), simple exponential smoothing for GDP growth.
BASELINE_SPECS = {
    "airline": {"ets": {"error": "add", "trend": "add", "damped_trend": True,
                        "seasonal": "add", "seasonal_periods": 12},
                "sarima": ((0, 1, 1), (0, 1, 1, 12), "n")},
    "co2": {"ets": {"error": "add", "trend": "add", "damped_trend": True, "seasonal": "add",
                    "seasonal_periods": 12},
            "sarima": ((0, 1, 1), (0, 1, 1, 12), "n")},
    "sunspots": {"ets": {"error": "add", "seasonal": "add", "seasonal_periods": 11},
                 "sarima": ((9, 0, 0), (0, 0, 0, 0), "c")},
    "macro": {"ets": {"error": "add"}, "sarima": ((1, 0, 0), (0, 0, 0, 0), "c")},
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


@contextlib.contextmanager
def _quiet():
    """statsmodels warns on convergence and frequency-less data: ours are plain arrays."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def fit_ets(z: np.ndarray, spec: dict):
    """ETSModel(z, **spec) fitted by maximum likelihood."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    with _quiet():
        return ETSModel(np.asarray(z, np.float64), **spec).fit(disp=False)


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
                       origins, horizon: int, season: int) -> dict[str, np.ndarray]:
    """{baseline: (origins, horizon) forecasts on the original scale}.

    y: the target on the original scale; z: on the modelling scale (z = transform(y)), with
    `inverse` mapping z back; the models are fitted on z[:fit_end].
    """
    if dataset not in BASELINE_SPECS:
        raise ValueError(f"no baseline specification for dataset {dataset!r}; known: "
                         f"{tuple(BASELINE_SPECS)}")
    if importlib.util.find_spec("statsmodels") is None:
        raise ValueError("the ETS and SARIMA baselines need statsmodels: pip install "
                         "'minigrad-lstm[apps]'")
    spec = BASELINE_SPECS[dataset]
    origins = np.asarray(origins, np.int64)
    if origins.max() >= len(y) or origins.min() < fit_end - 1:
        raise ValueError(f"baseline origins must lie in [{fit_end - 1}, {len(y) - 1}] (after the"
                         f" fitted segment), got {origins.min()}..{origins.max()}")
    ets = fit_ets(z[:fit_end], spec["ets"])
    sarima = fit_sarima(z[:fit_end], *spec["sarima"])
    return {"naive": naive(y, origins, horizon),
            "seasonal_naive": seasonal_naive(y, origins, horizon, season),
            "ets": inverse(ets_forecasts(z, ets, spec["ets"], origins, horizon)),
            "sarima": inverse(sarima_forecasts(z, sarima, origins, horizon))}
