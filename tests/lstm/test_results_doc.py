"""docs/results.md's generator: the tables read the results file, the cost line adds it up."""

from __future__ import annotations

import json

from lstm.experiments.results_doc import main, render


def _train(model, seed, solved_at, mse, start_min, seconds, task="adding", seq_len=100):
    curve = [{"step": 100, "mse": 0.2}, {"step": 200, "mse": mse}]
    end_s = start_min * 60 + seconds
    return {"key": f"train:{task}-{model}-{seq_len}-{seed}", "kind": "train",
            "config": {"model": model, "seed": seed},
            "wall_time_s": seconds, "threads": 1,
            "finished_at": f"2026-11-22T04:{end_s // 60:02d}:{end_s % 60:02d}+0000",
            "versions": {"numpy": "2.x"},
            "result": {"config": {"task": task, "model": model, "seq_len": seq_len, "seed": seed,
                                  "lr": 0.01},
                       "metrics": {"mse": mse}, "curve": curve, "solved": solved_at is not None,
                       "steps_to_solve": solved_at, "wall_time": seconds, "steps": 200,
                       "task": {"baseline": 1 / 6}}}


def _rows():
    return [_train("gru", 0, 300, 0.004, 0, 20), _train("gru", 1, 500, 0.006, 0, 30),
            _train("gru", 2, None, 0.02, 1, 40), _train("rnn", 0, None, 0.17, 0, 100),
            {"key": "gradflow:rnn", "kind": "gradflow", "config": {}, "wall_time_s": 10,
             "threads": 1, "finished_at": "2026-11-22T04:03:00+0000", "versions": {},
             "result": {"records": [{"model": "rnn", "seq_len": 50, "step": 0,
                                     "per_step_factor": 0.612341, "fit_lags": 50,
                                     "log10_decades": 10.5}]}}]


def test_tables_count_solved_seeds_and_median_steps():
    text = render(_rows())
    gru = next(line for line in text.splitlines() if line.startswith("| gru | 100 |"))
    cells = [c.strip() for c in gru.strip("|").split("|")]
    assert cells[2] == "0,1,2" and cells[6] == "2/3" and cells[7] == "400"
    assert cells[4] == "0.01 ± 0.0087"  # final MSEs 0.004, 0.006, 0.02
    assert cells[8] == "30"  # mean wall time
    rnn = next(line for line in text.splitlines() if line.startswith("| rnn | 100 |"))
    assert "| 0/1 | - |" in rnn
    assert "| rnn | 50 | 0 | 0.61234 | 50 | - | 10.5 |" in text
    assert "_No copy runs in the results file._" in text


def test_cost_line_sums_runs_and_spans_first_start_to_last_end():
    text = render(_rows())
    # runs: 04:00:00-04:00:20, 04:00:00-04:00:30, 04:01:00-04:01:40, 04:00:00-04:01:40,
    # gradflow ending 04:03:00 after 10 s: elapsed 04:00:00 -> 04:03:00
    assert ("Cost: 5 runs, 200 s of run time summed, 1 thread(s) per run; 180 s elapsed from "
            "the first run's start to the last run's end (2026-11-22 04:00 to 04:03 UTC, one "
            "sitting).") in text


def test_notes_go_under_the_heading(tmp_path):
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    notes = tmp_path / "notes.md"
    notes.write_text("Status: a hand-written reading.\n")
    out = tmp_path / "results.md"
    assert main([str(results), str(out), "--notes", str(notes)]) == 0
    text = out.read_text()
    assert text.index("Status: a hand-written reading.") < text.index("Cost: 5 runs")
    assert text.index("Cost: 5 runs") < text.index("## Adding problem")
