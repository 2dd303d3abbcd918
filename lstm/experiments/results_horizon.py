"""docs/results.md's memory-horizon tables, read honestly from a sweep that may be partly run.

A task whose ladders have no finished run says "not run yet" under its planned heading (never an
empty table); a ladder still tuning or climbing says so in its horizon column ("not decided
yet", ">= T so far") instead of "none"; each task opens with a status line (ladders finished,
climbing, tuning, not run yet; runs and run time so far).
"""

from __future__ import annotations

import statistics

from .horizon import LOSS_KEYS, Ladder, spread
from .sweep import run_identity

INTRO = (
    "The longest T of each ladder solved on at least the seeds its heading states within the "
    "step budget; each run stops once solved, a ladder stops after the failed rungs in a row "
    "its heading states (the rungs after it: skipped). A ladder whose heading says \"lr tuned\" "
    "first trained its first rung at every value of the grid and climbed with the one in its lr "
    "column (its last column: each value's seeds solved of those run and mean final loss "
    "there). Cells: status, seeds solved, the steps at which each solving seed solved, for "
    "unsolved rungs the range of final test losses (and the recall accuracy of copy, selective "
    "copy and MQAR), and the rung's run time summed over its seeds (at the chosen lr); the run "
    "time column sums every run of the ladder, its tuning's at the other lrs included. A ladder "
    "not finished says so: \"not decided yet\" while its lr is tuned, \">= T so far\" while it "
    "climbs; its seeds' horizons are given once it has finished.")


def ladder_heading(task: str, outcome: dict, max_failures: int) -> str:
    """The settings a task's ladders share, read from one ladder's outcome."""
    config, lens = outcome["config"], [r["seq_len"] for r in outcome["rungs"]]
    if outcome.get("lr_grid"):
        tuned_on = ("all seeds" if outcome["tune_seeds"] == outcome["seeds"]
                    else "seed " + ", ".join(map(str, outcome["tune_seeds"])))
        lr = (f"lr tuned from {', '.join(f'{v:g}' for v in outcome['lr_grid'])} on T = "
              f"{lens[0]} ({tuned_on}: the most seeds solved, then the fewest steps to solve, "
              "then the lowest final loss)")
    else:
        lr = f"lr {config.get('lr')}"
    return (f"### {task}: ladder T = {', '.join(map(str, lens))}; budget {config.get('steps')} "
            f"steps per run, H = {config.get('hidden_size')}, {config.get('optimizer')}, {lr}, "
            f"batch {config.get('batch_size')}, seeds {outcome['seeds']}, solved on >= "
            f"{outcome['min_solved']} seeds, stops after {max_failures} "
            "failed rung(s) in a row")


def _tuning_cell(outcome: dict, key: str) -> str:
    """Each lr of the grid: seeds solved of the tuning runs finished (and of how many while
    tuning), their mean final loss."""
    parts = []
    for t in outcome.get("tuning") or []:
        losses = [v for v in t["final_loss"] if v is not None]
        wanted = len(outcome["tune_seeds"])
        parts.append(f"{t['lr']:g}: {t['n_solved']}/{t['n_run']}"
                     + (f" ({t['n_run']} of {wanted} runs finished)" if t["n_run"] < wanted
                        else "")
                     + (f", {key} {statistics.mean(losses):.3g}" if losses else "")
                     + _diverged(t["final_loss"]))
    return "; ".join(parts) or "-"


def _diverged(losses: list) -> str:
    """How many finished runs ended without a final loss (training diverged: NaN or inf)."""
    n = sum(v is None for v in losses)
    return f", {n} diverged" if n else ""


def _rung_cell(outcome: dict, rung: dict) -> str:
    task, n_seeds = outcome["task"], len(outcome["seeds"])
    if rung["status"] == "skipped":
        return "skipped" if outcome["finished"] else "-"
    if rung["status"] == "tuning":
        done = sum(t["n_run"] for t in outcome["tuning"])
        return f"tuning, {done} of {len(outcome['tuning']) * len(outcome['tune_seeds'])} runs"
    steps = [s for s in rung["steps_to_solve"] if s is not None]
    losses = [v for v in rung["final_loss"] if v is not None]
    text = f"{rung['status']} {rung['n_solved']}/{n_seeds}"
    if rung["status"] == "running":
        text = f"running, {rung['n_run']} of {n_seeds} seeds finished, {rung['n_solved']} solved"
    if steps:
        text += f", steps {'/'.join(map(str, steps))}"
    if rung["status"] != "solved" and losses:
        text += f", final {LOSS_KEYS[task]} {min(losses):.3g}-{max(losses):.3g}"
    text += _diverged([v for v, row in zip(rung["final_loss"], rung["wall_time_s"])
                       if row is not None])  # of the finished runs
    recall = [v for v in rung["recall"] if v is not None]
    if recall:
        text += f", recall {min(recall):.2f}-{max(recall):.2f}"
    return text + (f", {sum(w or 0 for w in rung['wall_time_s']):,.0f} s" if rung["n_run"]
                   else "")


def horizon_text(outcome: dict) -> tuple[str, str]:
    """The horizon and the seeds' spread, or what is known of them while the ladder runs."""
    if outcome["finished"]:
        low, median, high = spread(outcome)
        return str(outcome["horizon"] or "none"), f"{low} / {median:g} / {high}"
    if outcome["horizon"]:
        return f">= {outcome['horizon']} so far", "-"
    return "not decided yet", "-"


def has_runs(outcome: dict) -> bool:
    """Whether any run of the ladder (its tuning's included) has finished."""
    return any(t["n_run"] for t in outcome.get("tuning") or []) or \
        any(r["n_run"] for r in outcome["rungs"])


def _table(task: str, found: list[dict], seconds: list[float]) -> list[str]:
    """The ladders' rows; `seconds`: each ladder's run time, its tuning's runs included."""
    lens = [r["seq_len"] for r in found[0]["rungs"]]
    tuned = any(o.get("lr_grid") for o in found)
    lines = ["| model | " + ("lr | " if tuned else "") + "horizon T | seeds' horizons "
             "(min / median / max) | " + " | ".join(f"T = {t}" for t in lens)
             + " | run time (s) |" + (" tuning: per lr, seeds solved / runs, mean final loss |"
                                      if tuned else ""),
             "|---|---|---|" + "---|" * (len(lens) + 2 * tuned) + "---|"]
    for o, wall in zip(found, seconds):
        horizon, seeds = horizon_text(o)
        lr = (f"{'tuning' if o.get('lr') is None else format(o['lr'], 'g')} | " if tuned else "")
        lines.append(f"| {o['model']} | {lr}{horizon} | {seeds} | "
                     + " | ".join(_rung_cell(o, rung) for rung in o["rungs"])
                     + f" | {wall:,.0f} |"
                     + (f" {_tuning_cell(o, LOSS_KEYS[task])} |" if tuned else ""))
    return lines + [""]


def _ladder_runs(ladder: Ladder, done: dict) -> list[dict]:
    """The finished rows of every run the ladder could make (its tuning's included)."""
    keys = {run_identity(s.kind, s.config) for s in ladder.all_specs()}
    return [done[k] for k in keys if k in done]


def horizon_tables(rows: list[dict], ladders: list[Ladder]) -> list[str]:
    """Per task (in the ladders' order) its status line and table; a ladder without a finished
    run is listed as not run yet, a task without any under its planned heading."""
    if not ladders:
        return ["_No memory-horizon ladders in the results files._", ""]
    done = {run_identity(r["kind"], r.get("config")): r for r in rows}
    lines = []
    for task in dict.fromkeys(ladder.task for ladder in ladders):
        mine = [ladder for ladder in ladders if ladder.task == task]
        runs = {id(ladder): _ladder_runs(ladder, done) for ladder in mine}
        found = [ladder.outcome(done) for ladder in mine if runs[id(ladder)]]
        waiting = [ladder.model for ladder in mine if not runs[id(ladder)]]
        first = next((ladder for ladder in mine if runs[id(ladder)]), mine[0])
        lines += [ladder_heading(task, first.outcome(done), first.max_failures), ""]
        if not found:
            lines += [f"**Not run yet**: none of the {len(mine)} ladders of {task} "
                      f"({', '.join(waiting)}) has a finished run in the results files.", ""]
            continue
        tuning = sum(o["rungs"][0]["status"] == "tuning" for o in found)
        finished = sum(o["finished"] for o in found)
        every = [r for ladder in mine for r in runs[id(ladder)]]
        lines += [f"Status: {finished} of {len(mine)} ladders finished, "
                  f"{len(found) - finished - tuning} climbing, {tuning} tuning the lr, "
                  f"{len(waiting)} not run yet; {len(every)} runs finished, "
                  f"{sum(r.get('wall_time_s') or 0 for r in every):,.0f} s of run time "
                  "summed.", ""]
        lines += _table(task, found, [sum(r.get("wall_time_s") or 0 for r in runs[id(ladder)])
                                      for ladder in mine if runs[id(ladder)]])
        if waiting:
            lines += [f"Not run yet: {', '.join(waiting)}.", ""]
    return lines
