"""Baselines: naive forecasts by hand, the seasonal naive with drift in numpy, ETS and SARIMA
against statsmodels' own forecasts, the AICc choice of ETS and its warning on a bound."""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("statsmodels")

from lstm.apps.forecast.baselines import (  # noqa: E402
    SARIMA_SPECS,
    baseline_forecasts,
    ets_forecasts,
    fit_sarima,
    naive,
    sarima_forecasts,
    seasonal_naive,
    seasonal_naive_drift,
)
from lstm.apps.forecast.data import load_series  # noqa: E402
from lstm.apps.forecast.ets import (  # noqa: E402
    at_bounds,
    candidate_specs,
    fit_default,
    select_ets,
    spec_name,
)

AAM = {"error": "add", "trend": "add", "damped_trend": False, "seasonal": "mul",
       "seasonal_periods": 12}


def test_naive_and_seasonal_naive_by_hand():
    y = np.arange(10.0) ** 2
    np.testing.assert_array_equal(naive(y, np.array([3, 5]), 2), [[9, 9], [25, 25]])
    # season 3 from origin 5: steps 6, 7, 8, 9 -> 3, 4, 5 (one season back), 3 (two seasons back)
    np.testing.assert_array_equal(seasonal_naive(y, np.array([5]), 4, 3), [[9, 16, 25, 9]])
    with pytest.raises(ValueError, match="less than one season"):
        seasonal_naive(y, np.array([1]), 3, 3)


def test_seasonal_naive_drift_by_hand():
    y = np.arange(10.0) ** 2
    # season 3, fitted on y[:6]: changes y[3:6] - y[0:3] = 9, 15, 21, mean 15
    got = seasonal_naive_drift(y, np.array([5]), 4, 3, fit_end=6)
    np.testing.assert_array_equal(got, [[9 + 15, 16 + 15, 25 + 15, 9 + 30]])
    with pytest.raises(ValueError, match="more than one season"):
        seasonal_naive_drift(y, np.array([5]), 4, 3, fit_end=3)


@pytest.fixture(scope="module")
def airline():
    series = load_series("airline")
    return series.values[:, 0], np.log(series.values[:, 0])


def test_seasonal_naive_drift_on_airline_matches_numpy(airline):
    """The rule of issue 22, computed independently: seasonal naive on the log series plus the
    mean 12-month log growth of 1949-1958, from the 13 origins of the old 24-month test
    (1959-1960): RMSE 15.8, MAE 12.1 thousand passengers."""
    y, z = airline
    origins, steps = np.arange(119, 132), np.arange(1, 13)
    growth = np.log(y[12:120] / y[:108]).mean()
    expected = y[origins[:, None] + steps - 12] * np.exp(growth)
    got = np.exp(seasonal_naive_drift(z, origins, 12, 12, 120))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    error = got - y[origins[:, None] + steps]
    assert np.sqrt(np.mean(error ** 2)) == pytest.approx(15.78, abs=0.01)
    assert np.mean(np.abs(error)) == pytest.approx(12.07, abs=0.01)


def test_sarima_matches_statsmodels(airline):
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    _, z = airline
    order, seasonal, trend = SARIMA_SPECS["airline"]
    fitted = fit_sarima(z[:120], order, seasonal, trend)
    reference = SARIMAX(z[:120], order=order, seasonal_order=seasonal, trend=trend).fit(
        disp=False)
    np.testing.assert_allclose(fitted.params, reference.params, rtol=1e-6)
    got = sarima_forecasts(z, fitted, np.array([119, 126]), 12)
    np.testing.assert_allclose(got[0], reference.forecast(12), rtol=1e-10)
    # a later origin: the same parameters filtered over seven more observations
    np.testing.assert_allclose(got[1], reference.append(z[120:127]).forecast(12), rtol=1e-8)


def test_ets_matches_statsmodels(airline):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    _, z = airline
    fitted = fit_default(z[:120], AAM)
    got = ets_forecasts(z, fitted, AAM, np.array([119, 126]), 12)
    np.testing.assert_allclose(got[0], fitted.forecast(12), rtol=1e-10)
    # a later origin: the fitted model run over the whole series, predicted dynamically from 127
    whole = ETSModel(z, **AAM).smooth(fitted.params)
    dynamic = whole.predict(start=127, end=138, dynamic=0)
    np.testing.assert_allclose(got[1], dynamic, rtol=1e-8)


def test_candidates_and_names():
    positive = np.linspace(1, 2, 40)
    names = [spec_name(s) for s in candidate_specs(positive, 12)]
    assert names == ["ETS(A,N,A)", "ETS(A,N,M)", "ETS(A,A,A)", "ETS(A,A,M)", "ETS(A,Ad,A)",
                     "ETS(A,Ad,M)"]
    signed = positive - 1.5  # multiplicative seasons need positive values
    assert [spec_name(s) for s in candidate_specs(signed, 11)] == [
        "ETS(A,N,N)", "ETS(A,N,A)", "ETS(A,A,N)", "ETS(A,A,A)", "ETS(A,Ad,N)", "ETS(A,Ad,A)"]
    assert len(candidate_specs(positive, 1)) == 3


def test_at_bounds_names_each_parameter_on_a_bound():
    assert at_bounds({"smoothing_level": 0.5, "smoothing_seasonal": 0.2}) == []
    hits = at_bounds({"smoothing_level": 0.9999, "smoothing_trend": 1e-5,
                      "smoothing_seasonal": 3e-4, "damping_trend": 0.98})
    assert [h.split("=")[0] for h in hits] == ["smoothing_level", "smoothing_trend",
                                                "smoothing_seasonal", "damping_trend"]
    assert "upper bound" in hits[0] and "lower bound" in hits[1]
    # beta is bounded by alpha, gamma by 1 - alpha
    assert at_bounds({"smoothing_level": 0.4, "smoothing_trend": 0.3995}) != []
    assert at_bounds({"smoothing_level": 0.4, "smoothing_seasonal": 0.5995}) != []


def test_select_ets_takes_the_lowest_aicc_and_warns_on_a_bound(caplog):
    """White noise: the maximum-likelihood level weight is 0 (the mean), so the AICc-best
    ETS(A,N,N) lands on the lower bound, which is logged and recorded."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    z = np.random.default_rng(0).normal(size=80)
    with caplog.at_level(logging.WARNING, logger="lstm.forecast"):
        fitted, spec, info = select_ets(z, 1, "noise")
    assert info["model"] == spec_name(spec) == info["candidates"][0][0]
    assert info["aicc"] == pytest.approx(min(a for _, a in info["candidates"]), abs=1e-3)
    assert info["aicc"] == pytest.approx(fitted.aicc)
    # no worse than statsmodels' own fit of the chosen specification
    with np.errstate(all="ignore"):
        direct = ETSModel(z, **spec).fit(disp=False)
    assert fitted.llf >= direct.llf - 1e-6
    assert info["at_bound"] and info["at_bound"][0].startswith("smoothing_level")
    assert any("lands on a bound" in r.getMessage() and "noise" in r.getMessage()
               for r in caplog.records)


def test_baseline_forecasts_on_the_original_scale(airline):
    y, z = airline
    origins = np.arange(119, 133)
    got, fits = baseline_forecasts("airline", y, z, np.exp, 120, origins, 12, 12)
    assert set(got) == {"naive", "seasonal_naive", "seasonal_naive_drift", "ets", "sarima"}
    assert all(f.shape == (14, 12) for f in got.values())
    fitted = fit_sarima(z[:120], *SARIMA_SPECS["airline"])
    np.testing.assert_allclose(got["sarima"][0], np.exp(fitted.forecast(12)), rtol=1e-8)
    np.testing.assert_array_equal(got["seasonal_naive"][0], y[108:120])
    # the ETS row is the AICc-best candidate's own forecast from the first origin
    chosen, spec, _ = select_ets(z[:120], 12)
    assert fits["ets"]["model"] == spec_name(spec)
    np.testing.assert_allclose(got["ets"][0], np.exp(chosen.forecast(12)), rtol=1e-8)
    # the airline model forecasts 1959 within 11% of the truth every month, 8% on average
    error = np.abs(got["sarima"][0] / y[120:132] - 1)
    assert error.max() < 0.11 and error.mean() < 0.08
    with pytest.raises(ValueError, match="after the fitted segment"):
        baseline_forecasts("airline", y, z, np.exp, 120, np.array([100]), 12, 12)
