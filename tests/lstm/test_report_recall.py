"""The report draws the recall tasks (selective copy, MQAR) beside adding and copy, and a tuned
ladder's chosen learning rate in the memory-horizon table (issue 21)."""

from __future__ import annotations

import os

from lstm.experiments.horizon import Ladder, Plan, outcomes
from lstm.experiments.sweep import RunSpec, read_results, run_sweep
from lstm.reporting import figures
from lstm.reporting.horizon_figure import horizon_section, ladder_rows

TINY = {"hidden_size": 6, "batch_size": 4, "steps": 10, "eval_every": 5, "test_size": 8,
        "optimizer": "adam", "n_symbols": 4, "n_copy": 2}


def test_recall_tasks_and_a_tuned_ladder_in_the_report(tmp_path):
    specs = [RunSpec("train", {**TINY, "lr": 1e-2, "task": task, "model": model,
                               "seq_len": 8, "seed": 0})
             for task in ("selective-copy", "mqar") for model in ("gru", "mingru")]
    ladder = Ladder("gru", "mqar", (6, 8), (0,), TINY, min_solved=1, lr_grid=(1e-3, 3e-2))
    path = str(tmp_path / "results.jsonl")
    run_sweep(Plan(specs, [ladder]), path, workers=1, progress=False)
    rows = read_results(path)
    plain = [r for r in rows if not r.get("ladder")]
    out = str(tmp_path / "figures")
    os.makedirs(out)

    curves = figures.training_curves(plain, out)
    assert os.path.getsize(os.path.join(out, curves.images[0])) > 0
    (table,) = curves.tables
    assert sorted((r[0], r[2]) for r in table.rows) == sorted(
        (t, figures.label(m)) for t in ("selective-copy", "mqar") for m in ("gru", "mingru"))
    recall = {(r[0], r[2]): r[7] for r in table.rows}
    for row in plain:
        c = row["config"]
        assert recall[(c["task"], figures.label(c["model"]))] == \
            row["result"]["metrics"]["recall_accuracy"]
    horizon = figures.memory_horizon(plain, out)
    assert {r[0] for r in horizon.tables[0].rows} == {"selective-copy", "mqar"}

    (found,) = outcomes(rows, [ladder])
    assert found["lr"] in (1e-3, 3e-2) and found["lr"] == min(
        found["tuning"], key=lambda t: t["score"])["lr"]
    section = horizon_section(rows, [found], out)
    (line,) = section.tables[0].rows
    assert line[0] == "mqar (n_pairs=2)" and line[2].startswith(f"{found['lr']:g} (tuned on T = 6")
    drawn = ladder_rows(rows, [found])
    assert drawn and {r["config"]["lr"] for r in drawn} == {found["lr"]}
    assert len([r for r in rows if r.get("ladder")]) > len(drawn)  # the other lr's tuning
