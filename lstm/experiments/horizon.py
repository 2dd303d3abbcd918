"""The memory horizon: the longest delay T each model bridges, climbing a ladder of lengths.

For one model and task a Ladder trains every seed at the first rung (T), then the next rung,
and so on. A rung is solved when at least `min_solved` of its seeds solve the task (adding:
test MSE < 0.01; copy: recall accuracy >= 99%) within the step budget; each run stops as soon
as it solves. Once `max_failures` rungs in a row fail, the rest of the ladder is skipped (and
marked so): a model that cannot bridge 200 steps twice in a row will not bridge 1000. The
horizon is the longest solved rung; each seed's own horizon (the longest T it solved) gives
the spread.

Ladders are plans for lstm.experiments.sweep.run_sweep: given the rows finished so far they
return the runs wanted now, so the sweep runs rungs of different ladders side by side, starts
the next rung of a ladder as soon as its current one is decided, and a rerun (or a resumed,
interrupted one) recomputes every ladder's position from the results file.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from .sweep import RunSpec, run_identity

# Issue 14's ladders: T for adding and for copy.
LADDERS = {"adding": (100, 200, 400, 750, 1000), "copy": (100, 200, 500, 1000, 2000)}
HORIZON_MODELS = ("rnn", "rnn-orth", "irnn", "lstm", "lstm-fb1", "lstm-chrono", "gru",
                  "lstm-peephole", "lstm-ln", "janet", "indrnn")
# The training loss of each task's rows (a row names its task; lstm.tasks.Task.loss_key is the
# same choice for a Task object).
LOSS_KEYS = {"adding": "mse", "copy": "cross_entropy"}


@dataclass(frozen=True)
class Ladder:
    """One model on one task over increasing seq_lens; `config` holds the other TrainConfig
    fields (its `steps` is the step budget of every rung)."""

    model: str
    task: str
    seq_lens: tuple[int, ...]
    seeds: tuple[int, ...]
    config: dict = field(default_factory=dict)
    min_solved: int = 2
    max_failures: int = 2

    def __post_init__(self):
        object.__setattr__(self, "seq_lens", tuple(self.seq_lens))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        if not self.seq_lens or list(self.seq_lens) != sorted(set(self.seq_lens)):
            raise ValueError(f"seq_lens must be increasing and not empty, got {self.seq_lens}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and not empty, got {self.seeds}")
        if not 1 <= self.min_solved <= len(self.seeds):
            raise ValueError(f"min_solved must be in [1, {len(self.seeds)}] (the number of "
                             f"seeds), got {self.min_solved}")
        if self.max_failures < 1:
            raise ValueError(f"max_failures must be >= 1, got {self.max_failures}")
        clash = sorted({"model", "task", "seq_len", "seed"} & set(self.config))
        if clash:
            raise ValueError(f"config must not set {clash}: the ladder sets them")

    def spec(self, seq_len: int, seed: int) -> RunSpec:
        return RunSpec("train", {**self.config, "task": self.task, "model": self.model,
                                 "seq_len": seq_len, "seed": seed},
                       tags={"ladder": describe(self)})

    def all_specs(self) -> list[RunSpec]:
        """Every run the ladder could make (for checking configs before anything runs)."""
        return [self.spec(t, s) for t in self.seq_lens for s in self.seeds]

    def rungs(self, done: dict) -> list[dict]:
        """Each rung's state from the finished rows `done` (by run identity): status (solved,
        failed, running: not all seeds finished, skipped: after max_failures failed rungs in a
        row), its rows (None for a seed not finished) and the number of seeds that solved."""
        out, failures, stopped = [], 0, False
        for seq_len in self.seq_lens:
            specs = [self.spec(seq_len, s) for s in self.seeds]
            if stopped:
                out.append({"seq_len": seq_len, "status": "skipped", "specs": specs,
                            "rows": [None] * len(specs), "n_solved": 0})
                continue
            rows = [done.get(run_identity(s.kind, s.config)) for s in specs]
            n_solved = sum(bool(r and r["result"]["solved"]) for r in rows)
            if any(r is None for r in rows):
                status, stopped = "running", True
            elif n_solved >= self.min_solved:
                status, failures = "solved", 0
            else:
                status, failures = "failed", failures + 1
                stopped = failures >= self.max_failures
            out.append({"seq_len": seq_len, "status": status, "specs": specs, "rows": rows,
                        "n_solved": n_solved})
        return out

    def runs(self, done: dict) -> list[RunSpec]:
        """The runs wanted now: every seed of every rung up to the first undecided one."""
        return [s for rung in self.rungs(done) if rung["status"] != "skipped"
                for s in rung["specs"]]

    def outcome(self, done: dict) -> dict:
        """The ladder's result: the horizon (longest solved rung, None if none), each seed's
        horizon, whether the ladder is finished, and per rung its status, seeds solved, steps
        to solve and wall time per seed (JSON-ready)."""
        rungs = self.rungs(done)
        solved = [r["seq_len"] for r in rungs if r["status"] == "solved"]
        seed_horizon = {}
        for i, seed in enumerate(self.seeds):
            lens = [r["seq_len"] for r in rungs
                    if r["rows"][i] is not None and r["rows"][i]["result"]["solved"]]
            seed_horizon[seed] = max(lens) if lens else None
        summary = []
        for rung in rungs:
            rows = rung["rows"]
            summary.append({
                "seq_len": rung["seq_len"], "status": rung["status"],
                "n_solved": rung["n_solved"], "n_run": sum(r is not None for r in rows),
                "steps_to_solve": [r["result"]["steps_to_solve"] if r else None for r in rows],
                "wall_time_s": [round(_wall(r), 1) if r else None for r in rows],
                "final_loss": [_final_metric(r, LOSS_KEYS[self.task]) for r in rows],
                "recall": [_final_metric(r, "recall_accuracy") for r in rows],
            })
        return {"model": self.model, "task": self.task, "seeds": list(self.seeds),
                "budget_steps": self.config.get("steps"),
                "hidden_size": self.config.get("hidden_size"), "config": dict(self.config),
                "min_solved": self.min_solved, "horizon": max(solved) if solved else None,
                "seed_horizons": seed_horizon,
                "finished": all(r["status"] in ("solved", "failed", "skipped") for r in rungs),
                "rungs": summary}


def _wall(row: dict) -> float:
    return float(row.get("wall_time_s") or row["result"].get("wall_time") or 0.0)


def _final_metric(row: dict | None, name: str):
    return None if row is None else row["result"]["metrics"].get(name)


class Plan:
    """Fixed runs plus ladders: the callable run_sweep asks after every finished run."""

    def __init__(self, specs: list[RunSpec] = (), ladders: list[Ladder] = ()):
        self.specs, self.ladders = list(specs), list(ladders)

    def __call__(self, done: dict) -> list[RunSpec]:
        return self.specs + [s for ladder in self.ladders for s in ladder.runs(done)]

    def all_specs(self) -> list[RunSpec]:
        return self.specs + [s for ladder in self.ladders for s in ladder.all_specs()]


def ladders_from_rows(rows: list[dict]) -> list[Ladder]:
    """The ladders a results file holds, rebuilt from the `ladder` field its rows carry."""
    return distinct([Ladder(spec["model"], spec["task"], tuple(spec["seq_lens"]),
                            tuple(spec["seeds"]), spec["config"], spec["min_solved"],
                            spec["max_failures"])
                     for row in rows if row.get("kind") == "train"
                     for spec in [row.get("ladder")] if spec])


def distinct(ladders: list[Ladder]) -> list[Ladder]:
    """`ladders` without repeats (the same model, task, rungs, seeds and config), first kept."""
    found: dict[tuple, Ladder] = {}
    for ladder in ladders:
        key = (ladder.model, ladder.task, ladder.seq_lens, ladder.seeds,
               tuple(sorted((k, str(v)) for k, v in ladder.config.items())))
        found.setdefault(key, ladder)
    return list(found.values())


def describe(ladder: Ladder) -> dict:
    """What a row records of the ladder it belongs to (ladders_from_rows reads it back)."""
    return {"model": ladder.model, "task": ladder.task, "seq_lens": list(ladder.seq_lens),
            "seeds": list(ladder.seeds), "config": dict(ladder.config),
            "min_solved": ladder.min_solved, "max_failures": ladder.max_failures}


def outcomes(rows: list[dict], ladders: list[Ladder] | None = None) -> list[dict]:
    """Each ladder's outcome from a results file's rows (ladders default to those the rows
    name)."""
    done = {run_identity(r["kind"], r.get("config")): r for r in rows}
    return [ladder.outcome(done) for ladder in (ladders_from_rows(rows) if ladders is None
                                                else ladders)]


def spread(outcome: dict) -> tuple[float | None, float | None, float | None]:
    """(min, median, max) of the seeds' horizons, counting a seed that solved nothing as 0."""
    values = [v or 0 for v in outcome["seed_horizons"].values()]
    if not values:
        return None, None, None
    return min(values), statistics.median(values), max(values)
