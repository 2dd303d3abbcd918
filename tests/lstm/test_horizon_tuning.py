"""The horizon ladder's learning-rate tuning (issue 21): on the first rung every tuning seed
trains at each lr of the grid, the best one climbs the rest; resumable, recorded in the rows,
the outcome and the results page."""

from __future__ import annotations

import json
import math

import pytest

from lstm.experiments import horizon, presets, results_doc, sweep
from lstm.experiments.horizon import Ladder, Plan, ladders_from_rows, outcomes, tuning_score
from lstm.experiments.sweep import read_results, run_identity, run_sweep

CONFIG = {"hidden_size": 4, "batch_size": 4, "steps": 50, "eval_every": 5, "test_size": 8,
          "optimizer": "adam"}


def row(spec, solved: bool, steps=None, loss=0.17) -> dict:
    return {"kind": "train", "config": spec.config, "wall_time_s": 1.0,
            "result": {"solved": solved, "steps_to_solve": steps if solved else None,
                       "config": spec.config, "metrics": {"mse": loss}, "wall_time": 1.0}}


def done_of(*rows) -> dict:
    return {run_identity(r["kind"], r["config"]): r for r in rows}


def test_the_lr_that_solved_more_seeds_then_sooner_then_lower_loss_is_chosen():
    ladder = Ladder("gru", "adding", (10, 20), (0, 1), CONFIG, lr_grid=(1e-3, 1e-2))
    assert {s.config["lr"] for s in ladder.runs({})} == {1e-3, 1e-2}  # the tuning first
    assert {s.config["seq_len"] for s in ladder.runs({})} == {10}
    low, high = ([ladder.spec(10, s, lr) for s in (0, 1)] for lr in (1e-3, 1e-2))
    cases = [  # (rows of 1e-3, rows of 1e-2)
        ([row(low[0], True, 40), row(low[1], False)],  # 1 solved
         [row(high[0], True, 10), row(high[1], True, 45)]),  # 2 solved: more seeds wins
        ([row(low[0], True, 40), row(low[1], True, 20)],  # mean 30 steps
         [row(high[0], True, 10), row(high[1], True, 45)]),  # mean 27.5: sooner wins
        ([row(low[0], False, loss=0.12), row(low[1], False, loss=0.13)],
         [row(high[0], False, loss=0.15), row(high[1], False, loss=None)]),  # diverged: worst
        ([row(low[0], False), row(low[1], False)],
         [row(high[0], False), row(high[1], False)]),  # a tie: the grid's first
    ]
    for rows_low, rows_high in cases:
        done = done_of(*rows_low, *rows_high)
        tuned = ladder.tuning(done)
        scores = {t["lr"]: tuple(t["score"]) for t in tuned["trials"]}
        shown = {t["lr"]: t["score"] for t in ladder.outcome(done)["tuning"]}
        assert all(shown[lr] == [v if math.isfinite(v) else None for v in scores[lr]]
                   for lr in shown)  # JSON-ready
        # the recorded values decide: recompute the order from the rows themselves
        recorded = {lr: (-sum(r["result"]["solved"] for r in rows),
                         sum(r["result"]["steps_to_solve"] or CONFIG["steps"] for r in rows) / 2,
                         sum(math.inf if r["result"]["metrics"]["mse"] is None
                             else r["result"]["metrics"]["mse"] for r in rows) / 2)
                    for lr, rows in ((1e-3, rows_low), (1e-2, rows_high))}
        assert scores == recorded
        best = min(recorded.values())
        assert tuned["lr"] == next(lr for lr in (1e-3, 1e-2) if recorded[lr] == best)
        # the next rung runs at the chosen lr only, the tuning runs at it are the first rung
        wanted = ladder.runs(done)
        assert {s.config["lr"] for s in wanted if s.config["seq_len"] == 20} == {tuned["lr"]}
        result = ladder.outcome(done)
        assert result["lr"] == tuned["lr"] and result["lr_grid"] == [1e-3, 1e-2]
        chosen = rows_low if tuned["lr"] == 1e-3 else rows_high
        assert result["rungs"][0]["n_solved"] == sum(r["result"]["solved"] for r in chosen)
    assert ladder.outcome({})["rungs"][0]["status"] == "tuning"
    assert ladder.outcome({})["lr"] is None and not ladder.outcome({})["finished"]


def test_tuning_score_counts_an_unsolved_run_at_the_budget():
    ladder = Ladder("gru", "adding", (10,), (0, 1), CONFIG, lr_grid=(1e-3, 1e-2))
    a, b = ladder.spec(10, 0, 1e-3), ladder.spec(10, 1, 1e-3)
    got = tuning_score([row(a, True, 20), row(b, False, loss=0.1)], "adding", 50)
    assert got["score"] == [-1, 35, pytest.approx(0.135)]
    assert got["steps_to_solve"] == [20, None] and got["n_run"] == 2
    assert tuning_score([None, None], "adding", 50)["n_run"] == 0
    assert tuning_score([row(a, True, 20), None], "adding", 50)["score"] is None


def test_tuning_on_one_seed_then_the_others_at_the_chosen_lr():
    ladder = Ladder("gru", "adding", (10, 20), (0, 1, 2), CONFIG, lr_grid=(1e-3, 1e-2),
                    tune_seeds=(0,))
    assert len(ladder.runs({})) == 2 and ladder.max_runs() == 2 * 3 + 1
    done = done_of(row(ladder.spec(10, 0, 1e-3), False, loss=0.2),
                   row(ladder.spec(10, 0, 1e-2), False, loss=0.1))
    assert {(s.config["seed"], s.config["lr"]) for s in ladder.runs(done)} == \
        {(0, 1e-2), (1, 1e-2), (2, 1e-2)}


@pytest.mark.parametrize("kwargs, match", [
    ({"lr_grid": (1e-3, 1e-3)}, "lr_grid must be distinct positive"),
    ({"lr_grid": (1e-3, -1.0)}, "lr_grid must be distinct positive"),
    ({"lr_grid": (1e-3,), "config": {**CONFIG, "lr": 1e-2}}, "must not set lr"),
    ({"lr_grid": (1e-3,), "tune_seeds": (5,)}, "tune_seeds must be distinct seeds"),
])
def test_bad_grids_are_named(kwargs, match):
    args = {"model": "gru", "task": "adding", "seq_lens": (10,), "seeds": (0, 1),
            "config": CONFIG, **kwargs}
    with pytest.raises(ValueError, match=match):
        Ladder(**args)
    with pytest.raises(ValueError, match="lr must be given"):
        Ladder("gru", "adding", (10,), (0,), CONFIG, 1, lr_grid=(1e-3,)).spec(10, 0)


def test_an_interrupted_tuning_resumes_and_the_rows_rebuild_the_ladder(tmp_path, monkeypatch):
    ran = []

    def rule(config):  # gru solves at lr 1e-2 up to T = 20; at 1e-3 nothing
        ran.append((config["seq_len"], config["seed"], config["lr"]))
        ok = config["lr"] == 1e-2 and config["seq_len"] <= 20
        return {"solved": ok, "steps_to_solve": 5 if ok else None, "config": config,
                "metrics": {"mse": 0.0 if ok else 0.2}, "wall_time": 0.0,
                "task": {"baseline": 1 / 6}, "curve": [], "steps": 5}

    monkeypatch.setitem(sweep.RUNNERS, "train", rule)
    ladder = Ladder("gru", "adding", (10, 20, 40), (0, 1), CONFIG, lr_grid=(1e-3, 1e-2))
    path = str(tmp_path / "results.jsonl")
    run_sweep(Plan([], [ladder]), path, workers=1, progress=False)
    assert sorted(ran) == sorted([(10, s, lr) for s in (0, 1) for lr in (1e-3, 1e-2)]
                                 + [(t, s, 1e-2) for t in (20, 40) for s in (0, 1)])
    (again,) = ladders_from_rows(read_results(path))
    assert again == ladder
    (found,) = outcomes(read_results(path))
    assert (found["lr"], found["horizon"]) == (1e-2, 20)
    # cut the file back to one tuning run: the rerun makes the other three, then climbs again
    lines = open(path).read().splitlines()
    open(path, "w").write(lines[0] + "\n")
    first = json.loads(lines[0])["config"]
    ran.clear()
    run_sweep(Plan([], [ladder]), path, workers=1, progress=False)
    assert (first["seq_len"], first["seed"], first["lr"]) not in ran and len(ran) == 7


def test_the_horizon_preset_tunes_every_ladder_and_gives_copy_a_larger_budget():
    plan = presets.preset_plan("horizon")
    tasks = {x.task for x in plan.ladders}
    assert tasks == {"adding", "copy", "selective-copy", "mqar"}
    for ladder in plan.ladders:
        grid = presets.LR_GRIDS.get(ladder.task, presets.LR_GRIDS["recall"])
        assert tuple(ladder.lr_grid) == grid and len(grid) >= 3 and "lr" not in ladder.config
        assert ladder.config["steps"] == presets.HORIZON_BUDGETS[ladder.task]
        assert ladder.tune_seeds == (ladder.seeds if ladder.task == "adding" else (0,))
    # selective copy's and MQAR's grids reach past the recall grid's top (most models chose
    # 1e-2 there)
    for task in ("selective-copy", "mqar"):
        assert max(presets.LR_GRIDS[task]) > max(presets.LR_GRIDS["recall"])
    assert presets.HORIZON_BUDGETS["copy"] >= 5 * presets.HORIZON_BUDGETS["adding"]
    models = {x.model for x in plan.ladders if x.task == "copy"}
    assert {"slstm", "mlstm", "mingru", "minlstm"} <= models == set(horizon.HORIZON_MODELS)
    assert plan.max_runs() < len(plan.all_specs())
    sweep.check_specs(plan.all_specs())


def _solved_at_3e2(config):
    """A stand-in run: solved at lr 3e-2 only."""
    ok = config["lr"] == 3e-2
    return {"solved": ok, "steps_to_solve": 5 if ok else None, "config": config,
            "metrics": {"mse": 0.0 if ok else 0.2}, "wall_time": 0.0, "steps": 5,
            "task": {"baseline": 1 / 6}, "curve": [{"step": 5, "mse": 0.2}]}


def test_the_results_page_states_the_tuned_lr(tmp_path, monkeypatch):
    monkeypatch.setitem(sweep.RUNNERS, "train", _solved_at_3e2)
    plan = presets.preset_plan("horizon", tasks=["adding"], models=["gru"], seq_lens=[4],
                               seeds=[0])
    path = str(tmp_path / "results.jsonl")
    run_sweep(plan, path, workers=1, progress=False)
    text = results_doc.render(read_results(path))
    (line,) = [x for x in text.splitlines() if x.startswith("| gru | ")]
    assert "| 0.03 |" in line  # the chosen lr in its own column
    assert "lr tuned from 0.003, 0.01, 0.03" in text


def test_a_widened_grid_replaces_the_recorded_ladder_on_the_page(tmp_path, monkeypatch):
    """Runs recorded under a preset's old lr grid belong to the ladder of its widened grid (the
    same runs at the old values): the page has one row per model, under the plan's grid, and its
    status counts the plan's ladders, not both."""
    monkeypatch.setitem(sweep.RUNNERS, "train", _solved_at_3e2)
    narrow = {"adding": (3e-3, 1e-2)}
    monkeypatch.setattr(presets, "LR_GRIDS", {**presets.LR_GRIDS, **narrow})
    monkeypatch.setitem(presets.PRESETS["horizon"]["ladders"][0], "lr_grid", narrow["adding"])
    old = presets.preset_plan("horizon", tasks=["adding"], models=["gru"], seq_lens=[4],
                              seeds=[0])
    path = str(tmp_path / "results.jsonl")
    run_sweep(old, path, workers=1, progress=False)
    monkeypatch.setitem(presets.PRESETS["horizon"]["ladders"][0], "lr_grid",
                        (3e-3, 1e-2, 3e-2))
    wide = presets.preset_plan("horizon", tasks=["adding"], models=["gru"], seq_lens=[4],
                               seeds=[0])
    assert wide.ladders[0].lr_grid == (3e-3, 1e-2, 3e-2)
    run_sweep(wide, path, workers=1, progress=False)  # runs only 3e-2 (the others are done)
    rows = read_results(path)
    assert len(rows) == 3
    text = results_doc.render(rows, ladders=wide.ladders)
    assert len([x for x in text.splitlines() if x.startswith("| gru | ")]) == 1
    assert "Status: 1 of 1 ladders finished" in text
    assert "lr tuned from 0.003, 0.01, 0.03" in text and "lr tuned from 0.003, 0.01 on" not in text



def test_a_row_of_lstm_train_counts_as_the_sweeps_run():
    """`lstm train` checkpoints every 500 steps by default, a sweep's config leaves it unset:
    the same run either way (so the anchors' runs made with `lstm train` are not run again)."""
    spec = next(s for s in presets.preset_plan("horizon", tasks=["mqar"]).specs)
    assert "checkpoint_every" not in spec.config
    assert run_identity("train", {**spec.config, "checkpoint_every": 500}) == \
        run_identity("train", spec.config)
    assert run_identity("train", {**spec.config, "steps": 7}) != \
        run_identity("train", spec.config)
