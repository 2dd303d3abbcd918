"""The forecasting network, its training with early stopping, run_forecast's scores, the results
file, and the quick preset's accuracy threshold."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("statsmodels")
pytest.importorskip("sktime")

from lstm.apps.forecast import runs as forecast_runs  # noqa: E402
from lstm.apps.forecast import train as fc  # noqa: E402
from lstm.apps.forecast.cli import PRESETS  # noqa: E402
from lstm.apps.forecast.runs import (  # noqa: E402
    comparisons,
    markdown,
    run_forecasts,
    summarise,
)
from minigrad import init  # noqa: E402

TINY = {"hidden_size": 8, "max_epochs": 4, "patience": 2}


@pytest.mark.parametrize("model", fc.FORECAST_MODELS)
def test_net_shapes_and_the_delta_read_out_starts_naive(model):
    net = fc.ForecastNet(model, 3, 5, 2, horizon=4, target=1, output="delta", rng=0)
    x = np.random.default_rng(0).normal(size=(6, 7, 3)).astype(np.float32)
    assert net(x).shape == (7, 4)
    init.zeros_(net.readout.weight)
    init.zeros_(net.readout.bias)
    np.testing.assert_array_equal(fc.predict(net, x), np.repeat(x[-1, :, 1:2], 4, axis=1))
    level = fc.ForecastNet(model, 3, 5, 1, horizon=4, target=1, output="level", rng=0)
    init.zeros_(level.readout.weight)
    init.zeros_(level.readout.bias)
    np.testing.assert_array_equal(fc.predict(level, x), np.zeros((7, 4)))


def test_seasonal_read_out_starts_at_the_seasonal_naive_forecast():
    # season 3, horizon 5: step h takes the value 3 * ceil(h / 3) steps before its target
    net = fc.ForecastNet("gru", 2, 4, 1, horizon=5, target=0, output="seasonal", rng=0,
                         season=3)
    init.zeros_(net.readout.weight)
    init.zeros_(net.readout.bias)
    x = np.arange(14, dtype=np.float32).reshape(7, 1, 2)  # step s, column 0: 2s
    expected = [[2.0 * s for s in (4, 5, 6, 4, 5)]]  # the last input is step 6
    np.testing.assert_array_equal(fc.predict(net, x), expected)
    with pytest.raises(ValueError, match="needs a lookback > 2"):
        net(x[:2])


@pytest.mark.parametrize("kwargs,message", [
    ({"dataset": "stocks"}, "dataset must be one of"),
    ({"model": "transformer"}, "model must be one of"),
    ({"hidden_size": 0}, "hidden_size must be an integer >= 1"),
    ({"horizon": 2.5}, "horizon must be an integer"),
    ({"lr": -1.0}, "lr must be a finite number > 0"),
    ({"clip": 0.0}, "clip must be a finite number > 0"),
    ({"output": "diff"}, "output must be one of"),
])
def test_config_errors_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fc.ForecastConfig(**kwargs)


def test_resolved_fills_dataset_defaults_only_where_unset():
    config = fc.ForecastConfig(dataset="co2", horizon=6).resolved()
    assert (config.horizon, config.lookback, config.test_size, config.output) == (6, 36, 60,
                                                                                   "delta")


def test_early_stopping_keeps_the_best_epoch():
    data = fc.prepare(fc.ForecastConfig(dataset="airline", max_epochs=30, patience=3))
    net, training = fc.train_net(data)
    curve = training["curve"]
    best = min(curve, key=lambda row: row["val_mse"])
    assert training["best_epoch"] == best["epoch"] and training["stopped"] in (
        "early_stopping", "max_epochs")
    if training["stopped"] == "early_stopping":
        assert len(curve) == best["epoch"] + 3
    val = np.mean((fc.predict(net, data.x["val"]) - data.y["val"]) ** 2)
    assert val == pytest.approx(best["val_mse"], rel=1e-6)  # the best weights were restored


def test_run_is_seeded_and_scored_on_the_original_scale():
    config = fc.ForecastConfig(dataset="macro", model="gru", seed=3, **TINY)
    first, second = fc.run_forecast(config), fc.run_forecast(config)
    assert first["metrics"] == second["metrics"]
    assert set(first["baselines"]) == {"naive", "seasonal_naive", "seasonal_naive_drift", "ets",
                                       "sarima"}
    assert first["baseline_fits"]["ets"]["model"].startswith("ETS(")
    # naive's MAE on the original scale by hand: |y_{t+h} - y_t| over all test origins
    data = fc.prepare(config)
    y = data.series.values[:, 0]
    origins = data.origins["test"]
    ahead = origins[:, None] + np.arange(1, 5)
    expected = np.mean(np.abs(y[ahead] - y[origins][:, None]))
    assert first["baselines"]["naive"]["mae"] == pytest.approx(expected, rel=1e-12)
    assert len(first["path"]["model"]) == len(origins[::4])
    # every test origin's forecasts are kept for forecast_compare
    assert np.asarray(first["test"]["model"]).shape == (len(origins), 4)
    np.testing.assert_allclose(first["test"]["actual"], y[ahead], rtol=0, atol=5e-7)  # 6 d.p.
    np.testing.assert_allclose(first["test"]["baselines"]["naive"],
                               np.repeat(y[origins][:, None], 4, axis=1), rtol=0, atol=5e-7)


def test_results_file_reuses_finished_runs(tmp_path, capsys):
    path = str(tmp_path / "results.jsonl")
    configs = [fc.ForecastConfig(dataset="airline", model=m, seed=0, **TINY)
               for m in ("lstm", "rnn")]
    seen = []
    rows = run_forecasts(configs, path, on_result=lambda row, reused: seen.append(reused))
    again = run_forecasts(configs, path, on_result=lambda row, reused: seen.append(reused))
    assert seen == [False, False, True, True]
    assert [r["result"]["metrics"] for r in rows] == [r["result"]["metrics"] for r in again]
    assert len(open(path).readlines()) == 2
    table = summarise(rows)["airline"]
    assert [line["name"] for line in table][:2] == ["lstm", "rnn"]
    assert "SARIMA (statsmodels)" in markdown(rows)
    compared = comparisons(rows, n_boot=100)["airline"]
    assert compared["best"] == "SARIMA (statsmodels)"  # 18.5 on the 36-month test
    assert compared["span"] == {"origins": 25, "steps": 36, "horizon": 12}
    names = {line["name"] for line in compared["lines"]}
    assert names == {"lstm", "rnn", "naive", "seasonal naive", "seasonal naive + drift",
                     "ETS (AICc)"}
    for line in compared["lines"]:
        assert line["low"] <= line["high"] and 0.0 <= line["p_value"] <= 1.0
        assert line["rmse"] == pytest.approx(compared["best_rmse"] + line["diff"])
    assert forecast_runs.main([path]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("**airline** (horizon 12, lookback 24") and "| rnn | 1 |" in printed
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert forecast_runs.main([str(empty)]) == 1  # a results file without forecast runs
    for argv, said in (([str(tmp_path / "none.jsonl")], "no results file"),
                       ([], "required: RESULTS.jsonl")):
        with pytest.raises(SystemExit) as stopped:  # a usage error: argparse's exit 2
            forecast_runs.main(argv)
        assert stopped.value.code == 2 and said in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        forecast_runs.main(["--help"])  # was read as a file name
    assert stopped.value.code == 0 and "RESULTS.jsonl" in capsys.readouterr().out


def test_quick_preset_beats_the_seasonal_naive_forecast_on_airline(tmp_path):
    """The quick preset's airline runs (every model, three seeds) must learn more than the
    seasonal naive forecast they start from: a regression that breaks training, scaling or the
    read-out fails these thresholds."""
    preset = PRESETS["quick"]
    configs = [fc.ForecastConfig(dataset="airline", model=m, seed=s, hidden_size=32,
                                 max_epochs=preset["max_epochs"], patience=preset["patience"])
               for m in ("gru", "lstm", "rnn") for s in preset["seeds"]]
    rows = run_forecasts(configs, str(tmp_path / "results.jsonl"))
    # the 36-month test (1958-1960); QUICK_THRESHOLDS in docs/applications_forecast.md
    seasonal = rows[0]["result"]["baselines"]["seasonal_naive"]["rmse"]  # 44.3 (thousands)
    rmse = {m: [r["result"]["metrics"]["rmse"] for r in rows if r["config"]["model"] == m]
            for m in ("gru", "lstm", "rnn")}
    assert np.mean(rmse["gru"]) < 31.0  # measured 27.1 (25.4, 30.6, 25.2); SARIMA 18.5
    assert np.mean(rmse["lstm"]) < 28.0  # measured 24.1 (23.5, 26.1, 22.7)
    assert np.mean(rmse["rnn"]) < 30.0  # measured 26.2 (27.2, 24.3, 27.0)
    assert max(max(v) for v in rmse.values()) < 0.75 * seasonal


def test_benchmark_epoch_and_tracks_run():
    """bench/benchmarks_apps_forecast: one epoch updates the weights; the tracks read metrics."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from bench import benchmarks_apps_forecast as bench

    epoch = bench.ForecastEpoch()
    epoch.setup("gru")
    before = epoch.net.readout.weight.numpy().copy()
    epoch.time_train_epoch()
    assert not np.array_equal(before, epoch.net.readout.weight.numpy())
    results = {"airline/gru": {"rmse": 42.0, "mase": 1.1, "gap": 3.5, "dm_p": 0.2},
               "airline": {"drift_rmse": 26.4, "ets_rmse": 24.2, "ets_at_bound": 2}}
    accuracy = bench.ForecastAccuracy()
    assert accuracy.track_test_rmse(results, "airline", "gru") == 42.0
    assert accuracy.track_test_mase(results, "airline", "gru") == 1.1
    assert accuracy.track_rmse_gap_to_best_classical(results, "airline", "gru") == 3.5
    assert accuracy.track_dm_p_value(results, "airline", "gru") == 0.2
    baselines = bench.ForecastBaselines()
    assert baselines.track_drift_rmse(results, "airline") == 26.4
    assert baselines.track_ets_rmse(results, "airline") == 24.2
    assert baselines.track_ets_params_on_bound(results, "airline") == 2


@pytest.mark.parametrize("model", fc.FORECAST_MODELS)
def test_fused_and_composed_nets_forecast_the_same(model):
    x = np.random.default_rng(1).normal(size=(12, 5, 2)).astype(np.float32)
    fused = fc.ForecastNet(model, 2, 6, 2, horizon=3, target=0, output="seasonal", rng=4,
                           season=4)
    composed = fc.ForecastNet(model, 2, 6, 2, horizon=3, target=0, output="seasonal",
                              impl="composed", rng=4, season=4)
    composed.load_state_dict(fused.state_dict())
    np.testing.assert_allclose(fc.predict(composed, x), fc.predict(fused, x), rtol=1e-5,
                               atol=1e-6)
