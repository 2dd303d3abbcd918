"""asv: the memory horizon per model, so a commit that shortens a model's memory shows.

setup_cache climbs one memory-horizon ladder per (task, model) with lstm.experiments.horizon
(seed 0, so a rung is solved when its one run solves it): adding at T = 25, 50, 100 (1,500
steps per run) and the copy task with three symbols to recall (n_copy=3, the quick report's
variant: ten take 10k+ steps) at T = 5, 10, 20 (4,000 steps), H = 64, Adam 1e-2, clip 1,
batch 32: the `lstm report --preset quick` settings. The runs stop once solved; a ladder
stops after two failed rungs in a row.

- MemoryHorizonLadder.track_longest_solved_seq_len: the horizon, 0 if no rung was solved.
- StepsToSolve.track_steps_to_solve: the training steps at which each model solved adding at
  T = 50 (nan if it did not: the budget, 1,500, would understate it).
"""

from __future__ import annotations

import math
import os
import tempfile

from bench.asv_cases import CachedResults, fused_available, skip

# lstm.experiments.horizon.HORIZON_MODELS written out (asv must not import lstm to discover the
# benchmarks; tests/bench/test_asv_suite.py checks the two are equal)
MODELS = ["rnn", "rnn-orth", "irnn", "lstm", "lstm-fb1", "lstm-chrono", "gru", "lstm-peephole",
          "lstm-ln", "janet", "indrnn", "slstm", "mlstm", "mingru", "minlstm"]
LADDERS = {"adding": {"seq_lens": (25, 50, 100), "steps": 1500, "n_copy": None},
           "copy": {"seq_lens": (5, 10, 20), "steps": 4000, "n_copy": 3}}
BASE = {"optimizer": "adam", "lr": 1e-2, "clip": "norm", "clip_value": 1.0, "hidden_size": 64,
        "batch_size": 32, "eval_every": 100, "test_size": 256}
STEPS_AT = ("adding", 50)


def climb(*_) -> dict:
    """{"task/model": outcome} of every ladder, or {"unavailable": reason} at older commits."""
    if not fused_available():
        return {"unavailable": "no fused recurrent primitives at this commit"}
    try:
        from lstm.experiments.horizon import Ladder, Plan, outcomes
        from lstm.experiments.sweep import run_sweep
        from lstm.models import MODEL_NAMES
    except ImportError as e:
        return {"unavailable": f"no memory-horizon ladders at this commit ({e})"}
    ladders = []
    for task, spec in LADDERS.items():
        config = {**BASE, "steps": spec["steps"]}
        if spec["n_copy"] is not None:
            config["n_copy"] = spec["n_copy"]
        ladders += [Ladder(m, task, spec["seq_lens"], (0,), config, min_solved=1)
                    for m in MODELS if m in MODEL_NAMES]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "results.jsonl")
        rows = run_sweep(Plan([], ladders), path, workers=1, progress=False)
    return {f"{o['task']}/{o['model']}": o for o in outcomes(rows, ladders)}


climb.timeout = 3600


class _Ladders(CachedResults):
    setup_cache = climb

    def setup(self, results, *params):
        super().setup(results, *params)
        task, model = (params[0], params[1]) if len(params) == 2 else (STEPS_AT[0], params[0])
        if f"{task}/{model}" not in results:
            skip(f"no model {model!r} at this commit")


class MemoryHorizonLadder(_Ladders):
    """The longest T of the ladder solved within the budget (0: none)."""

    params = (list(LADDERS), MODELS)
    param_names = ["task", "model"]

    def track_longest_solved_seq_len(self, results, task, model):
        return results[f"{task}/{model}"]["horizon"] or 0

    track_longest_solved_seq_len.unit = "steps of delay"


class StepsToSolve(_Ladders):
    """Training steps until adding at T = 50 was solved (nan: not within the budget)."""

    params = (MODELS,)
    param_names = ["model"]

    def track_steps_to_solve(self, results, model):
        outcome = results[f"{STEPS_AT[0]}/{model}"]
        for rung in outcome["rungs"]:
            if rung["seq_len"] == STEPS_AT[1] and rung["steps_to_solve"][0] is not None:
                return rung["steps_to_solve"][0]
        return math.nan

    track_steps_to_solve.unit = "training steps"
