"""Forecast metrics against hand-computed values, scikit-learn and sktime."""

from __future__ import annotations

import numpy as np
import pytest

from lstm.apps.forecast.metrics import METRICS, forecast_metrics, mase_scale, smape

TARGET = np.array([[2.0, 2.0], [5.0, 0.0]])
PREDICTION = np.array([[1.0, 2.0], [3.0, 0.0]])
TRAIN = np.array([1.0, 3.0, 2.0, 4.0])


def test_hand_values():
    # errors -1, 0, -2, 0; target mean 2.25, SS_tot 0.0625 + 0.0625 + 7.5625 + 5.0625 = 12.75
    # sMAPE terms 2/3, 0, 4/8, 0 (0/0 counts 0); naive in-sample MAE (2 + 1 + 2) / 3 = 5/3
    got = forecast_metrics(PREDICTION, TARGET, mase_scale(TRAIN, 1))
    assert list(got) == list(METRICS)
    assert got["mse"] == pytest.approx(5 / 4)
    assert got["rmse"] == pytest.approx(np.sqrt(5 / 4))
    assert got["mae"] == pytest.approx(3 / 4)
    assert got["r2"] == pytest.approx(1 - 5 / 12.75)
    assert got["smape"] == pytest.approx(100 * (2 / 3 + 1 / 2) / 4)
    assert got["mase"] == pytest.approx((3 / 4) / (5 / 3))


def test_seasonal_mase_scale_by_hand():
    # season 2: |2 - 1|, |4 - 3| -> 1
    assert mase_scale(TRAIN, 2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="season"):
        mase_scale(TRAIN, 4)
    with pytest.raises(ValueError, match="all zero"):
        mase_scale(np.ones(5), 1)


def test_against_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    target, prediction = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    got = forecast_metrics(prediction, target, 1.0)
    flat = target.ravel(), prediction.ravel()
    assert got["mse"] == pytest.approx(metrics.mean_squared_error(*flat))
    assert got["mae"] == pytest.approx(metrics.mean_absolute_error(*flat))
    assert got["r2"] == pytest.approx(metrics.r2_score(*flat))


def test_smape_and_mase_against_sktime():
    forecasting = pytest.importorskip("sktime.performance_metrics.forecasting")
    rng = np.random.default_rng(1)
    target, prediction, train = rng.uniform(1, 5, 12), rng.uniform(1, 5, 12), rng.normal(size=30)
    assert smape(prediction, target) == pytest.approx(
        100 * forecasting.mean_absolute_percentage_error(target, prediction, symmetric=True))
    got = forecast_metrics(prediction, target, mase_scale(train, 4))
    assert got["mase"] == pytest.approx(forecasting.mean_absolute_scaled_error(
        target, prediction, y_train=train, sp=4))


def test_non_finite_predictions_are_an_error():
    with pytest.raises(ValueError, match="not finite"):
        forecast_metrics(np.array([1.0, np.nan]), np.array([1.0, 2.0]), 1.0)
