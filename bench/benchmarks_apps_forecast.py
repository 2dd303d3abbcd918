"""asv: forecasting real series (lstm.apps.forecast.train), accuracy and training speed.

`ForecastAccuracy` trains each (dataset, model) once in setup_cache with the `lstm forecast
--preset quick` settings and seed 0, and tracks the test RMSE and MASE on the original scale
(MASE < 1: better than the seasonal naive forecast in-sample; the SARIMA baseline scores 0.56 on
airline and 0.44 on co2), the RMSE gap to the best classical baseline and the Diebold-Mariano
p-value of that gap (HLN-corrected; lstm.apps.forecast.compare). `ForecastBaselines`
tracks, per dataset, the RMSE of the seasonal naive forecast with drift and of the AICc-chosen
ETS, and how many of the ETS fit's parameters land on a bound. `ForecastEpoch` times one
training epoch on airline's 49 windows (batch 16, lookback 24, H=32), after a warm-up epoch that
compiles the kernels. Needs the apps extra (statsmodels, sktime); without it every case is skipped.
"""

from __future__ import annotations

import math

from bench.app_cases import Epochs, Tracked, epoch_of
from bench.asv_cases import fused_available

DATASETS = ["airline", "co2", "sunspots", "macro"]
MODELS = ["lstm", "gru", "rnn"]


def _apps_available() -> str | None:
    """None, or why the forecasting application cannot run at this commit or environment."""
    if not fused_available():
        return "no fused recurrent primitives at this commit"
    try:
        from lstm.apps.forecast import train as forecast  # noqa: F401
        from lstm.apps.forecast.data import load_series

        load_series("airline")
    except (ImportError, ValueError) as e:
        return f"lstm.apps.forecast.train unavailable ({type(e).__name__}: {e})"
    return None


def _quick_config(dataset: str, model: str):
    import argparse

    from lstm.apps.forecast import cli
    from lstm.apps.forecast.train import ForecastConfig

    if hasattr(cli, "configs_of"):  # the options generated from the config's fields
        return cli.configs_of(argparse.Namespace(preset="quick", dataset=(dataset,),
                                                 model=(model,), seeds=(0,)))[0]
    preset, CONFIG_OPTIONS = cli.PRESETS["quick"], cli.CONFIG_OPTIONS  # older commits
    return ForecastConfig(dataset=dataset, model=model, seed=0,
                          **{k: preset[k] for k in CONFIG_OPTIONS if k in preset})


def train_all(*_) -> dict:
    """{"dataset/model": test metrics with "gap" and "dm_p"} over the grid and {"dataset":
    the baselines' RMSEs and the ETS fit}, or {"unavailable": reason}."""
    reason = _apps_available()
    if reason:
        return {"unavailable": reason}
    import numpy as np

    from lstm.apps.forecast.compare import diebold_mariano
    from lstm.apps.forecast.train import evaluate_baselines, prepare, run_forecast

    out = {}
    for d in DATASETS:
        baselines = evaluate_baselines(prepare(_quick_config(d, MODELS[0])))
        for m in MODELS:
            result = run_forecast(_quick_config(d, m), baselines=baselines)
            test = result["test"]
            best = min(result["baselines"], key=lambda b: result["baselines"][b]["rmse"])
            dm = diebold_mariano(np.asarray(test["model"]),
                                 np.asarray(test["baselines"][best]), np.asarray(test["actual"]))
            out[f"{d}/{m}"] = {**result["metrics"], "dm_p": dm["p_value"],
                               "gap": result["metrics"]["rmse"]
                               - result["baselines"][best]["rmse"]}
        out[d] = {"drift_rmse": result["baselines"]["seasonal_naive_drift"]["rmse"],
                  "ets_rmse": result["baselines"]["ets"]["rmse"],
                  "ets_at_bound": len(result["baseline_fits"]["ets"]["at_bound"])}
    return out


train_all.timeout = 1200


class ForecastAccuracy(Tracked, cache=train_all, over={"dataset": DATASETS, "model": MODELS}):
    """Test RMSE and MASE of the quick preset's seed-0 run per dataset and model."""

    def track_test_rmse(self, results, dataset, model):
        value = results[f"{dataset}/{model}"]["rmse"]
        return math.nan if value is None else float(value)

    track_test_rmse.unit = "original units"

    def track_test_mase(self, results, dataset, model):
        return float(results[f"{dataset}/{model}"]["mase"])

    track_test_mase.unit = "MASE"

    def track_rmse_gap_to_best_classical(self, results, dataset, model):
        return float(results[f"{dataset}/{model}"]["gap"])

    track_rmse_gap_to_best_classical.unit = "original units (network - best baseline)"

    def track_dm_p_value(self, results, dataset, model):
        return float(results[f"{dataset}/{model}"]["dm_p"])

    track_dm_p_value.unit = "p (Diebold-Mariano, HLN)"


class ForecastBaselines(Tracked, cache=train_all, over={"dataset": DATASETS}):
    """Per dataset: the seasonal naive with drift's and the AICc-chosen ETS's test RMSE, and
    how many ETS parameters land on a bound (ForecastAccuracy's setup_cache computes them)."""

    def track_drift_rmse(self, results, dataset):
        return float(results[dataset]["drift_rmse"])

    track_drift_rmse.unit = "original units"

    def track_ets_rmse(self, results, dataset):
        return float(results[dataset]["ets_rmse"])

    track_ets_rmse.unit = "original units"

    def track_ets_params_on_bound(self, results, dataset):
        return int(results[dataset]["ets_at_bound"])

    track_ets_params_on_bound.unit = "parameters"


class ForecastEpoch(Epochs, unavailable=_apps_available, over={"model": MODELS}):
    """One training epoch (every training window once, Adam, clipping) on airline."""

    def prepare(self, model):
        import numpy as np

        from lstm.apps.forecast import train as fc
        from minigrad import mse_loss, optim

        data = fc.prepare(_quick_config("airline", model))
        config = data.config
        self.net = net = fc.ForecastNet(model, data.series.values.shape[1], config.hidden_size,
                                        config.num_layers, config.horizon, data.series.target,
                                        config.output, rng=0, season=data.series.season)
        x, y = data.x["train"], data.y["train"].astype(np.float32)
        rng = np.random.default_rng(0)
        return epoch_of(net, optim.Adam(net.parameters(), lr=config.lr),
                        lambda a, b: mse_loss(net(a), b),
                        lambda: fc.batches(x, y, config.batch_size, rng), config.clip)
