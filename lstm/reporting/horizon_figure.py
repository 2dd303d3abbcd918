"""The memory-horizon figures: each model's horizon (the longest T of its ladder solved on at
least min_solved seeds) as bars with the seeds' spread, and the learning curves of every rung."""

from __future__ import annotations

import numpy as np

from .. import zoo
from ..experiments.horizon import LOSS_KEYS, spread
from ..experiments.results_horizon import has_runs, horizon_text
from .figures import SOLVED_ACCURACY, SOLVED_MSE, label, new_figure, save
from .page import Section, Table


def _rung_index(outcome: dict, seq_len) -> int:
    """0 for "nothing solved", else 1 + the rung's position on the ladder."""
    lens = [r["seq_len"] for r in outcome["rungs"]]
    return 0 if seq_len in (None, 0) else 1 + lens.index(seq_len)


def _task_label(outcome: dict) -> str:
    n_copy = (outcome.get("config") or {}).get("n_copy")
    name = "n_pairs" if outcome["task"] == "mqar" else "n_copy"  # MQAR's n_copy: its pairs
    return outcome["task"] + (f" ({name}={n_copy})" if n_copy not in (None, 10) else "")


def horizon_bars(outcomes: list[dict], out_dir: str, name: str = "horizon_bars.png") -> str:
    """One panel per task: a bar per model at its horizon rung, each seed's horizon a dot, the
    seeds' range a line."""
    tasks = list(dict.fromkeys(o["task"] for o in outcomes))
    figure = new_figure(max(5.5, 0.75 * max(sum(o["task"] == t for o in outcomes)
                                            for t in tasks)) * len(tasks), 4.6)
    axes = figure.subplots(1, len(tasks), squeeze=False)[0]
    for ax, task in zip(axes, tasks):
        mine = [o for o in outcomes if o["task"] == task]
        lens = [r["seq_len"] for r in mine[0]["rungs"]]
        for x, outcome in enumerate(mine):
            color = zoo.colour(outcome["model"])
            height = _rung_index(outcome, outcome["horizon"])
            ax.bar(x, height, color=color, alpha=0.8, width=0.7,
                   hatch=None if outcome["finished"] else "//")
            seeds = [_rung_index(outcome, v) for v in outcome["seed_horizons"].values()]
            if seeds:
                ax.plot([x, x], [min(seeds), max(seeds)], color="black", linewidth=1.5)
                jitter = np.linspace(-0.15, 0.15, len(seeds)) if len(seeds) > 1 else [0.0]
                ax.scatter(x + np.asarray(jitter), seeds, color="black", s=14, zorder=3)
        ax.set_xticks(range(len(mine)))
        ax.set_xticklabels([label(o["model"]) for o in mine], rotation=40, ha="right",
                           fontsize=8)
        ax.set_yticks(range(len(lens) + 1))
        ax.set_yticklabels(["none"] + [str(t) for t in lens])
        ax.set_ylim(0, len(lens) + 0.3)
        ax.set_ylabel("longest T solved (memory horizon)")
        budget = mine[0]["budget_steps"]
        ax.set_title(f"{_task_label(mine[0])}: budget {budget} steps per run, H="
                     f"{mine[0]['hidden_size']}", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    figure.suptitle("Memory horizon: the longest T solved on at least "
                    f"{outcomes[0].get('min_solved', 2)} of {len(outcomes[0]['seeds'])} seeds "
                    "(bars; dots: each seed's own horizon)", fontsize=11)
    return save(figure, out_dir, name)


def rung_curves(rows: list[dict], outcomes: list[dict], out_dir: str,
                name: str = "horizon_curves.png") -> str | None:
    """Test loss against step for every rung that ran: one panel per (task, T), a line per run
    (colour = model), the baseline and the solved line."""
    by_ladder = {(o["model"], o["task"]): o for o in outcomes}
    rows = ladder_rows(rows, outcomes)
    panels = sorted({(r["config"]["task"], r["config"]["seq_len"]) for r in rows
                     if (r["config"]["model"], r["config"]["task"]) in by_ladder})
    if not panels:
        return None
    columns = min(5, len(panels))
    n_rows = -(-len(panels) // columns)
    figure = new_figure(3.6 * columns, 3.0 * n_rows + 0.5)
    axes = figure.subplots(n_rows, columns, squeeze=False).ravel()
    for ax, (task, seq_len) in zip(axes, panels):
        key = LOSS_KEYS[task]
        runs = [r for r in rows if r["config"]["task"] == task
                and r["config"]["seq_len"] == seq_len
                and (r["config"]["model"], task) in by_ladder]
        seen = set()
        for run in sorted(runs, key=lambda r: (r["config"]["model"], r["config"]["seed"])):
            model = run["config"]["model"]
            curve = run["result"]["curve"]
            ax.plot([p["step"] for p in curve],
                    [np.nan if p.get(key) is None else p[key] for p in curve],
                    color=zoo.colour(model), linewidth=1.1, alpha=0.8,
                    label=None if model in seen else label(model))
            seen.add(model)
        baseline = runs[0]["result"]["task"]["baseline"]
        ax.axhline(baseline, color="grey", linestyle="--", linewidth=1)
        if task == "adding":
            ax.axhline(SOLVED_MSE, color="green", linestyle=":", linewidth=1)
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, 2 * baseline)
        ax.set_title(f"{task}, T={seq_len}", fontsize=10)
        ax.set_xlabel("training step", fontsize=8)
        ax.set_ylabel("test MSE" if task == "adding" else "test CE (nats/step)", fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles, labels = [], []
    for ax in axes[:len(panels)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    figure.legend(handles, labels, loc="outside lower center", ncol=min(6, len(labels)),
                  fontsize=8)
    figure.suptitle("Every rung's runs: test loss against training step (grey: memoryless "
                    f"baseline; green: adding solved at {SOLVED_MSE}; copy solved at recall "
                    f"accuracy {SOLVED_ACCURACY})", fontsize=11)
    return save(figure, out_dir, name)


def ladder_rows(rows: list[dict], outcomes: list[dict]) -> list[dict]:
    """The ladders' runs among `rows`; of a tuned ladder only those at its chosen lr (the
    tuning's runs at the other values are in the table's learning-rate column, not drawn)."""
    by_ladder = {(o["model"], o["task"]): o for o in outcomes}

    def drawn(row):
        outcome = by_ladder.get((row["config"]["model"], row["config"]["task"]))
        return outcome is None or not outcome.get("lr_grid") or \
            row["config"].get("lr") == outcome.get("lr")

    return [r for r in rows if r.get("kind") == "train" and r.get("ladder") and drawn(r)]


def _lr_text(outcome: dict) -> str:
    """The ladder's lr, and for a tuned one the grid and each value's seeds solved."""
    if not outcome.get("lr_grid"):
        return f"{outcome['config'].get('lr', '-')}"
    chosen = "tuning" if outcome.get("lr") is None else f"{outcome['lr']:g}"
    trials = ", ".join(f"{t['lr']:g}: {t['n_solved']}/{t['n_run']}"
                       for t in outcome.get("tuning") or [])
    return f"{chosen} (tuned on T = {outcome['rungs'][0]['seq_len']}, seeds solved {trials})"


def horizon_table(outcomes: list[dict]) -> Table:
    rows = []
    for o in outcomes:
        low, median, high = spread(o)
        # a ladder still running: "not decided yet" / ">= T so far", its seeds' spread later
        seeds = f"{low}-{high} (median {median:g})" if o["finished"] else "-"
        rungs = "; ".join(
            f"{r['seq_len']}: {r['status']} {r['n_solved']}/{len(o['seeds'])}"
            + (f" (steps {', '.join('-' if s is None else str(s) for s in r['steps_to_solve'])})"
               if r["status"] in ("solved", "failed", "running") else "")
            for r in o["rungs"])
        wall = sum(w or 0 for r in o["rungs"] for w in r["wall_time_s"])
        rows.append([_task_label(o), label(o["model"]), _lr_text(o),
                     (o["horizon"] or "none") if o["finished"] else horizon_text(o)[0],
                     seeds, o["budget_steps"], rungs,
                     round(wall), "yes" if o["finished"] else "no"])
    headers = ["task", "model", "learning rate", "horizon T", "seeds' horizons (min-max)",
               "step budget",
               "rungs: status, seeds solved (steps to solve per seed)", "run time (s)",
               "ladder finished"]
    return Table(headers, rows, "Memory horizon per model and task")


def _not_run(outcomes: list[dict]) -> str:
    """The caption's sentence on the planned ladders with no finished run, per task."""
    tasks = {}
    for o in outcomes:
        tasks.setdefault(_task_label(o), []).append(label(o["model"]))
    return "".join(f" Not run yet on {task}: {', '.join(models)}."
                   for task, models in tasks.items())


def horizon_section(rows: list[dict], outcomes: list[dict], out_dir: str) -> Section:
    """The report's memory-horizon section (bars, every rung's curves, the table); a planned
    ladder without a finished run is named in the caption as not run yet, not drawn."""
    waiting = [o for o in outcomes if not has_runs(o)]
    outcomes = [o for o in outcomes if has_runs(o)]
    if not outcomes:
        return Section("horizon", "Memory horizon: how far back each model remembers", [],
                       "No memory-horizon ladders in the results (lstm sweep --preset quick or "
                       "--preset horizon makes them)." + _not_run(waiting))
    images = [horizon_bars(outcomes, out_dir)]
    curves = rung_curves(rows, outcomes, out_dir)
    if curves:
        images.append(curves)
    lines = []
    for o in outcomes:
        horizon = horizon_text(o)[0]
        lines.append(f"{label(o['model'])} on {_task_label(o)}: "
                     + (f"T = {horizon}" if o["horizon"] and o["finished"] else
                        "none solved" if o["finished"] else horizon))
    caption = ("Each model climbs a ladder of sequence lengths: all seeds train at a rung "
               "(each run stops once solved: adding test MSE below 0.01, copy, selective copy "
               "and MQAR recall accuracy of at least 0.99); the rung counts as solved when "
               "enough seeds solve it within the step budget, and the ladder stops after "
               "max_failures failed rungs in a row (the table's ladders: two for adding, one "
               "for the recall tasks in the horizon preset). A tuned ladder first trains its "
               "first rung at each learning rate of its grid and climbs with the best (the "
               "most seeds solved, then the fewest steps, then the lowest final loss; the "
               "table's learning-rate column). The bar "
               "is the longest solved rung, the dots each seed's own longest solved T, a "
               "hatched bar a ladder still running. Below: the test loss of every run of every "
               "rung. Here: " + "; ".join(lines) + "." + _not_run(waiting))
    return Section("horizon", "Memory horizon: how far back each model remembers", images,
                   caption, [horizon_table(outcomes)])
