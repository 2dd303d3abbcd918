"""Many forecasting runs into one results file (finished runs reused), and their summary: per
dataset, a table of model x metric as mean ± std over seeds, with the baselines below, and a
table of each method's RMSE difference from the best classical method with its uncertainty
(compare.py: moving-block bootstrap interval, Diebold-Mariano test).

`python -m lstm.apps.forecast.runs RESULTS.jsonl` prints the tables as Markdown.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from ...experiments.sweep import read_results, versions
from ..common.runs import model_dir, run_missing
from ..export.saved import save_model
from .baselines import BASELINES
from .compare import block_bootstrap_rmse_diff, diebold_mariano
from .metrics import METRICS
from .train import ForecastConfig, evaluate_baselines, prepare, run_forecast

KIND = "forecast"
BASELINE_LABELS = {"naive": "naive", "seasonal_naive": "seasonal naive",
                   "seasonal_naive_drift": "seasonal naive + drift",
                   "ets": "ETS (AICc)", "sarima": "SARIMA (statsmodels)"}


def run_forecasts(configs: list[ForecastConfig], results_path: str, progress: bool = False,
                  on_result: Callable[[dict, bool], None] | None = None,
                  compile: bool = False) -> list[dict]:  # noqa: A002 - the option's name
    """Run each config not already in `results_path` and append its row there when it
    finishes; returns the rows of all configs in order. on_result(row, reused) per row."""
    baselines: dict[tuple, dict] = {}

    def train_row(config, key):
        split_key = (config.dataset, config.horizon, config.val_size, config.test_size)
        if split_key not in baselines:
            baselines[split_key] = evaluate_baselines(prepare(config))
        where = model_dir(results_path, KIND, key)
        result = run_forecast(config, progress, baselines[split_key],
                              on_model=lambda net, c: save_model(where, net, {"run": c.to_dict()}),
                              compile=compile)
        result["model_dir"] = where  # lstm export --format onnx MODEL_DIR
        return {"key": key, "kind": KIND, "config": config.to_dict(), "result": result,
                "versions": versions(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    return run_missing([config.resolved() for config in configs], results_path, KIND,
                       train_row, on_result)


def summary_line(row: dict) -> dict:
    """The JSON line a run prints: its settings, test metrics and the baselines' metrics."""
    config, result = row["config"], row["result"]
    settings = {k: config[k] for k in ("dataset", "model", "seed", "horizon", "lookback",
                                       "hidden_size", "output")}
    return {**settings, **result["metrics"], "baselines": result["baselines"],
            "epochs": result["epochs"], "best_epoch": result["best_epoch"],
            "stopped": result["stopped"], "wall_time": round(result["wall_time"], 2)}


def _mean_std(values: list[float]) -> tuple[float, float]:
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def summarise(rows: list[dict]) -> dict[str, list[dict]]:
    """{dataset: [{"name", "kind" ("model"|"baseline"), "seeds", metric: (mean, std)}]}:
    networks sorted by name, then the baselines (the latest row's, deterministic)."""
    by_dataset: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row.get("kind") == KIND:
            by_dataset[row["config"]["dataset"]][row["config"]["model"]].append(row)
    out = {}
    for dataset, models in by_dataset.items():
        lines = []
        for model in sorted(models):
            results = [r["result"] for r in models[model]]
            lines.append({"name": model, "kind": "model", "seeds": len(results),
                          **{m: _mean_std([r["metrics"][m] for r in results]) for m in METRICS}})
        latest = max((r for rs in models.values() for r in rs), key=lambda r: r["finished_at"])
        for name in BASELINES:
            if name not in latest["result"]["baselines"]:
                continue  # a row from before this baseline existed
            metrics = latest["result"]["baselines"][name]
            lines.append({"name": BASELINE_LABELS[name], "kind": "baseline", "seeds": 1,
                          **{m: (metrics[m], 0.0) for m in METRICS}})
        out[dataset] = lines
    return out


def comparisons(rows: list[dict], n_boot: int = 2000) -> dict[str, dict]:
    """{dataset: {"best": the classical baseline with the lowest test RMSE, "lines": [{"name",
    "kind", "seeds", "rmse", "diff", "low", "high", "dm", "p_value"}] for every network and
    every other baseline, the RMSE difference from "best" with its 95% moving-block bootstrap
    interval and the HLN-corrected Diebold-Mariano test on the squared errors}, "span": the
    test's origins and steps, "ets": the ETS fit's details}. Rows without stored test
    forecasts (older results files) are left out."""
    by_dataset: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row.get("kind") == KIND and "test" in row["result"]:
            by_dataset[row["config"]["dataset"]][row["config"]["model"]].append(row)
    out = {}
    for dataset, models in by_dataset.items():
        latest = max((r for rs in models.values() for r in rs), key=lambda r: r["finished_at"])
        test = latest["result"]["test"]
        actual = np.asarray(test["actual"])
        candidates = {BASELINE_LABELS[name]: ("baseline", np.asarray(f)[None])
                      for name, f in test["baselines"].items()}
        rmse = {label: float(np.sqrt(np.mean((f[0] - actual) ** 2)))
                for label, (_, f) in candidates.items()}
        best = min(rmse, key=rmse.get)
        for model in sorted(models):
            runs = [r for r in models[model]
                    if r["result"]["test"]["origins"] == test["origins"]]
            if not runs:  # only runs on another split (other --test-size): not comparable
                continue
            candidates[model] = ("model", np.stack([np.asarray(r["result"]["test"]["model"])
                                                    for r in runs]))
        lines = []
        for name, (kind, forecasts) in candidates.items():
            if name == best:
                continue
            interval = block_bootstrap_rmse_diff(forecasts, candidates[best][1], actual,
                                                 n_boot=n_boot)
            dm = diebold_mariano(forecasts, candidates[best][1], actual)
            lines.append({"name": name, "kind": kind, "seeds": forecasts.shape[0],
                          "rmse": interval["diff"] + rmse[best], "diff": interval["diff"],
                          "low": interval["low"], "high": interval["high"], "dm": dm["dm"],
                          "p_value": dm["p_value"]})
        lines.sort(key=lambda line: line["diff"])
        data = latest["result"]["data"]
        out[dataset] = {"best": best, "best_rmse": rmse[best], "lines": lines,
                        "span": {"origins": len(test["origins"]),
                                 "steps": data["length"] - data["val_end"],
                                 "horizon": actual.shape[1]},
                        "ets": latest["result"].get("baseline_fits", {}).get("ets")}
    return out


def comparison_markdown(rows: list[dict]) -> str:
    """comparisons() as one Markdown table per dataset."""
    parts = []
    for dataset, c in comparisons(rows).items():
        span = c["span"]
        parts.append(f"**{dataset}**: {span['origins']} origins, {span['steps']} test steps, "
                     f"horizon {span['horizon']}; against {c['best']} (RMSE "
                     f"{c['best_rmse']:.4g})\n")
        parts.append("| | seeds | rmse | difference | 95% block bootstrap | DM (HLN) | p |")
        parts.append("|---|---|---|---|---|---|---|")
        for line in c["lines"]:
            parts.append(f"| {line['name']} | {line['seeds']} | {line['rmse']:.4g} | "
                         f"{line['diff']:+.3g} | [{line['low']:+.3g}, {line['high']:+.3g}] | "
                         f"{line['dm']:+.2f} | {line['p_value']:.2g} |")
        if c["ets"]:
            bound = "; ".join(c["ets"]["at_bound"]) or "none"
            parts.append(f"\nETS by AICc: {c['ets']['model']}; parameters on a bound: "
                         f"{bound}.\n")
        else:
            parts.append("")
    return "\n".join(parts)


def best_by_metric(lines: list[dict], metric: str) -> dict:
    """The line with the best mean `metric` (highest r2, lowest otherwise)."""
    sign = -1.0 if metric == "r2" else 1.0
    return min(lines, key=lambda line: sign * line[metric][0])


def cell(value: tuple[float, float], seeds: int) -> str:
    mean, std = value
    return f"{mean:.4g} ± {std:.2g}" if seeds > 1 else f"{mean:.4g}"


def markdown(rows: list[dict]) -> str:
    """One Markdown table per dataset (mean ± std over seeds) and who wins each metric."""
    parts = []
    for dataset, lines in summarise(rows).items():
        config = next(r["config"] for r in rows if r.get("config", {}).get("dataset") == dataset)
        parts.append(f"**{dataset}** (horizon {config['horizon']}, lookback "
                     f"{config['lookback']}, test {config['test_size']} steps, validation "
                     f"{config['val_size']})\n")
        parts.append("| | seeds | " + " | ".join(METRICS) + " |")
        parts.append("|---|---|" + "---|" * len(METRICS))
        for line in lines:
            parts.append(f"| {line['name']} | {line['seeds']} | "
                         + " | ".join(cell(line[m], line["seeds"]) for m in METRICS) + " |")
        winners = {m: best_by_metric(lines, m)["name"] for m in ("rmse", "mase")}
        parts.append(f"\nBest RMSE: {winners['rmse']}; best MASE: {winners['mase']}.\n")
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstm.apps.forecast.runs",
                                     description="print a results file's forecasting runs as "
                                                 "Markdown tables (docs/applications_forecast.md)")
    parser.add_argument("path", metavar="RESULTS.jsonl",
                        help="a results file written by `lstm forecast`")
    path = parser.parse_args(argv).path
    if not os.path.isfile(path):
        parser.error(f"RESULTS.jsonl: no results file {path!r}")
    rows = [r for r in read_results(path) if r.get("kind") == KIND]
    if not rows:
        print(f"no forecast runs in {path}", file=sys.stderr)
        return 1
    print(markdown(rows))
    compared = comparison_markdown(rows)
    if compared:
        print("Differences from the best classical method (test RMSE, original scale):\n")
        print(compared)
    return 0


if __name__ == "__main__":
    sys.exit(main())
