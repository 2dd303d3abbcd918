"""`lstm forecast`: train recurrent forecasters on real series, one JSON line per run, with the
naive, seasonal-naive, ETS and SARIMA baselines on the same split."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..common.cli import add_overrides, add_run_options, interrupted, stopped_by_signals
from .data import DATASETS
from .train import FORECAST_MODELS, OUTPUTS, ForecastConfig

# a preset fills every option the command line leaves out
PRESETS = {
    "quick": {"dataset": list(DATASETS), "model": list(FORECAST_MODELS), "seeds": [0, 1, 2],
              "hidden_size": 32, "max_epochs": 150, "patience": 20},
    "default": {"dataset": list(DATASETS), "model": list(FORECAST_MODELS),
                "seeds": [0, 1, 2, 3, 4], "hidden_size": 32, "max_epochs": 300, "patience": 30},
}
CONFIG_OPTIONS = ("hidden_size", "num_layers", "horizon", "lookback", "val_size", "test_size",
                  "output", "batch_size", "lr", "clip", "max_epochs", "patience", "impl")


def _choices(kind: str, allowed):
    def parse(text: str) -> list:
        names = [n.strip() for n in text.split(",") if n.strip()]
        bad = [n for n in names if n not in allowed]
        if not names or bad:
            raise argparse.ArgumentTypeError(f"unknown {kind} {bad or text!r}; choose from "
                                             f"{', '.join(allowed)} (comma-separated)")
        return names
    return parse


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    return values


def _default(flag: str) -> str:
    name = flag[2:].replace("-", "_")
    if name in PRESETS["quick"]:
        return "default: " + ", ".join(f"{v[name]} in preset {k}" for k, v in PRESETS.items())
    return f"default: {ForecastConfig.__dataclass_fields__[name].default}"


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
    p.add_argument("--preset", choices=tuple(PRESETS), default="quick",
                   help="fills the options left out")
    p.add_argument("--dataset", type=_choices("datasets", DATASETS), default=None,
                   help=f"comma-separated, from {', '.join(DATASETS)} (default: the preset's)")
    p.add_argument("--model", type=_choices("models", FORECAST_MODELS), default=None,
                   help=f"comma-separated, from {', '.join(FORECAST_MODELS)} "
                        "(default: the preset's)")
    p.add_argument("--seeds", type=_ints, default=None,
                   help="comma-separated seeds (default: the preset's)")
    p.add_argument("--seed", type=int, default=None, help="one seed (same as --seeds N)")
    p.add_argument("--horizon", type=int, default=None,
                   help="steps forecast at once (default: the dataset's)")
    p.add_argument("--lookback", type=int, default=None,
                   help="input window in steps (default: the dataset's)")
    p.add_argument("--val-size", type=int, default=None,
                   help="validation segment in steps (default: the dataset's)")
    p.add_argument("--test-size", type=int, default=None,
                   help="test segment in steps (default: the dataset's)")
    p.add_argument("--output", choices=OUTPUTS, default=None,
                   help="the read-out predicts the change from the last value (delta), from "
                        "the value one season back (seasonal), or the level "
                        "(default: the dataset's)")
    add_overrides(p, (("--hidden-size", int, "hidden units"),
                      ("--num-layers", int, "stacked recurrent layers"),
                      ("--batch-size", int, "windows per Adam step"),
                      ("--lr", float, "Adam learning rate"),
                      ("--clip", float, "gradient norm clipping threshold"),
                      ("--max-epochs", int, "epoch budget"),
                      ("--patience", int, "stop after this many epochs without a better "
                                          "validation MSE")), _default)
    add_run_options(p, run)
    return p


def configs_from_args(args) -> list[ForecastConfig]:
    """Every (dataset, model, seed) ForecastConfig the arguments ask for."""
    preset = PRESETS[args.preset]
    seeds = [args.seed] if args.seed is not None else (args.seeds or preset["seeds"])
    fields = {k: preset[k] for k in CONFIG_OPTIONS if k in preset}
    fields.update({k: getattr(args, k) for k in CONFIG_OPTIONS if getattr(args, k) is not None})
    return [ForecastConfig(dataset=d, model=m, seed=s, **fields)
            for d in (args.dataset or preset["dataset"])
            for m in (args.model or preset["model"]) for s in seeds]


def run(args) -> int:
    """Run the configs, print one JSON line each; exit 2 on bad arguments, 130 on Ctrl-C and
    143 on SIGTERM (finished runs are in the results file)."""
    from ...cli_errors import check_out_dir
    from .runs import run_forecasts, summary_line
    from .train import prepare

    try:
        check_out_dir(args.out)
        configs = configs_from_args(args)
        for config in {(c.dataset, c.horizon, c.lookback, c.val_size, c.test_size): c
                       for c in configs}.values():
            prepare(config)  # every split checked before the first run trains
    except ValueError as e:
        print(f"lstm forecast: error: {e}", file=sys.stderr)
        return 2
    path = os.path.join(args.out, "results.jsonl")
    finished = []

    def show(row, reused):
        finished.append(row)
        if reused and not args.quiet:
            print(f"lstm forecast: reusing {row['config']['dataset']} {row['config']['model']}"
                  f" seed {row['config']['seed']} from {path}", file=sys.stderr)
        print(json.dumps(summary_line(row), sort_keys=True), flush=True)

    caught = {}
    try:
        with stopped_by_signals(caught):
            run_forecasts(configs, path, progress=not args.quiet, on_result=show,
                          compile=args.compile)
        from .figures import draw_forecasts

        figure = draw_forecasts(finished, args.out)
        if not args.quiet:
            print(f"lstm forecast: drew {figure}", file=sys.stderr)
    except KeyboardInterrupt:
        return interrupted("forecast", path, len(finished), len(configs), caught["signum"])
    return 0
