"""The memory-horizon ladders: which rungs run, when a ladder stops, the horizon and the seeds'
spread, resuming from a results file, the presets that use them, and Arjovsky's Glorot init."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lstm.experiments import horizon, presets, sweep
from lstm.experiments.horizon import LADDERS, Ladder, Plan, ladders_from_rows, outcomes
from lstm.experiments.sweep import read_results, run_identity, run_sweep
from lstm.models import build_model
from lstm.runs.config import TrainConfig
from lstm.runs.train import Trainer
from lstm.tasks import get_task

CONFIG = {"hidden_size": 4, "batch_size": 4, "steps": 7, "eval_every": 5, "test_size": 8,
          "optimizer": "adam", "lr": 1e-2}


def fake_row(spec, solved: bool, steps: int | None = None) -> dict:
    return {"kind": "train", "config": spec.config, "wall_time_s": 1.5,
            "result": {"solved": solved, "steps_to_solve": steps if solved else None,
                       "config": spec.config, "metrics": {"mse": 0.001 if solved else 0.17},
                       "wall_time": 1.5}}


def decide(ladder: Ladder, outcomes_by_len: dict[int, list[bool]]) -> dict:
    """done rows: at seq_len T, seed i solved iff outcomes_by_len[T][i]."""
    done = {}
    for seq_len, solved in outcomes_by_len.items():
        for seed, ok in zip(ladder.seeds, solved):
            spec = ladder.spec(seq_len, seed)
            done[run_identity(spec.kind, spec.config)] = fake_row(spec, ok, 100 * seq_len)
    return done


def test_rungs_advance_stop_after_two_failures_and_give_the_horizon():
    ladder = Ladder("gru", "adding", (10, 20, 40, 80, 160), (0, 1, 2), CONFIG)
    assert {s.config["seq_len"] for s in ladder.runs({})} == {10}  # only the first rung
    done = decide(ladder, {10: [True, True, False]})
    assert {s.config["seq_len"] for s in ladder.runs(done)} == {10, 20}
    # 20 solved on 2/3, 40 failed (1/3), 80 solved again (resets), 160 failed: horizon 80
    done = decide(ladder, {10: [True, True, False], 20: [False, True, True],
                           40: [True, False, False], 80: [True, True, True],
                           160: [False, False, True]})
    result = ladder.outcome(done)
    assert [r["status"] for r in result["rungs"]] == ["solved", "solved", "failed", "solved",
                                                      "failed"]
    assert result["horizon"] == 80 and result["finished"]
    assert result["seed_horizons"] == {0: 80, 1: 80, 2: 160}
    assert result["rungs"][0]["steps_to_solve"] == [1000, 1000, None]
    assert horizon.spread(result) == (80, 80, 160)


def test_two_failed_rungs_in_a_row_skip_the_rest():
    ladder = Ladder("rnn", "adding", (10, 20, 40, 80), (0, 1, 2), CONFIG)
    done = decide(ladder, {10: [False, True, False], 20: [False, False, False]})
    result = ladder.outcome(done)
    assert [r["status"] for r in result["rungs"]] == ["failed", "failed", "skipped", "skipped"]
    assert result["horizon"] is None and result["finished"]
    assert result["seed_horizons"] == {0: None, 1: 10, 2: None}
    assert horizon.spread(result) == (0, 0, 10)
    assert {s.config["seq_len"] for s in ladder.runs(done)} == {10, 20}
    # with max_failures=1 the first failed rung ends it; min_solved=1 counts one seed enough
    assert [r["status"] for r in Ladder("rnn", "adding", (10, 20, 40), (0, 1, 2), CONFIG,
                                        max_failures=1).outcome(done)["rungs"]] == \
        ["failed", "skipped", "skipped"]
    lenient = Ladder("rnn", "adding", (10, 20, 40, 80), (0, 1, 2), CONFIG, min_solved=1)
    assert lenient.outcome(done)["horizon"] == 10


def test_a_rung_with_a_seed_unfinished_is_running():
    ladder = Ladder("gru", "copy", (10, 20), (0, 1, 2), CONFIG)
    done = decide(ladder, {10: [True, True]})  # seed 2 not finished
    result = ladder.outcome(done)
    assert [r["status"] for r in result["rungs"]] == ["running", "skipped"]
    assert not result["finished"] and result["rungs"][0]["n_run"] == 2


@pytest.mark.parametrize("kwargs, match", [
    ({"seq_lens": (20, 10)}, "increasing"), ({"seq_lens": ()}, "increasing"),
    ({"seeds": (0, 0)}, "distinct"), ({"min_solved": 4}, "min_solved"),
    ({"max_failures": 0}, "max_failures"), ({"config": {"seq_len": 5}}, "must not set"),
])
def test_bad_ladders_are_named(kwargs, match):
    args = {"model": "gru", "task": "adding", "seq_lens": (10, 20), "seeds": (0, 1, 2),
            "config": CONFIG, **kwargs}
    with pytest.raises(ValueError, match=match):
        Ladder(**args)


def test_the_sweep_climbs_ladders_and_a_rerun_resumes(tmp_path, monkeypatch):
    """Ladders through run_sweep: the runner is replaced by a rule (gru solves T <= 20, rnn
    nothing), so exactly the rungs the rules decide are run, a rerun runs nothing, and an
    interrupted file resumes at the rung it reached."""
    ran = []

    def rule(config):
        ran.append((config["model"], config["seq_len"], config["seed"]))
        ok = config["model"] == "gru" and config["seq_len"] <= 20
        return {"solved": ok, "steps_to_solve": 5 if ok else None, "config": config,
                "metrics": {"mse": 0.0 if ok else 0.2}, "wall_time": 0.0,
                "task": {"baseline": 1 / 6}, "curve": [], "steps": 5}

    monkeypatch.setitem(sweep.RUNNERS, "train", rule)
    ladders = [Ladder(m, "adding", (10, 20, 40, 80, 160), (0, 1, 2), CONFIG)
               for m in ("gru", "rnn")]
    path = str(tmp_path / "results.jsonl")
    rows = run_sweep(Plan([], ladders), path, workers=1, progress=False)
    assert sorted({(m, t) for m, t, _ in ran}) == [("gru", 10), ("gru", 20), ("gru", 40),
                                                    ("gru", 80), ("rnn", 10), ("rnn", 20)]
    assert len(ran) == len(rows) == 18 == len(read_results(path))
    assert all(r["ladder"]["model"] in ("gru", "rnn") for r in rows)  # tagged for the report
    found = outcomes(read_results(path))  # rebuilt from the file alone
    assert {(o["model"], o["horizon"]) for o in found} == {("gru", 20), ("rnn", None)}
    ran.clear()
    run_sweep(Plan([], ladders), path, workers=1, progress=False)
    assert ran == []
    # cut the file back to the first rung only: the rerun continues at the second rung
    lines = open(path).read().splitlines()
    first = [line for line in lines if json.loads(line)["config"]["seq_len"] == 10]
    open(path, "w").write("\n".join(first) + "\n")
    run_sweep(Plan([], ladders), path, workers=1, progress=False)
    assert sorted({(m, t) for m, t, _ in ran}) == [("gru", 20), ("gru", 40), ("gru", 80),
                                                    ("rnn", 20)]


def test_ladders_from_rows_rebuild_the_ladder():
    ladder = Ladder("gru", "adding", (10, 20), (0, 1), CONFIG, min_solved=1, max_failures=3)
    row = {"kind": "train", "config": ladder.spec(10, 0).config,
           "ladder": horizon.describe(ladder)}
    (again,) = ladders_from_rows([row, row])
    assert again == ladder


def test_the_horizon_preset_is_the_issues_experiment():
    plan = presets.preset_plan("horizon")
    ladders = {(x.task, x.model): x for x in plan.ladders}
    assert set(ladders) == {(t, m) for t in ("adding", "copy") for m in horizon.HORIZON_MODELS} \
        | {(t, m) for t in ("selective-copy", "mqar") for m in horizon.RECALL_MODELS}
    for (task, _), ladder in ladders.items():
        assert ladder.seq_lens == LADDERS[task] and len(ladder.seeds) == 3
        assert ladder.min_solved == 2 and ladder.max_failures == (2 if task == "adding" else 1)
    assert (LADDERS["adding"], LADDERS["copy"]) == ((100, 200, 400, 750, 1000),
                                                    (100, 200, 500, 1000, 2000))
    anchors = {}
    for spec in plan.specs:
        if spec.kind == "train":
            anchors.setdefault(spec.tags["anchor"], []).append(spec.config)
    arjovsky = sorted(anchors["arjovsky-recipe"], key=lambda c: c["seq_len"])
    assert [(c["seq_len"], c["steps"]) for c in arjovsky] == [(100, 30000), (200, 30000),
                                                              (750, 4000)]
    for config in arjovsky:
        full = TrainConfig.from_dict(config)
        assert (full.optimizer, full.lr, full.alpha, full.batch_size, full.clip,
                full.clip_value, full.init, full.model, full.hidden_size) == \
            ("rmsprop", 1e-3, 0.9, 20, "norm", 1.0, "glorot", "lstm-fb1", 128)
    bai = {c["model"]: c for c in anchors["bai-adding-600"]}
    params = {m: build_model(m, get_task("adding", 600), c["hidden_size"]).num_parameters()
              for m, c in bai.items()}
    assert all(65_000 <= p <= 72_000 for p in params.values()), params  # Bai: about 70K
    bai = {c["model"]: c for c in anchors["bai-copy-1000"]}
    params = {m: build_model(m, get_task("copy", 1000), c["hidden_size"]).num_parameters()
              for m, c in bai.items()}
    assert all(15_000 <= p <= 17_000 for p in params.values()), params  # Bai: about 16K
    assert {c["seq_len"] for c in anchors["chrono-copy"]} == {500, 2000}
    sweep.check_specs(plan.all_specs())


def test_preset_overrides_narrow_ladders_and_anchors():
    plan = presets.preset_plan("horizon", tasks=["adding"], models=["gru"], seq_lens=[300, 100],
                               seeds=[0], steps=50)
    (ladder,) = plan.ladders
    assert (ladder.seq_lens, ladder.seeds, ladder.min_solved, ladder.config["steps"]) == \
        ((100, 300), (0,), 1, 50)
    assert not [s for s in plan.specs if s.kind == "train"]  # gru's anchor is at T = 600
    plan = presets.preset_plan("horizon", tasks=["adding"], models=["gru", "lstm-fb1"],
                               seq_lens=[600, 750])
    anchors = sorted((s.tags["anchor"], s.config["model"], s.config["seq_len"])
                     for s in plan.specs if s.kind == "train")
    assert anchors == [("adding-750", "lstm-fb1", 750), ("arjovsky-recipe", "lstm-fb1", 750),
                       ("bai-adding-600", "gru", 600)]
    grid = presets.preset_plan("default", tasks=["copy"], models=["gru"], seq_lens=[7, 9])
    assert sorted(s.config["seq_len"] for s in grid.specs if s.kind == "train") == [7] * 3 + [9] * 3


def test_glorot_init_is_arjovskys():
    config = TrainConfig(task="adding", model="lstm-fb1", seq_len=10, hidden_size=64,
                         init="glorot", steps=1)
    model = Trainer(config).model
    layer = model.recurrent
    w_hh = layer.weight_hh_l0.numpy()
    w_ih = layer.weight_ih_l0.numpy()
    for block in range(4):  # each gate's (H, H) and (H, 2) block: U(+-sqrt(6/(fan_in+out)))
        hh = w_hh[64 * block:64 * (block + 1)]
        ih = w_ih[64 * block:64 * (block + 1)]
        assert np.abs(hh).max() <= np.sqrt(6 / 128) and np.abs(hh).max() > 0.9 * np.sqrt(6 / 128)
        assert np.abs(ih).max() <= np.sqrt(6 / 66)
        assert abs(hh.std() - np.sqrt(6 / 128) / np.sqrt(3)) < 0.01
    b_ih, b_hh = layer.bias_ih_l0.numpy(), layer.bias_hh_l0.numpy()
    assert np.all(b_ih[64:128] == 1) and np.all(np.delete(b_ih, np.s_[64:128]) == 0)
    assert np.all(b_hh == 0) and np.all(model.readout.bias.numpy() == 0)
    default = Trainer(config.replace(init="default")).model.recurrent.weight_hh_l0.numpy()
    assert np.abs(default).max() <= 1 / 8 + 1e-7  # torch's U(+-1/sqrt(H)), not Glorot
    with pytest.raises(ValueError, match="init 'glorot' is defined for models"):
        TrainConfig(model="janet", init="glorot")
    with pytest.raises(ValueError, match="init must be one of"):
        TrainConfig(init="he")


def sweep_lines(tmp_path, *args: str) -> list[dict]:
    """The JSON lines `lstm sweep ARGS --workers 1 --out TMP --quiet` prints (it must succeed)."""
    done = subprocess.run([sys.executable, "-m", "lstm", "sweep", *args, "--workers", "1",
                           "--out", str(tmp_path), "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_lstm_sweep_prints_each_ladders_horizon(tmp_path):
    lines = sweep_lines(tmp_path, "--preset", "quick", "--tasks", "adding", "--models",
                        "gru,rnn", "--seq-lens", "4,6,8", "--seeds", "0,1", "--steps", "120")
    summary = {line["model"]: line for line in lines if line["kind"] == "horizon"}
    assert set(summary) == {"gru", "rnn"}
    rows = read_results(str(tmp_path / "results.jsonl"))
    for model, line in summary.items():
        mine = [r for r in rows if r["config"]["model"] == model]
        solved = {r["config"]["seq_len"] for r in mine if r["result"]["solved"]}
        # the printed horizon agrees with the rows written: both seeds solved it
        both = [t for t in (4, 6, 8) if sum(r["result"]["solved"] for r in mine
                                             if r["config"]["seq_len"] == t) == 2]
        assert line["horizon"] == (max(both) if both else None), (line, solved)
        assert len(line["rungs"]) == 3


def test_lstm_sweep_prints_the_tuned_lr_of_each_ladder(tmp_path):
    """The printed horizon line of a tuned ladder: its chosen lr and every value's tuning, read
    from the whole results file (the runs at the lrs not chosen are no longer wanted)."""
    (line,) = [x for x in sweep_lines(tmp_path, "--preset", "horizon", "--tasks", "mqar",
                                      "--models", "mingru", "--seq-lens", "24,30", "--seeds",
                                      "0", "--steps", "10") if x["kind"] == "horizon"]
    rows = read_results(str(tmp_path / "results.jsonl"))
    grid = presets.LR_GRIDS["mqar"]
    assert len(rows) == len(grid) and {r["config"]["lr"] for r in rows} == set(line["lr_grid"])
    assert set(line["lr_grid"]) == set(grid)
    assert [t["n_run"] for t in line["tuning"]] == [1] * len(grid) and line["finished"]
    best = min(rows, key=lambda r: r["result"]["metrics"]["cross_entropy"])  # none solved
    assert line["lr"] == best["config"]["lr"]

def test_results_doc_shows_the_horizon_table_and_the_anchors(tmp_path):
    """A small horizon sweep (ladders and Bai's adding anchor, shrunk) rendered into the
    results page: each ladder's row carries the horizon and rung statuses the rows give, each
    anchor run sits beside its published figure."""
    from lstm.experiments import results_doc

    plan = presets.preset_plan("horizon", tasks=["adding"], models=["gru", "rnn"],
                               seq_lens=[4, 6], seeds=[0, 1], steps=120)
    assert not [s for s in plan.specs if s.kind == "train"]  # no anchor at T = 4 or 6
    bai = [s for s in presets.preset_plan("horizon", tasks=["adding"], models=["gru", "rnn"],
                                          seeds=[0, 1]).specs if s.kind == "train"]
    assert {s.tags["anchor"] for s in bai} == {"bai-adding-600"}
    plan.specs = [sweep.RunSpec("train", {**s.config, "seq_len": 4 + 2 * (s.config["model"] ==
                                                                          "rnn"), "steps": 30},
                                s.tags) for s in bai]  # shrunk: T 4 (gru) and 6 (rnn)
    path = str(tmp_path / "results.jsonl")
    rows = run_sweep(plan, path, workers=1, progress=False)
    assert {r["anchor"] for r in rows if r.get("anchor")} == {"bai-adding-600"}
    out = tmp_path / "results.md"
    assert results_doc.main([path, str(out)]) == 0
    text = out.read_text()
    assert "## Memory horizon" in text and "## Published anchors reproduced" in text
    section = text.split("## Memory horizon")[1].split("## Published anchors")[0]
    for outcome in outcomes(read_results(path)):
        (line,) = [x for x in section.splitlines() if x.startswith(f"| {outcome['model']} | ")]
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[1] == f"{outcome['lr']:g}"  # the tuned lr
        assert cells[2] == str(outcome["horizon"] or "none")
        for rung, cell in zip(outcome["rungs"], cells[4:]):
            assert cell.startswith(rung["status"])
    assert "LSTM 0.164 / GRU 5.3e-5 / RNN 0.177" in text
    anchors = [x for x in text.splitlines() if x.startswith(("| gru | 4 |", "| rnn | 6 |"))]
    assert len(anchors) == 4  # two seeds each


def test_the_readme_states_the_default_presets_run_count():
    """README's command list says how many runs `lstm sweep --preset default` makes (so does
    `lstm sweep --help`, counted from the preset): the two must agree."""
    import pathlib

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    count = presets.preset_plan("default").max_runs()
    assert f"docs/results.md's tables: {count} runs" in readme
