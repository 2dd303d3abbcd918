"""Baselines: naive forecasts by hand, ETS and SARIMA against statsmodels' own forecasts."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("statsmodels")

from lstm.applications.forecast_baselines import (  # noqa: E402
    BASELINE_SPECS,
    baseline_forecasts,
    ets_forecasts,
    fit_ets,
    fit_sarima,
    naive,
    sarima_forecasts,
    seasonal_naive,
)
from lstm.applications.forecast_data import load_series  # noqa: E402


def test_naive_and_seasonal_naive_by_hand():
    y = np.arange(10.0) ** 2
    np.testing.assert_array_equal(naive(y, np.array([3, 5]), 2), [[9, 9], [25, 25]])
    # season 3 from origin 5: steps 6, 7, 8, 9 -> 3, 4, 5 (one season back), 3 (two seasons back)
    np.testing.assert_array_equal(seasonal_naive(y, np.array([5]), 4, 3), [[9, 16, 25, 9]])
    with pytest.raises(ValueError, match="less than one season"):
        seasonal_naive(y, np.array([1]), 3, 3)


@pytest.fixture(scope="module")
def airline():
    series = load_series("airline")
    return series.values[:, 0], np.log(series.values[:, 0])


def test_sarima_matches_statsmodels(airline):
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    _, z = airline
    order, seasonal, trend = BASELINE_SPECS["airline"]["sarima"]
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
    spec = BASELINE_SPECS["airline"]["ets"]
    fitted = fit_ets(z[:120], spec)
    got = ets_forecasts(z, fitted, spec, np.array([119, 126]), 12)
    np.testing.assert_allclose(got[0], fitted.forecast(12), rtol=1e-10)
    # a later origin: the fitted model run over the whole series, predicted dynamically from 127
    whole = ETSModel(z, **spec).smooth(fitted.params)
    dynamic = whole.predict(start=127, end=138, dynamic=0)
    np.testing.assert_allclose(got[1], dynamic, rtol=1e-8)


def test_baseline_forecasts_on_the_original_scale(airline):
    y, z = airline
    origins = np.arange(119, 133)
    got = baseline_forecasts("airline", y, z, np.exp, 120, origins, 12, 12)
    assert set(got) == {"naive", "seasonal_naive", "ets", "sarima"}
    assert all(f.shape == (14, 12) for f in got.values())
    fitted = fit_sarima(z[:120], *BASELINE_SPECS["airline"]["sarima"])
    np.testing.assert_allclose(got["sarima"][0], np.exp(fitted.forecast(12)), rtol=1e-8)
    np.testing.assert_array_equal(got["seasonal_naive"][0], y[108:120])
    # the airline model forecasts 1959 within 11% of the truth every month, 8% on average
    error = np.abs(got["sarima"][0] / y[120:132] - 1)
    assert error.max() < 0.11 and error.mean() < 0.08
    with pytest.raises(ValueError, match="after the fitted segment"):
        baseline_forecasts("airline", y, z, np.exp, 120, np.array([100]), 12, 12)
