"""Shared figure helpers (colours, labels, an Agg figure, saving) and the figures of the
training runs: test metrics against training step, and the memory horizon.

Each figure function draws one PNG (matplotlib's object API on the Agg canvas: no pyplot, no
display) and returns the report Section with its caption and the table of the numbers drawn.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import zoo
from ..experiments.horizon import LOSS_KEYS
from .page import Section, Table

SOLVED_MSE, SOLVED_ACCURACY = 0.01, 0.99


def new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save(figure: Figure, out_dir: str, name: str) -> str:
    """Write the figure to out_dir/name through a temp file and a rename (a stop or a full
    disk mid-write leaves the old figure, never a torn PNG); returns name."""
    from ..runs.checkpoint import atomic_write

    kind = os.path.splitext(name)[1].lstrip(".") or "png"
    atomic_write(os.path.join(out_dir, name),
                 lambda f: figure.savefig(f, dpi=100, format=kind))
    return name


def label(model: str) -> str:
    return zoo.label(model)


def grid_shape(n: int, columns: int = 4) -> tuple[int, int]:
    columns = min(columns, max(n, 1))
    return math.ceil(n / columns), columns


# ---- training curves ----------------------------------------------------------------------------
def _curve_panels(train_rows):
    """(task, seq_len, metric key) panels in display order."""
    panels = []
    for task, keys in (("adding", ["mse"]), ("copy", ["cross_entropy", "recall_accuracy"]),
                       *((t, ["recall_accuracy"]) for t in RECALL_TASKS)):
        lens = sorted({r["config"]["seq_len"] for r in train_rows if r["config"]["task"] == task})
        for key in keys:
            panels.append([(task, seq_len, key) for seq_len in lens])
    return [p for p in panels if p]


METRIC_LABELS = {"mse": "test MSE", "cross_entropy": "test cross-entropy (nats per step)",
                 "recall_accuracy": "recall accuracy (fraction)"}


RECALL_TASKS = ("selective-copy", "mqar")  # recall accuracy only: their cross-entropy is copy's


def _chance(runs: list[dict]) -> int:
    """1 / chance of a recall task's runs: its symbols (copy, selective copy) or keys (MQAR)."""
    config = runs[0]["result"].get("config") or runs[0]["config"]
    return int(config.get("n_symbols") or 8)


def _reference_lines(ax, task: str, key: str, baseline: float, symbols: int = 8) -> None:
    if key == "recall_accuracy":
        ax.axhline(SOLVED_ACCURACY, color="green", linestyle=":", label="solved: 0.99")
        ax.axhline(1 / symbols, color="grey", linestyle="--", label=f"chance: 1/{symbols}")
        ax.set_ylim(0, 1.03)
        return
    ax.axhline(baseline, color="grey", linestyle="--", label=f"baseline {baseline:.3g}")
    if task == "adding":
        ax.axhline(baseline / 2, color="grey", linestyle="-.", linewidth=0.8,
                   label=f"one value remembered {baseline / 2:.3g}")
        ax.axhline(SOLVED_MSE, color="green", linestyle=":", label="solved: 0.01")


def training_curves(train_rows: list[dict], out_dir: str) -> Section:
    """Test loss against training step, per model and seq_len, next to baseline and solved."""
    panels = _curve_panels(train_rows)
    columns = max((len(p) for p in panels), default=1)
    figure = new_figure(4.6 * columns, 3.3 * len(panels) + 0.4)
    axes = figure.subplots(len(panels), columns, squeeze=False)
    for row_axes, panel_row in zip(axes, panels):
        for ax, (task, seq_len, key) in zip(row_axes, panel_row):
            runs = [r for r in train_rows if r["config"]["task"] == task
                    and r["config"]["seq_len"] == seq_len]
            baseline = runs[0]["result"]["task"]["baseline"]
            for model in zoo.display_order(r["config"]["model"] for r in runs):
                mine = [r for r in runs if r["config"]["model"] == model]
                for n, run in enumerate(sorted(mine, key=lambda r: r["config"]["seed"])):
                    curve = run["result"]["curve"]
                    ax.plot([p["step"] for p in curve],
                            [np.nan if p.get(key) is None else p[key] for p in curve],
                            color=zoo.colour(model), linewidth=1.5, alpha=0.85,
                            label=label(model) if n == 0 else None)
            _reference_lines(ax, task, key, baseline, _chance(runs))
            if key == "mse":
                ax.set_yscale("log")
            zoomed = key == "cross_entropy" and ax.get_ylim()[1] > 2 * baseline
            if zoomed:  # the untrained ln(9) nats would squash everything near the baseline
                ax.set_ylim(top=2 * baseline)
            n_copy = runs[0]["config"].get("n_copy", 10)
            ax.set_title(f"{task}, T={seq_len}" + (f", n_copy={n_copy}" if task == "copy" and
                                                   n_copy != 10 else "")
                         + (" (zoomed)" if zoomed else ""), fontsize=11)
            ax.set_xlabel("training step (batches)")
            ax.set_ylabel(METRIC_LABELS[key])
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7, loc="best")
        for ax in row_axes[len(panel_row):]:
            ax.set_visible(False)
    figure.suptitle("Test metrics during training (fixed test set, evaluated every "
                    f"{_eval_every(train_rows)} steps)", fontsize=12)
    image = save(figure, out_dir, "training_curves.png")
    table = []
    for r in sorted(train_rows, key=lambda r: (r["config"]["task"], r["config"]["seq_len"],
                                               r["config"]["model"], r["config"]["seed"])):
        res, cfg = r["result"], r["config"]
        key = LOSS_KEYS[cfg["task"]]
        table.append([cfg["task"], cfg["seq_len"], label(cfg["model"]), cfg["seed"],
                      res["steps"], res["metrics"].get(key), res["task"]["baseline"],
                      res["metrics"].get("recall_accuracy"), res["solved"],
                      res["steps_to_solve"], res["stopped"], res["wall_time"]])
    headers = ["task", "T", "model", "seed", "steps", "final test loss", "baseline",
               "recall accuracy", "solved", "steps to solve", "stopped", "wall time (s)"]
    caption = ("Each line is one run: the test MSE (log scale), the test cross-entropy or the "
               "recall accuracy on the recalled symbols, against training steps. Grey dashed: "
               "the memoryless baseline (adding: predict 1, MSE 1/6; copy: n_copy ln 8 / "
               "(T + 2 n_copy), n_copy = 10 symbols to recall unless the panel's title says "
               "otherwise); "
               "dash-dotted: the adding plateau of a model that remembers only one of the two "
               "values (1/12); green dotted: solved (adding MSE 0.01, copy accuracy 0.99). "
               "Copy's cross-entropy axis is cut at twice the baseline (an untrained model "
               "starts near ln 9 = 2.2 nats). A run stops once solved. What to see: gated "
               "models leave the baseline and cross the solved line, the tanh-RNN stays on "
               "the baseline, and the longer T, the later (or never) a model solves it. "
               + _solved_sentence(train_rows))
    return Section("training-curves", "Test loss against training step", [image], caption,
                   [Table(headers, table, "Every training run")])


def _solved_sentence(rows: list[dict]) -> str:
    """Which runs solved their task, at which step, as one sentence for a caption."""
    solved = defaultdict(list)
    for r in rows:
        if r["result"]["solved"]:
            cfg = r["config"]
            solved[(cfg["task"], cfg["model"])].append(
                f"T={cfg['seq_len']} (step {r['result']['steps_to_solve']})")
    if not solved:
        return f"None of these {len(rows)} runs solved its task."
    parts = [f"{label(model)} on {task} at {', '.join(where)}"
             for (task, model), where in sorted(solved.items())]
    return f"Solved here ({sum(len(w) for w in solved.values())} of {len(rows)} runs): " + \
        "; ".join(parts) + "."


def _horizon_sentence(table: list[list]) -> str:
    """The longest T each model solved in at least half its seeds, from memory_horizon's rows
    [task, model, T, metric, mean, std, seeds, solved, baseline]."""
    horizon: dict[tuple, int | None] = {}
    for task, model, seq_len, *_, seeds, solved, _ in table:
        best = horizon.setdefault((task, model), None)
        if 2 * solved >= seeds and (best is None or seq_len > best):
            horizon[(task, model)] = seq_len
    parts = [f"{model} on {task}: {'none solved' if T is None else f'T = {T}'}"
             for (task, model), T in horizon.items()]
    return ("Horizon here (longest T solved in at least half the seeds, of those tried): "
            + "; ".join(parts) + ".") if parts else ""


def _eval_every(rows) -> str:
    values = sorted({r["config"].get("eval_every") for r in rows} - {None})
    return ", ".join(str(v) for v in values) or "?"


# ---- memory horizon -----------------------------------------------------------------------------
def memory_horizon(train_rows: list[dict], out_dir: str) -> Section:
    """Final test metric against seq_len per model; seeds as error bars (mean ± std)."""
    tasks = [(t, k) for t, k in (("adding", "mse"), ("copy", "recall_accuracy"),
                                 *((t, "recall_accuracy") for t in RECALL_TASKS))
             if any(r["config"]["task"] == t for r in train_rows)]
    figure = new_figure(5.2 * len(tasks), 4.0)
    axes = figure.subplots(1, max(len(tasks), 1), squeeze=False)[0]
    table = []
    for ax, (task, key) in zip(axes, tasks):
        runs = [r for r in train_rows if r["config"]["task"] == task]
        lens = sorted({r["config"]["seq_len"] for r in runs})
        for model in zoo.display_order(r["config"]["model"] for r in runs):
            points = []
            for seq_len in lens:
                cell = [r for r in runs if r["config"]["model"] == model
                        and r["config"]["seq_len"] == seq_len]
                values = np.array([np.nan if r["result"]["metrics"].get(key) is None
                                   else r["result"]["metrics"][key] for r in cell], float)
                if values.size:
                    solved = sum(r["result"]["solved"] for r in cell)
                    points.append((seq_len, np.nanmean(values), np.nanstd(values)))
                    table.append([task, label(model), seq_len, key, points[-1][1],
                                  points[-1][2], values.size, solved,
                                  cell[0]["result"]["task"]["baseline"]])
            if points:
                x, mean, std = (np.array(v) for v in zip(*points))
                ax.errorbar(x, mean, yerr=std, color=zoo.colour(model), marker="o",
                            capsize=4, linewidth=1.5, label=label(model))
        baseline = min(r["result"]["task"]["baseline"] for r in runs)
        _reference_lines(ax, task, key, baseline if task == "adding" else 1 / 6, _chance(runs))
        if key == "mse":
            ax.set_yscale("log")
        ax.set_xticks(lens)
        ax.set_xlabel("sequence length T (steps)")
        ax.set_ylabel("final " + METRIC_LABELS[key])
        ax.set_title(f"{task}: final {METRIC_LABELS[key].split(' (')[0]} against T", fontsize=11)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    seeds = sorted({r["config"]["seed"] for r in train_rows})
    figure.suptitle(f"Memory horizon: the final test metric against sequence length "
                    f"(seeds {seeds}: mean ± std)", fontsize=12)
    image = save(figure, out_dir, "memory_horizon.png")
    caption = ("The last evaluation of each run against the sequence length, one line per "
               "model; error bars are the standard deviation over seeds (none with a single "
               "seed). The memory horizon of a model is the longest T it still solves: below "
               "the green line for adding, above it for copy (and selective copy and MQAR, "
               "where they ran). Expect the LSTM and GRU to hold up as T grows and the "
               "tanh-RNN to stay at the baseline (grey). The recall tasks' grey line marks "
               "chance accuracy (1 / the symbols or keys). " + _horizon_sentence(table))
    headers = ["task", "model", "T", "metric", "mean", "std over seeds", "seeds", "solved",
               "baseline loss"]
    return Section("memory-horizon", "Memory horizon: final metric against T", [image],
                   caption, [Table(headers, table, "Final metric per model and T")])
