"""The report's forecasting part: runs `lstm forecast`'s preset where results are missing, then one
figure (per dataset: history, truth, the networks' and the baselines' forecasts over the test
segment) and one table per dataset (model x metric, mean ± std over seeds, baselines below),
with a caption that says who wins."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from ...reporting.page import Section, Table
from .figures import (
    draw_forecasts,  # noqa: F401 (re-exported)
    forecasts_figure,
)

# report preset -> lstm forecast preset
REPORT_TO_FORECAST = {"quick": "quick", "full": "default"}


def run_preset(results_dir: str, preset: str, progress: bool) -> list[dict]:
    """The forecast preset's rows, running the ones results_dir/results.jsonl lacks."""
    from .cli import configs_of
    from .runs import run_forecasts

    configs = configs_of(argparse.Namespace(preset=REPORT_TO_FORECAST[preset]))
    return run_forecasts(configs, os.path.join(results_dir, "results.jsonl"), progress)


def _verdict(dataset: str, lines: list[dict]) -> str:
    from .runs import best_by_metric

    best = best_by_metric(lines, "rmse")
    networks = [line for line in lines if line["kind"] == "model"]
    baselines = [line for line in lines if line["kind"] == "baseline"]
    if best["kind"] == "baseline" and networks:
        net = best_by_metric(networks, "rmse")
        return (f"{dataset}: {best['name']} wins (RMSE {best['rmse'][0]:.4g}; best network "
                f"{net['name']} {net['rmse'][0]:.4g} ± {net['rmse'][1]:.2g}).")
    base = best_by_metric(baselines, "rmse")
    return (f"{dataset}: {best['name']} wins (RMSE {best['rmse'][0]:.4g} ± "
            f"{best['rmse'][1]:.2g}; best baseline {base['name']} {base['rmse'][0]:.4g}).")


def forecast_sections(results_dir: str, out_dir: str, preset: str = "quick",
                      progress: bool = False) -> list[Section]:
    """The report's forecasting Section, or none (said on stderr) when the apps extra that
    ships the data and the baselines is not installed."""
    missing = [p for p in ("statsmodels", "sktime") if importlib.util.find_spec(p) is None]
    if missing:
        print(f"[report] forecasting skipped: {' and '.join(missing)} not installed (pip "
              "install 'minigrad-lstm[apps]')", file=sys.stderr, flush=True)
        return []
    if progress:
        print(f"[report] forecasting: lstm forecast --preset {REPORT_TO_FORECAST[preset]} -> "
              f"{os.path.join(results_dir, 'results.jsonl')}", file=sys.stderr, flush=True)
    return [forecast_section(results_dir, out_dir, preset, progress)]


def forecast_section(results_dir: str, out_dir: str, preset: str = "quick",
                     progress: bool = False) -> Section:
    """Run what the preset lacks, draw forecast.png, and return the section with its tables."""
    from .metrics import METRICS

    title = "Forecasting real series: networks against classical methods"
    try:
        rows = run_preset(results_dir, preset, progress)
    except ValueError as e:  # the apps extra is not installed
        return Section("forecast", title, [], "", note=f"Not run: {e}")
    from .runs import best_by_metric, summarise

    by_dataset: dict[str, list[dict]] = {}
    for row in rows:
        by_dataset.setdefault(row["config"]["dataset"], []).append(row)
    summary = summarise(rows)
    tables = []
    for dataset, lines in summary.items():
        config = by_dataset[dataset][0]["config"]
        body = [[line["name"], line["seeds"]]
                + [f"{line[m][0]:.4g} ± {line[m][1]:.2g}" if line["seeds"] > 1
                   else f"{line[m][0]:.4g}" for m in METRICS] for line in lines]
        tables.append(Table(["method", "seeds", *METRICS], body,
                            f"{dataset}: test metrics on the original scale, horizon "
                            f"{config['horizon']}, lookback {config['lookback']}, last "
                            f"{config['test_size']} steps (mean ± std over seeds)"))
    from .runs import comparisons

    for dataset, c in comparisons(rows).items():
        span = c["span"]
        tables.append(Table(
            ["method", "seeds", "rmse", f"difference from {c['best']}", "95% low", "95% high",
             "DM (HLN)", "p"],
            [[line["name"], line["seeds"], line["rmse"], line["diff"], line["low"],
              line["high"], line["dm"], line["p_value"]] for line in c["lines"]],
            f"{dataset}: test RMSE difference from the best classical method ({c['best']}, "
            f"{c['best_rmse']:.4g}) over {span['origins']} origins and {span['steps']} test "
            "steps: moving-block bootstrap interval (blocks of one horizon) and the "
            "Diebold-Mariano test with the Harvey-Leybourne-Newbold correction"))
    verdicts = " ".join(_verdict(d, lines) for d, lines in summary.items())
    classical = [d for d, lines in summary.items()
                 if best_by_metric(lines, "rmse")["kind"] == "baseline"]
    caption = (
        "Each network reads a window of past values (standardised with the training segment's "
        "statistics only) and forecasts the whole horizon at once; early stopping on the "
        "validation segment. Every test step is the target of several origins; the figure "
        "shows the forecasts from every horizon-th origin so each test step appears once. "
        "Baselines are fitted on training + validation and run over the same origins. "
        f"Lowest test RMSE: {verdicts}"
        + (f" On {', '.join(classical)} a baseline beats every network's mean "
           "(docs/applications_forecast.md discusses why)." if classical else ""))
    return Section("forecast", title, [forecasts_figure(by_dataset, out_dir)], caption, tables)
