"""The memory horizon: the longest delay T each model bridges, climbing a ladder of lengths.

For one model and task a Ladder trains every seed at the first rung (T), then the next rung,
and so on. A rung is solved when at least `min_solved` of its seeds solve the task (adding:
test MSE < 0.01; copy: recall accuracy >= 99%) within the step budget; each run stops as soon
as it solves. Once `max_failures` rungs in a row fail, the rest of the ladder is skipped (and
marked so): a model that cannot bridge 200 steps twice in a row will not bridge 1000. The
horizon is the longest solved rung; each seed's own horizon (the longest T it solved) gives
the spread.

A ladder given an lr_grid tunes its learning rate first: on the first rung, its tuning seeds
(default: every seed) train at each learning rate of the grid, and the one that did best is the
ladder's learning rate from then on (the tuning runs at it count as the first rung's runs). Best
(`tuning_score`): the most tuning seeds solved; then the fewest steps to solve, averaged over the
tuning seeds with an unsolved run counted at the full budget; then the lowest final test loss
averaged over them (a diverged run's as infinite); a tie goes to the earlier value of the grid.

Ladders are plans for lstm.experiments.sweep.run_sweep: given the rows finished so far they
return the runs wanted now, so the sweep runs rungs of different ladders side by side, starts
the next rung of a ladder as soon as its current one is decided, and a rerun (or a resumed,
interrupted one) recomputes every ladder's position from the results file.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from .sweep import RunSpec, run_identity

# Issue 14's ladders: T for adding and for copy; issue 21's for the recall tasks (their scaled
# variants: selective copy of 10 of 8 symbols, MQAR of 8 pairs of 16 keys).
LADDERS = {"adding": (100, 200, 400, 750, 1000), "copy": (100, 200, 500, 1000, 2000),
           "selective-copy": (50, 100, 200, 400), "mqar": (64, 128, 256, 512)}
HORIZON_MODELS = ("rnn", "rnn-orth", "irnn", "lstm", "lstm-fb1", "lstm-chrono", "gru",
                  "lstm-peephole", "lstm-ln", "janet", "indrnn", "slstm", "mlstm", "mingru",
                  "minlstm")
# The recall tasks' ladders: the new cells beside the gated models that bridge adding's ladder
# and the tanh-RNN as the control.
RECALL_MODELS = ("rnn", "lstm-fb1", "lstm-chrono", "gru", "janet", "slstm", "mlstm", "mingru",
                 "minlstm")
# The training loss of each task's rows (a row names its task; lstm.tasks.Task.loss_key is the
# same choice for a Task object).
LOSS_KEYS = {"adding": "mse", "copy": "cross_entropy", "selective-copy": "cross_entropy",
             "mqar": "cross_entropy"}


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
    lr_grid: tuple[float, ...] = ()  # () : the config's lr, no tuning
    tune_seeds: tuple[int, ...] = ()  # the seeds the tuning runs on; () : every seed

    def __post_init__(self):
        object.__setattr__(self, "seq_lens", tuple(self.seq_lens))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        object.__setattr__(self, "lr_grid", tuple(self.lr_grid))
        object.__setattr__(self, "tune_seeds", tuple(self.tune_seeds or
                                                     (self.seeds if self.lr_grid else ())))
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
        if self.lr_grid:
            _check_grid(self.lr_grid, self.config, self.tune_seeds, self.seeds)

    def spec(self, seq_len: int, seed: int, lr: float | None = None) -> RunSpec:
        """The run at (seq_len, seed); a tuning ladder needs the learning rate `lr`."""
        extra = {}
        if self.lr_grid:
            if lr is None:
                raise ValueError(f"lr must be given for a ladder tuning its lr from "
                                 f"{list(self.lr_grid)}, got None")
            extra = {"lr": lr}
        return RunSpec("train", {**self.config, **extra, "task": self.task, "model": self.model,
                                 "seq_len": seq_len, "seed": seed},
                       tags={"ladder": describe(self)})

    def all_specs(self) -> list[RunSpec]:
        """Every run the ladder could make (for checking configs before anything runs; with an
        lr grid every rung at every lr, as the tuning may choose any)."""
        return [self.spec(t, s, lr) for lr in (self.lr_grid or (None,))
                for t in self.seq_lens for s in self.seeds]

    def max_runs(self) -> int:
        """The most runs the ladder makes: every rung, plus the tuning's runs at the other lrs."""
        return len(self.seq_lens) * len(self.seeds) + \
            max(len(self.lr_grid) - 1, 0) * len(self.tune_seeds)

    def tuning(self, done: dict) -> dict:
        """The learning-rate tuning from the finished rows `done`: per value of the grid its
        tuning runs' specs, rows, seeds solved, steps to solve, final losses and score, and the
        chosen lr (None until every tuning run has finished; the config's lr without a grid)."""
        if not self.lr_grid:
            return {"lr": self.config.get("lr"), "trials": [], "finished": True}
        trials = []
        for lr in self.lr_grid:
            specs = [self.spec(self.seq_lens[0], s, lr) for s in self.tune_seeds]
            rows = [done.get(run_identity(s.kind, s.config)) for s in specs]
            trials.append({"lr": lr, "specs": specs, "rows": rows,
                           **tuning_score(rows, self.task, self.config.get("steps"))})
        finished = all(r is not None for t in trials for r in t["rows"])
        chosen = min(trials, key=lambda t: t["score"])["lr"] if finished else None
        return {"lr": chosen, "trials": trials, "finished": finished}

    def rungs(self, done: dict) -> list[dict]:
        """Each rung's state from the finished rows `done` (by run identity): status (solved,
        failed, running: not all seeds finished, tuning: the lr not chosen yet, skipped: after
        max_failures failed rungs in a row, or not reached yet), its rows (None for a seed not
        finished) and the number of seeds that solved."""
        tuned = self.tuning(done)
        if not tuned["finished"]:
            specs = [s for t in tuned["trials"] for s in t["specs"]]
            first = {"seq_len": self.seq_lens[0], "status": "tuning",
                     "specs": specs, "rows": [None] * len(self.seeds), "n_solved": 0}
            return [first] + [{"seq_len": t, "status": "skipped", "specs": [],
                               "rows": [None] * len(self.seeds), "n_solved": 0}
                              for t in self.seq_lens[1:]]
        out, failures, stopped = [], 0, False
        for seq_len in self.seq_lens:
            specs = [self.spec(seq_len, s, tuned["lr"]) for s in self.seeds]
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
        to solve and wall time per seed (JSON-ready); with an lr grid the chosen lr and each
        value's tuning result."""
        rungs = self.rungs(done)
        tuned = self.tuning(done)
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
                "lr": tuned["lr"], "lr_grid": list(self.lr_grid),
                "tune_seeds": list(self.tune_seeds),
                "tuning": [{**{k: v for k, v in t.items() if k not in ("specs", "rows")},
                            "score": _json_score(t["score"])} for t in tuned["trials"]],
                "min_solved": self.min_solved, "horizon": max(solved) if solved else None,
                "seed_horizons": seed_horizon,
                "finished": all(r["status"] in ("solved", "failed", "skipped") for r in rungs),
                "rungs": summary}


def _check_grid(grid: tuple, config: dict, tune_seeds: tuple, seeds: tuple) -> None:
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 for v in grid) \
            or len(set(grid)) != len(grid):
        raise ValueError(f"lr_grid must be distinct positive numbers, got {list(grid)}")
    if "lr" in config:
        raise ValueError(f"config must not set lr (got {config['lr']!r}) when lr_grid is given: "
                         "the tuning chooses it")
    if len(set(tune_seeds)) != len(tune_seeds) or not set(tune_seeds) <= set(seeds):
        raise ValueError(f"tune_seeds must be distinct seeds of the ladder {list(seeds)}, got "
                         f"{list(tune_seeds)}")


def tuning_score(rows: list, task: str, budget) -> dict:
    """What the tuning compares for one learning rate's runs (None: not finished): seeds solved,
    steps to solve, final test losses, and the score, smaller is better: [-solved, mean steps to
    solve with an unsolved run at the budget, mean final loss with a diverged run at infinity]
    (None until every run has finished)."""
    finished = [r for r in rows if r is not None]
    steps = [r["result"]["steps_to_solve"] if r["result"]["solved"] else None
             for r in finished]
    losses = [_final_metric(r, LOSS_KEYS[task]) for r in finished]
    n_solved = sum(s is not None for s in steps)
    cost = [s if s is not None else (budget or math.inf) for s in steps]
    finite = [v if v is not None and math.isfinite(v) else math.inf for v in losses]
    score = None if len(finished) < len(rows) or not rows else \
        [-n_solved, statistics.mean(cost), statistics.mean(finite)]
    return {"n_solved": n_solved, "n_run": len(finished), "steps_to_solve": steps,
            "final_loss": losses, "score": score}


def _json_score(score):
    """A score for a JSON line: None while unfinished, an infinite part as None."""
    return None if score is None else [v if math.isfinite(v) else None for v in score]


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

    def max_runs(self) -> int:
        """The most runs the plan makes (every ladder climbing to its top)."""
        return len(self.specs) + sum(ladder.max_runs() for ladder in self.ladders)


def ladders_from_rows(rows: list[dict]) -> list[Ladder]:
    """The ladders a results file holds, rebuilt from the `ladder` field its rows carry."""
    return distinct([Ladder(spec["model"], spec["task"], tuple(spec["seq_lens"]),
                            tuple(spec["seeds"]), spec["config"], spec["min_solved"],
                            spec["max_failures"], tuple(spec.get("lr_grid", ())),
                            tuple(spec.get("tune_seeds", ())))
                     for row in rows if row.get("kind") == "train"
                     for spec in [row.get("ladder")] if spec])


def _identity(ladder: Ladder, grid: bool = True) -> tuple:
    return (ladder.model, ladder.task, ladder.seq_lens, ladder.seeds, ladder.tune_seeds,
            tuple(sorted((k, str(v)) for k, v in ladder.config.items())),
            ladder.lr_grid if grid else None)


def distinct(ladders: list[Ladder]) -> list[Ladder]:
    """`ladders` without repeats (the same model, task, rungs, seeds and config), first kept."""
    found: dict[tuple, Ladder] = {}
    for ladder in ladders:
        found.setdefault(_identity(ladder), ladder)
    return list(found.values())


def planned_first(planned: list[Ladder], recorded: list[Ladder]) -> list[Ladder]:
    """The planned ladders, then the recorded ones no planned ladder replaces: a ladder recorded
    with another lr grid than the plan's for the same model, task, rungs and config (a preset
    whose grid was widened: its runs at the old grid's values are the new ladder's too)."""
    replaced = {_identity(ladder, grid=False) for ladder in planned}
    return distinct([*planned, *(ladder for ladder in recorded
                                 if _identity(ladder, grid=False) not in replaced)])


def describe(ladder: Ladder) -> dict:
    """What a row records of the ladder it belongs to (ladders_from_rows reads it back; the
    tuning's fields only where the ladder tunes, so older rows and untuned ladders match)."""
    out = {"model": ladder.model, "task": ladder.task, "seq_lens": list(ladder.seq_lens),
           "seeds": list(ladder.seeds), "config": dict(ladder.config),
           "min_solved": ladder.min_solved, "max_failures": ladder.max_failures}
    if ladder.lr_grid:
        out.update(lr_grid=list(ladder.lr_grid), tune_seeds=list(ladder.tune_seeds))
    return out


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
