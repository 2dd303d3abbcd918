"""The forecasting figure: each dataset's test stretch, the networks' and the baselines' forecasts
(drawn by `lstm forecast` into its --out and by the report's forecasting section)."""

from __future__ import annotations

import os

import numpy as np

from ...reporting.figures import new_figure, save

METHOD_COLORS = {"lstm": "#1f77b4", "gru": "#2ca02c", "rnn": "#d62728",
                 "seasonal_naive": "#7f7f7f", "seasonal_naive_drift": "#8c564b",
                 "ets": "#ff7f0e", "sarima": "#9467bd"}
BASELINE_NAMES = {"seasonal_naive": "seasonal naive", "seasonal_naive_drift": "seasonal naive + "
                  "drift", "ets": "ETS", "sarima": "SARIMA"}
HISTORY_SHOWN = 4  # seasons (or 40 steps when there is no season) of history before the test


def _panel(ax, rows: list[dict], dataset: str) -> None:
    from .data import load_series

    series = load_series(dataset)
    first = rows[0]["result"]
    data, path, horizon = first["data"], first["path"], rows[0]["config"]["horizon"]
    y = series.values[:, series.target]
    t = np.arange(len(y))
    start = max(0, data["val_end"] - HISTORY_SHOWN * max(data["season"], 10))
    ax.plot(t[start:data["val_end"]], y[start:data["val_end"]], color="black", linewidth=1.2,
            label="history (training, validation)")
    ax.plot(t[data["val_end"]:], y[data["val_end"]:], color="black", linestyle="--",
            linewidth=1.2, label="truth (test)")
    ax.axvline(data["val_end"] - 0.5, color="grey", linewidth=0.8)
    steps = (np.asarray(path["origins"])[:, None] + np.arange(1, horizon + 1)).ravel()
    keep = steps < len(y)

    def draw(values, name, label, **style):
        ax.plot(steps[keep], np.asarray(values).ravel()[keep], color=METHOD_COLORS[name],
                label=label, **style)

    for name, text in BASELINE_NAMES.items():
        if name in path:  # rows from before the drift baseline lack it
            draw(path[name], name, text, linewidth=1.0, alpha=0.8)
    for model in sorted({r["config"]["model"] for r in rows}):
        paths = [r["result"]["path"]["model"] for r in rows if r["config"]["model"] == model]
        draw(np.mean(paths, axis=0), model, f"{model.upper()} (mean of {len(paths)} seeds)",
             linewidth=1.8)
    ticks = np.linspace(start, len(y) - 1, 5).astype(int)
    ax.set_xticks(ticks, [series.labels[i] for i in ticks], fontsize=8)
    ax.set_title(f"{dataset}: {data['target']}, {horizon}-step forecasts from every "
                 f"{horizon}th test origin", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")


def forecasts_figure(by_dataset: dict[str, list[dict]], out_dir: str) -> str:
    names = list(by_dataset)
    columns = min(2, len(names))
    rows = -(-len(names) // columns)
    figure = new_figure(7.0 * columns, 3.8 * rows)
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for ax, dataset in zip(axes, names):
        _panel(ax, by_dataset[dataset], dataset)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    return save(figure, out_dir, "forecast.png")


def draw_forecasts(rows: list[dict], out_dir: str) -> str:
    """forecast.png in out_dir from forecast result rows (any datasets, models, seeds): per
    dataset the history, the test truth, each network's forecasts (mean over its seeds) and
    the baselines'; returns the file's path."""
    by_dataset: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("kind") == "forecast":
            by_dataset.setdefault(row["config"]["dataset"], []).append(row)
    if not by_dataset:
        raise ValueError("draw_forecasts: no forecast rows")
    os.makedirs(out_dir, exist_ok=True)
    return os.path.join(out_dir, forecasts_figure(by_dataset, out_dir))
