"""`lstm forecast`: train recurrent forecasters on real series, one JSON line per run, with the
naive, seasonal-naive, ETS and SARIMA baselines on the same split."""

from __future__ import annotations

import argparse
import os
import sys

from ..common.cli import add_config_options, add_run_options, configs_from_args, run_all
from .data import DATASETS
from .train import FORECAST_MODELS, ForecastConfig

# a preset fills every option the command line leaves out
PRESETS = {
    "quick": {"dataset": list(DATASETS), "model": list(FORECAST_MODELS), "seeds": [0, 1, 2],
              "hidden_size": 32, "max_epochs": 150, "patience": 20},
    "default": {"dataset": list(DATASETS), "model": list(FORECAST_MODELS),
                "seeds": [0, 1, 2, 3, 4], "hidden_size": 32, "max_epochs": 300, "patience": 30},
}
SWEEP = ("dataset", "model", "seed")  # one run per dataset x model x seed


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `lstm forecast` on the `lstm` command's subparsers."""
    from ...cli_args import Formatter  # the command's shared help layout (defaults shown if set)

    p = subparsers.add_parser(
        "forecast", help="forecast real series (airline, sunspots, co2, macro) with baselines",
        formatter_class=Formatter,
        description="Train recurrent networks to forecast the next --horizon values of a real "
                    "series at once (direct multi-step), early-stopped on a validation "
                    "segment, and score them on the last --test-size steps on the original "
                    "scale (mse, rmse, mae, r2, smape, mase) next to naive, seasonal naive, "
                    "statsmodels ETS and SARIMA on the same split. One JSON line per run; "
                    "rows go to OUT/results.jsonl (runs already there are reused), and "
                    "OUT/forecast.png draws the forecasts next to the baselines'. Needs the "
                    "apps extra: pip install 'minigrad-lstm[apps]'.",
        epilog="presets: quick (the default) = every dataset and model, seeds 0,1,2; "
               "default = every dataset and model, seeds 0-4 (docs/applications_forecast.md). "
               "Unset sizes take the dataset's defaults (lstm.apps.forecast.train."
               "DATASET_DEFAULTS).\n"
               "example: lstm forecast --dataset co2 --model lstm,gru --horizon 12 "
               "--seeds 0,1,2 --out results")
    add_config_options(p, ForecastConfig, PRESETS, SWEEP)
    add_run_options(p, run)
    return p


def configs_of(args) -> list[ForecastConfig]:
    """Every (dataset, model, seed) ForecastConfig the arguments ask for."""
    return configs_from_args(ForecastConfig, PRESETS, args, SWEEP)


def run(args) -> int:
    """Run the configs, print one JSON line each; exit 2 on bad arguments, 130 on Ctrl-C and
    143 on SIGTERM (finished runs are in the results file)."""
    from .runs import run_forecasts, summary_line
    from .train import prepare

    try:
        configs = configs_of(args)
        for config in {(c.dataset, c.horizon, c.lookback, c.val_size, c.test_size): c
                       for c in configs}.values():
            try:
                prepare(config)  # every split checked before the first run trains
            except ValueError as e:  # which of the datasets asked for
                raise ValueError(f"--dataset {config.dataset}: {e}") from None
    except ValueError as e:
        print(f"lstm forecast: error: {e}", file=sys.stderr)
        return 2
    path = os.path.join(args.out, "results.jsonl")

    def line(row, reused):
        if reused and not args.quiet:
            print(f"lstm forecast: reusing {row['config']['dataset']} {row['config']['model']}"
                  f" seed {row['config']['seed']} from {path}", file=sys.stderr)
        return summary_line(row)

    def draw(rows):
        from .figures import draw_forecasts

        figure = draw_forecasts(rows, args.out)
        if not args.quiet:
            print(f"lstm forecast: drew {figure}", file=sys.stderr)

    return run_all("forecast", args.out, len(configs), lambda show: run_forecasts(
        configs, path, progress=not args.quiet, on_result=show, compile=args.compile),
        line, draw)
