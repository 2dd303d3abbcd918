"""ETS chosen by AICc among additive / multiplicative / damped variants, fitted from several
starting points, with a warning when the chosen fit lands on a bound of its parameters.

statsmodels' `ETSModel.fit` runs L-BFGS from one starting point (alpha 0.1, beta 0.01, gamma
0.01, phi 0.98); on the log airline series that start can end at alpha = 0.9999 with the other
smoothing weights at their lower bound 1e-4 (a random-walk level under a frozen season), a
local optimum. Here every candidate is first fitted from statsmodels' start; the REFIT best
candidates by AICc are then refitted from START_GRID's smoothing weights and keep their
highest log-likelihood; the lowest AICc on the fitted segment wins. (Refitting every candidate
from every start costs 4x the time: one co2 fit takes seconds.)

Candidates, on the modelling scale (log for airline), all with additive errors: trend in
{none, add, damped add}, season in {add, mul} when the series has a season (mul only for a
strictly positive series: sunspots has zero years), no season otherwise (sunspots tries none
and add; GDP growth has no season). Multiplicative errors change the likelihood, not the point
forecast's form, and doubled the cost; they are left out.

A parameter is on a bound when it lies within BOUND_TOL of it: alpha in (0, 1), beta in
(0, alpha), gamma in (0, 1 - alpha), phi in [0.8, 0.98] (statsmodels' traditional bounds). A
smoothing weight at 0 can be the maximum-likelihood answer (a deterministic trend or season),
but it means the fit cannot adapt that component; the caller logs it and records it in the
results row.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import warnings

import numpy as np

LOG = logging.getLogger("lstm.forecast")
BOUND_TOL = 1e-3
# (alpha, beta / alpha, gamma / (1 - alpha)) starting points, besides statsmodels' own
START_GRID = ((0.3, 0.1, 0.1), (0.7, 0.05, 0.2))
REFIT = 2
SMOOTHING = ("smoothing_level", "smoothing_trend", "smoothing_seasonal", "damping_trend")


@contextlib.contextmanager
def quiet():
    """statsmodels warns on convergence and frequency-less data: ours are plain arrays."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def candidate_specs(z: np.ndarray, season: int) -> list[dict]:
    """The ETSModel keyword sets tried for series z with period `season` (1: no season)."""
    positive = bool(np.all(np.asarray(z) > 0))
    trends = ((None, False), ("add", False), ("add", True))
    seasons = (None,) if season <= 1 else (("add", "mul") if positive else (None, "add"))
    specs = []
    for (trend, damped), seasonal in itertools.product(trends, seasons):
        spec = {"error": "add", "trend": trend, "damped_trend": damped, "seasonal": seasonal}
        if seasonal is not None:
            spec["seasonal_periods"] = season
        specs.append(spec)
    return specs


def spec_name(spec: dict) -> str:
    """ETS(E,T,S) in Hyndman's notation: ETS(A,Ad,M) is additive error, damped additive trend,
    multiplicative season."""
    letter = {None: "N", "add": "A", "mul": "M"}
    trend = letter[spec.get("trend")] + ("d" if spec.get("damped_trend") else "")
    return f"ETS({letter[spec['error']]},{trend},{letter[spec.get('seasonal')]})"


def smoothing_params(fitted) -> dict[str, float]:
    """The smoothing weights and damping of a fitted ETSModel (no initial states)."""
    return {name: float(value) for name, value in zip(fitted.model.param_names, fitted.params)
            if name in SMOOTHING}


def at_bounds(params: dict[str, float], tol: float = BOUND_TOL) -> list[str]:
    """'name=value (lower|upper bound)' for each parameter within `tol` of its bound."""
    alpha = params.get("smoothing_level")
    bounds = {"smoothing_level": (0.0, 1.0),
              "smoothing_trend": (0.0, alpha if alpha is not None else 1.0),
              "smoothing_seasonal": (0.0, 1.0 - alpha if alpha is not None else 1.0),
              "damping_trend": (0.8, 0.98)}
    hits = []
    for name, value in params.items():
        low, high = bounds[name]
        if value - low < tol:
            hits.append(f"{name}={value:.4g} (lower bound {low:g})")
        elif high - value < tol:
            hits.append(f"{name}={value:.4g} (upper bound {high:.4g})")
    return hits


def fit_default(z: np.ndarray, spec: dict):
    """ETSModel(z, **spec) by maximum likelihood from statsmodels' starting point."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    with quiet():
        return ETSModel(np.asarray(z, np.float64), **spec).fit(disp=False)


def fit_multistart(z: np.ndarray, spec: dict, best=None):
    """ETSModel(z, **spec) by maximum likelihood from START_GRID's starts (and statsmodels'
    own, unless `best`, a fit from it, is given); the fit with the highest log-likelihood."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    z = np.asarray(z, np.float64)
    with quiet():
        model = ETSModel(z, **spec)
        best = model.fit(disp=False) if best is None else best
        default = np.asarray(model.start_params, np.float64)
        index = {name: i for i, name in enumerate(model.param_names)}
        for alpha, beta_ratio, gamma_ratio in START_GRID:
            start = default.copy()
            start[index["smoothing_level"]] = alpha
            if "smoothing_trend" in index:
                start[index["smoothing_trend"]] = beta_ratio * alpha
            if "smoothing_seasonal" in index:
                start[index["smoothing_seasonal"]] = gamma_ratio * (1.0 - alpha)
            if "damping_trend" in index:
                start[index["damping_trend"]] = 0.9
            fitted = model.fit(start_params=start, disp=False)
            if np.isfinite(fitted.llf) and not fitted.llf <= best.llf:
                best = fitted
    return best


def select_ets(z: np.ndarray, season: int, dataset: str = "") -> tuple[object, dict, dict]:
    """(fitted, spec, info): the candidate with the lowest AICc on z. info: "model" (its
    ETS(E,T,S) name), "aicc", "params" (smoothing weights), "at_bound" (parameters on a
    bound: logged as a warning), "candidates" ([name, AICc] for each fit, best first)."""
    z = np.asarray(z, np.float64)
    fits = []
    for spec in candidate_specs(z, season):
        fitted = fit_default(z, spec)
        if np.isfinite(fitted.aicc):
            fits.append((float(fitted.aicc), spec, fitted))
    if not fits:
        raise ValueError(f"select_ets: no ETS candidate could be fitted to {dataset or 'the'} "
                         f"series ({z.size} values)")
    fits.sort(key=lambda item: item[0])
    for i, (_, spec, fitted) in enumerate(fits[:REFIT]):
        fitted = fit_multistart(z, spec, best=fitted)
        fits[i] = (float(fitted.aicc), spec, fitted)
    fits.sort(key=lambda item: item[0])
    aicc, spec, fitted = fits[0]
    params = smoothing_params(fitted)
    hits = at_bounds(params)
    if hits:
        LOG.warning("%s on %s: the AICc-best fit lands on a bound: %s", spec_name(spec),
                    dataset or "the series", "; ".join(hits))
    info = {"model": spec_name(spec), "aicc": aicc, "params": params, "at_bound": hits,
            "candidates": [[spec_name(s), round(a, 3)] for a, s, _ in fits]}
    return fitted, spec, info
