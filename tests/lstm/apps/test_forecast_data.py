"""Forecasting data: loaders against the packages' own files and hand values, chronological
splits, the scaler fitted on training rows only, and windows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("statsmodels")
pytest.importorskip("sktime")

from lstm.apps.forecast import train as fc  # noqa: E402
from lstm.apps.forecast.data import (  # noqa: E402
    DATASETS,
    Scaler,
    Split,
    chronological_split,
    load_series,
    monthly_means,
    windows,
)


@pytest.mark.parametrize("name,shape,first,last,labels", [
    ("airline", (144, 1), [112.0], [432.0], ("1949-01", "1960-12")),
    ("sunspots", (309, 1), [5.0], [2.9], ("1700", "2008")),
    ("co2", (526, 1), None, None, ("1958-03", "2001-12")),
    ("macro", (202, 6), None, None, ("1959Q2", "2009Q3")),
])
def test_loader_shapes_dtypes_and_values(name, shape, first, last, labels):
    series = load_series(name)
    assert series.values.shape == shape and series.values.dtype == np.float64
    assert len(series.labels) == shape[0] and (series.labels[0], series.labels[-1]) == labels
    assert np.all(np.isfinite(series.values))
    if first is not None:
        np.testing.assert_array_equal(series.values[0], first)
        np.testing.assert_array_equal(series.values[-1], last)


def test_airline_matches_sktime_loader():
    datasets = pytest.importorskip("sktime.datasets")
    np.testing.assert_array_equal(load_series("airline").values[:, 0],
                                  datasets.load_airline().to_numpy(np.float64))


def test_statsmodels_series_match_their_loaders():
    from statsmodels.datasets import co2, macrodata, sunspots

    np.testing.assert_array_equal(load_series("sunspots").values[:, 0],
                                  sunspots.load_pandas().data["SUNACTIVITY"].to_numpy())
    frame = macrodata.load_pandas().data
    macro = load_series("macro")
    assert macro.columns[macro.target] == "realgdp_growth"
    # 1959Q2 growth of real GDP by hand: 100 * ln(2778.801 / 2710.349)
    assert macro.values[0, 0] == pytest.approx(100 * np.log(2778.801 / 2710.349), rel=1e-12)
    np.testing.assert_array_equal(macro.values[:, 3], frame["unemp"].to_numpy()[1:])
    # pandas' monthly resampling of the weekly CO2 readings, gaps interpolated linearly
    monthly = co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
    np.testing.assert_allclose(load_series("co2").values[:, 0], monthly.to_numpy(), rtol=1e-12)


def test_monthly_means_by_hand_with_a_missing_month():
    days = ["20000105", "20000120", "20000210", "20000305", "20000401", "20000415"]
    labels, means = monthly_means(days, np.array([1.0, 3.0, np.nan, 6.0, 8.0, 10.0]))
    assert labels == ["2000-01", "2000-02", "2000-03", "2000-04"]
    np.testing.assert_allclose(means, [2.0, 4.0, 6.0, 9.0])  # February interpolated


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_series("stocks")


def test_split_is_chronological_disjoint_and_windows_stay_inside():
    split = chronological_split(144, val_size=24, test_size=24, lookback=24, horizon=12)
    assert (split.train_end, split.val_end, split.length) == (96, 120, 144)
    targets = {}
    for segment, (lo, hi) in {"train": (0, 96), "val": (96, 120), "test": (120, 144)}.items():
        origins = split.origins(segment, 24, 12)
        ahead = origins[:, None] + np.arange(1, 13)
        assert ahead.min() == max(lo, 24) and ahead.max() == hi - 1  # every target inside
        assert np.all(np.diff(origins) == 1)
        targets[segment] = set(ahead.ravel())
    assert not targets["train"] & targets["val"] and not targets["val"] & targets["test"]
    assert max(targets["train"]) < min(targets["val"]) <= max(targets["val"]) < min(
        targets["test"])
    assert len(split.origins("test", 24, 12)) == 13


@pytest.mark.parametrize("kwargs,message", [
    ({"val_size": 5}, "val_size must be >= horizon"),
    ({"test_size": 11}, "test_size must be >= horizon"),
    ({"val_size": 60, "test_size": 60}, "fewer than lookback"),
])
def test_split_errors_name_the_argument(kwargs, message):
    args = {"length": 144, "val_size": 24, "test_size": 24, "lookback": 24, "horizon": 12}
    with pytest.raises(ValueError, match=message):
        chronological_split(**{**args, **kwargs})


def test_scaler_log_round_trip_and_statistics():
    train = np.array([[1.0, 10.0], [np.e, 20.0], [np.e ** 2, 30.0]])
    scaler = Scaler.fit(train, "log")
    np.testing.assert_allclose(scaler.mean, [1.0, np.log([10, 20, 30]).mean()])
    np.testing.assert_allclose(scaler.unscale(scaler.scale(train)[:, 0], 0), train[:, 0])
    with pytest.raises(ValueError, match="positive"):
        Scaler.fit(-train, "log")
    with pytest.raises(ValueError, match="constant"):
        Scaler.fit(np.ones((4, 2)), "none")


def test_scaling_uses_training_rows_only(monkeypatch):
    """Change validation and test values wildly: nothing fitted may move."""
    config = fc.ForecastConfig(dataset="airline")
    before = fc.prepare(config)
    series = before.series
    values = series.values.copy()
    values[before.split.train_end:] *= 1000.0
    monkeypatch.setattr(fc, "load_series",
                        lambda name: dataclasses.replace(series, values=values))
    after = fc.prepare(config)
    np.testing.assert_array_equal(after.scaler.mean, before.scaler.mean)
    np.testing.assert_array_equal(after.scaler.std, before.scaler.std)
    np.testing.assert_array_equal(after.x["train"], before.x["train"])
    np.testing.assert_array_equal(after.y["train"], before.y["train"])
    assert not np.array_equal(after.y["test"], before.y["test"])
    # and the statistics are exactly the training rows' ones, on the log scale
    z = np.log(series.values[:before.split.train_end])
    np.testing.assert_allclose(before.scaler.mean, z.mean(axis=0))
    np.testing.assert_allclose(before.scaler.std, z.std(axis=0))


def test_windows_by_hand():
    scaled = np.arange(20, dtype=np.float64).reshape(10, 2)  # row t = [2t, 2t+1]
    x, y = windows(scaled, 1, np.array([2, 5]), lookback=3, horizon=2)
    assert x.shape == (3, 2, 2) and x.dtype == np.float32 and y.shape == (2, 2)
    np.testing.assert_array_equal(x[:, 0, 0], [0, 2, 4])  # rows 0..2
    np.testing.assert_array_equal(x[:, 1, 1], [7, 9, 11])  # rows 3..5, column 1
    np.testing.assert_array_equal(y, [[7, 9], [13, 15]])  # column 1 at t+1, t+2
    with pytest.raises(ValueError, match="origins must be in"):
        windows(scaled, 0, np.array([8]), lookback=3, horizon=2)


def test_every_dataset_prepares_with_its_defaults():
    for name in DATASETS:
        data = fc.prepare(fc.ForecastConfig(dataset=name))
        config = data.config
        assert isinstance(data.split, Split)
        assert data.x["test"].shape == (config.lookback, len(data.origins["test"]),
                                        data.series.values.shape[1])
        assert data.y["test"].shape == (len(data.origins["test"]), config.horizon)
        assert len(data.origins["test"]) == config.test_size - config.horizon + 1
