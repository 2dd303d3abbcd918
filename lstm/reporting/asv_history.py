"""asv's results over commits: read .asv/results/<machine>/<commit>-<env>.json (asv's format
version 2) and draw, per benchmark, its value at each commit (one line per parameter set)."""

from __future__ import annotations

import datetime
import itertools
import json
import math
import os
import sys
from collections import defaultdict

import numpy as np

from .figures import grid_shape, new_figure, save
from .page import Section, Table

MAX_PANELS = 12
MAX_LINES = 8


def read_asv_results(results_dir: str) -> list[dict]:
    """One row per (machine, commit, benchmark, parameter set) with a numeric result: machine,
    commit (hash), date (commit time, datetime), env, benchmark, params (tuple of str), value,
    unit (from benchmarks.json when present, else '?')."""
    units: dict[str, str] = {}
    index = os.path.join(results_dir, "benchmarks.json")
    if os.path.isfile(index):
        try:
            with open(index, encoding="utf-8") as f:
                units = {name: spec.get("unit", "?") for name, spec in json.load(f).items()
                         if isinstance(spec, dict)}
        except (ValueError, AttributeError) as e:
            print(f"lstm report: {index} is not asv's benchmark index ({e}); units shown as ?",
                  file=sys.stderr)
    rows = []
    for machine in sorted(os.listdir(results_dir)):
        folder = os.path.join(results_dir, machine)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".json") or name == "machine.json":
                continue
            path = os.path.join(folder, name)
            try:
                with open(path, encoding="utf-8") as f:
                    data = json.load(f)
            except ValueError as e:  # a killed asv run leaves a torn file: the others still count
                print(f"lstm report: skipped {path}: not JSON ({e})", file=sys.stderr)
                continue
            if not isinstance(data, dict) or "results" not in data or "commit_hash" not in data:
                continue
            rows += _rows_of_file(data, machine, units)
    return rows


def _rows_of_file(data: dict, machine: str, units: dict[str, str]) -> list[dict]:
    columns = data.get("result_columns", ["result", "params"])
    date = datetime.datetime.fromtimestamp(data.get("date", 0) / 1000, datetime.timezone.utc)
    rows = []
    for benchmark, values in data["results"].items():
        entry = dict(zip(columns, values)) if isinstance(values, list) else {"result": values}
        result = entry.get("result")
        if result is None:
            continue
        result = result if isinstance(result, list) else [result]
        params = entry.get("params") or []
        combos = list(itertools.product(*params)) if params else [()]
        for combo, value in zip(combos, result):
            if isinstance(value, int | float) and math.isfinite(value):
                rows.append({"machine": machine, "commit": data["commit_hash"], "date": date,
                             "env": data.get("env_name", ""), "benchmark": benchmark,
                             "params": tuple(str(p).strip("'\"") for p in combo),
                             "value": float(value),
                             "unit": units.get(benchmark, "?")})
    return rows


def _scale(unit: str, values: np.ndarray) -> tuple[np.ndarray, str]:
    if unit == "seconds":
        return values * 1e3, "time (ms)"
    if unit == "bytes":
        return values / 2 ** 20, "memory (MiB)"
    return values, f"value ({unit})"


def asv_history(rows: list[dict], out_dir: str) -> Section:
    """Per benchmark (at most MAX_PANELS, those measured at the most commits first), its value
    against commit order, one line per parameter set (the first MAX_LINES)."""
    commits = sorted({(r["date"], r["commit"]) for r in rows})
    position = {commit: n for n, (_, commit) in enumerate(commits)}
    series: dict[str, dict[tuple, list]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        series[r["benchmark"]][r["params"]].append((position[r["commit"]], r["value"]))
    order = sorted(series, key=lambda b: (-len({p for s in series[b].values() for p, _ in s}), b))
    shown = order[:MAX_PANELS]
    n_rows, n_cols = grid_shape(len(shown), 3)
    figure = new_figure(5.2 * n_cols, 3.4 * n_rows + 0.6)
    axes = figure.subplots(n_rows, n_cols, squeeze=False).ravel()
    units = {r["benchmark"]: r["unit"] for r in rows}
    for ax, benchmark in zip(axes, shown):
        combos = sorted(series[benchmark])
        for params in combos[:MAX_LINES]:
            points = sorted(series[benchmark][params])
            x = np.array([p for p, _ in points])
            y, unit = _scale(units[benchmark], np.array([v for _, v in points]))
            ax.plot(x, y, marker="o", markersize=3, label=", ".join(params) or "value")
        unit = _scale(units[benchmark], np.zeros(1))[1]
        more = f" ({MAX_LINES} of {len(combos)} parameter sets)" if len(combos) > MAX_LINES else ""
        ax.set_title(".".join(benchmark.split(".")[-2:])[:60] + more, fontsize=9)
        ax.set_xlabel("commit (oldest to newest)")
        ax.set_ylabel(unit)
        ax.set_xticks(range(len(commits)), [c[:7] for _, c in commits], rotation=60, fontsize=6)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, loc="best", title="params", title_fontsize=6)
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    figure.suptitle(f"asv history: {len(series)} benchmarks over {len(commits)} commits "
                    f"(showing {len(shown)})", fontsize=12)
    image = save(figure, out_dir, "asv_history.png") if rows else None
    table = []
    for benchmark in order:
        for params, points in sorted(series[benchmark].items()):
            points = sorted(points)
            table.append([benchmark, ", ".join(params), units[benchmark], len(points),
                          commits[points[0][0]][1][:8], points[0][1],
                          commits[points[-1][0]][1][:8], points[-1][1],
                          points[-1][1] / points[0][1] if points[0][1] else None])
    caption = ("Each panel is one asv benchmark, each line one of its parameter sets, against "
               "the commits asv measured, oldest on the left. A step up in a time_ or peakmem_ "
               "benchmark is a regression at that commit; in a track_ benchmark of a metric it "
               "depends on the metric. asv's own pages (asv publish / asv preview) have the "
               "full interactive view.")
    headers = ["benchmark", "params", "unit", "commits", "first commit", "first value",
               "latest commit", "latest value", "latest / first"]
    note = "" if len(shown) == len(order) else (
        f"{len(order) - len(shown)} more benchmarks are in the table only.")
    return Section("asv-history", "asv benchmark history", [image] if image else [], caption,
                   [Table(headers, table, "First and latest value per benchmark and parameters")],
                   note=note)
