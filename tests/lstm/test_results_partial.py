"""docs/results.md from a partly-run tuned sweep (issue 21): a finished ladder's table, a ladder
still tuning or climbing said so, a ladder or task without runs "not run yet" (never an empty
table); and a regenerated page keeps the published tables whose results files are gone."""

from __future__ import annotations

import json

import pytest

from lstm.experiments import results_carry, results_doc
from lstm.experiments.horizon import Ladder, outcomes
from lstm.experiments.results_doc import render

CONFIG = {"hidden_size": 4, "batch_size": 4, "steps": 50, "eval_every": 5, "test_size": 8,
          "optimizer": "adam"}
GRID = (1e-3, 1e-2)


def _row(config: dict, solved_at=None, loss=0.17, seconds=2.0, **tags) -> dict:
    """A results row of a training run as run_sweep writes it."""
    task = config["task"]
    key = "mse" if task == "adding" else "cross_entropy"
    metrics = {key: loss, **({} if task == "adding" else {"recall_accuracy": 0.5})}
    return {"kind": "train", "config": config, "wall_time_s": seconds, "threads": 1,
            "finished_at": "2026-12-06T20:00:00+0000", "versions": {"numpy": "2.x"},
            "key": json.dumps(config, sort_keys=True), **tags,
            "result": {"config": {"init": "default", **config}, "metrics": metrics,
                       "curve": [{"step": 5, key: 0.2}, {"step": 10, key: loss}],
                       "solved": solved_at is not None, "steps_to_solve": solved_at,
                       "wall_time": seconds, "steps": solved_at or config["steps"],
                       "num_parameters": 1234, "task": {"baseline": 1 / 6}}}


def _ladder(model, task="adding"):
    return Ladder(model, task, (10, 20), (0, 1), CONFIG, min_solved=2, max_failures=1,
                  lr_grid=GRID, tune_seeds=(0,))


def _run(ladder, seq_len, seed, lr, solved_at=None, loss=0.17):
    spec = ladder.spec(seq_len, seed, lr)
    return _row(spec.config, solved_at, loss, **spec.tags)


def _partial_sweep():
    """gru: finished (tuned to 1e-2, solves T 10, fails T 20); lstm: tuning (one of its two
    tuning runs finished); janet: climbing (T 10 solved, one seed of T 20 finished); rnn: no
    run; copy: no run of any ladder."""
    gru, lstm, janet, rnn = (_ladder(m) for m in ("gru", "lstm", "janet", "rnn"))
    rows = [_run(gru, 10, 0, 1e-3, loss=0.15), _run(gru, 10, 0, 1e-2, 30),
            _run(gru, 10, 1, 1e-2, 40), _run(gru, 20, 0, 1e-2, loss=0.16),
            _run(gru, 20, 1, 1e-2, loss=0.18),
            _run(lstm, 10, 0, 1e-3, loss=0.2),
            _run(janet, 10, 0, 1e-3, loss=0.1), _run(janet, 10, 0, 1e-2, 20),
            _run(janet, 10, 1, 1e-2, 25), _run(janet, 20, 0, 1e-2, 45)]
    return rows, [gru, lstm, janet, rnn, _ladder("gru", "copy"), _ladder("lstm", "copy")]


def _cells(text: str, model: str, after: str) -> list[str]:
    start = text.index(after)
    line = next(x for x in text[start:].splitlines() if x.startswith(f"| {model} |"))
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _section(text: str, heading_start: str) -> str:
    start = text.index(heading_start)
    ends = [i for i in (text.find("\n### ", start + 1), text.find("\n## ", start + 1)) if i > 0]
    return text[start:min(ends, default=len(text))]


def test_a_partly_run_tuned_sweep_reads_as_partly_run():
    rows, ladders = _partial_sweep()
    text = render(rows, ladders=ladders)
    adding = _section(text, "### adding: ladder T = 10, 20")
    assert "lr tuned from 0.001, 0.01 on T = 10 (seed 0" in adding
    assert "stops after 1 failed rung(s) in a row" in adding
    assert ("Status: 1 of 4 ladders finished, 1 climbing, 1 tuning the lr, 1 not run yet; "
            "10 runs finished, 20 s of run time summed.") in adding
    gru = _cells(adding, "gru", "| model |")
    assert gru[:4] == ["gru", "0.01", "10", "10 / 10 / 10"]
    assert gru[4] == "solved 2/2, steps 30/40, 4 s"
    assert gru[5] == "failed 0/2, final mse 0.16-0.18, 4 s"
    assert gru[6] == "10"  # every run of the ladder, the tuning's at 1e-3 included
    assert gru[7] == "0.001: 0/1, mse 0.15; 0.01: 1/1, mse 0.17"
    lstm = _cells(adding, "lstm", "| model |")
    assert lstm[1:4] == ["tuning", "not decided yet", "-"]
    assert lstm[4] == "tuning, 1 of 2 runs" and lstm[5] == "-"  # T 20 not reached: no "skipped"
    assert lstm[6] == "2"
    assert lstm[7] == "0.001: 0/1, mse 0.2; 0.01: 0/0 (0 of 1 runs finished)"
    janet = _cells(adding, "janet", "| model |")
    assert janet[1:4] == ["0.01", ">= 10 so far", "-"]
    assert janet[5].startswith("running, 1 of 2 seeds finished, 1 solved, steps 45")
    assert "| rnn |" not in adding and "Not run yet: rnn." in adding
    copy = _section(text, "### copy: ladder T = 10, 20")
    assert "**Not run yet**: none of the 2 ladders of copy (gru, lstm) has a finished run" in copy
    assert "| model |" not in copy  # no empty table


def test_a_finished_ladder_with_nothing_solved_says_none():
    ladder = _ladder("rnn")
    rows = [_run(ladder, 10, 0, 1e-3), _run(ladder, 10, 0, 1e-2, loss=None),  # diverged
            _run(ladder, 10, 1, 1e-3, loss=None)]
    text = render(rows, ladders=[ladder])
    cells = _cells(text, "rnn", "| model |")
    assert cells[1:4] == ["0.001", "none", "0 / 0 / 0"] and cells[5] == "skipped"
    assert cells[4] == "failed 0/2, final mse 0.17-0.17, 1 diverged, 4 s"
    assert cells[7] == "0.001: 0/1, mse 0.17; 0.01: 0/1, 1 diverged"
    assert "Status: 1 of 1 ladders finished, 0 climbing, 0 tuning the lr, 0 not run yet" in text


def test_the_preset_option_lists_the_horizon_ladders_not_run(tmp_path):
    results = tmp_path / "results.jsonl"
    plain = {"task": "adding", "model": "gru", "seq_len": 100, "seed": 0, "lr": 0.01, **CONFIG}
    results.write_text(json.dumps(_row(plain, 300, 0.004)) + "\n")
    out = tmp_path / "results.md"
    assert results_doc.main([str(results), str(out), "--preset", "horizon"]) == 0
    text = out.read_text()
    for task in ("adding", "copy", "selective-copy", "mqar"):
        assert f"### {task}: ladder T = " in text
    assert text.count("**Not run yet**") == 4
    with pytest.raises(SystemExit):
        results_doc.main([str(results), str(out), "--preset", "nope"])


def _old_page() -> str:
    """A page of the earlier kind: the default sweep's table, an untuned ladder, two anchors."""
    plain = {"task": "adding", "model": "gru", "seq_len": 100, "seed": 0, "lr": 0.01, **CONFIG}
    untuned = Ladder("gru", "adding", (10, 20), (0,), {**CONFIG, "lr": 0.01}, min_solved=1)
    anchor = {**plain, "seq_len": 750, "hidden_size": 128}
    rows = [_row(plain, 300, 0.004),
            *(_row(s.config, 20, 0.003, **s.tags) for s in untuned.all_specs()),
            _row({**anchor, "model": "lstm-chrono"}, 800, 0.0035, 125, anchor="adding-750"),
            _row({**anchor, "model": "janet"}, None, 0.28, 104, anchor="adding-750"),
            _row({**anchor, "task": "copy", "seq_len": 100, "model": "mingru", "lr": 3e-3},
                 None, 0.14, 203, anchor="successors-copy-100")]
    return render(rows, notes="Status: the reading of 12-03.")


def test_a_regenerated_page_keeps_every_published_table(tmp_path):
    old = _old_page()
    previous = results_carry.parse(old)
    rows, ladders = _partial_sweep()
    anchor = {"task": "copy", "model": "slstm", "seq_len": 100, "seed": 0, "lr": 3e-3,
              **CONFIG, "hidden_size": 128}
    new_rows = [*rows, _row(anchor, None, 0.12, 900, anchor="successors-copy-100"),
                _row({**anchor, "task": "adding", "seq_len": 750, "model": "janet",
                      "lr": 0.01}, None, 0.28, 300, anchor="adding-750")]  # the same run
    text = render(new_rows, previous=previous, ladders=ladders)
    assert text.index("Status: the reading of 12-03.") < text.index("Cost: 12 runs")
    assert "Earlier runs, whose tables are carried from the previous page: 6 runs" in text
    assert _section(old, results_doc.ADDING) == _section(text, results_doc.ADDING)
    untuned = _section(old, "### adding: ladder T = 10, 20; budget 50 steps per run, H = 4, "
                            "adam, lr 0.01")
    assert untuned in text
    assert text.index("## Memory horizon, each model's lr tuned") < \
        text.index("## Memory horizon without lr tuning") < text.index(untuned)
    copy = _section(text, "### the new cells on copy at T = 100")
    assert [c.split("|")[1].strip() for c in copy.splitlines() if c.startswith("| m")] == \
        ["model", "mingru"] and "| slstm | 100 | 0 |" in copy
    adding = _section(text, "### adding at T = 750")
    assert adding.count("| janet | 750 | 0 |") == 1 and "| 104 |" in adding  # the published
    assert adding.index("| janet |") < adding.index("| lstm-chrono |")
    # regenerating again from the regenerated page changes nothing
    assert render(new_rows, previous=results_carry.parse(text), ladders=ladders) == text
    page = tmp_path / "results.md"
    page.write_text(text)
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in new_rows))
    assert results_doc.main([str(results), str(page), "--previous", str(page)]) == 0
    assert page.read_text() == render(new_rows, previous=results_carry.parse(text))


def test_the_report_reads_a_partly_run_sweep_the_same_way(tmp_path):
    from lstm.reporting.figures import label
    from lstm.reporting.horizon_figure import horizon_section

    rows, ladders = _partial_sweep()
    section = horizon_section(rows, outcomes(rows, ladders), str(tmp_path))
    table = {(r[0], r[1]): r for r in section.tables[0].rows}
    assert set(table) == {("adding", label(m)) for m in ("gru", "lstm", "janet")}
    assert table["adding", label("gru")][3:5] == [10, "10-10 (median 10)"]
    assert table["adding", label("lstm")][3:5] == ["not decided yet", "-"]
    assert table["adding", label("lstm")][2].startswith("tuning (tuned on T = 10")
    assert table["adding", label("janet")][3:5] == [">= 10 so far", "-"]
    assert f"{label('lstm')} on adding: not decided yet" in section.caption
    assert f"{label('gru')} on adding: T = 10" in section.caption
    assert (f"Not run yet on adding: {label('rnn')}. Not run yet on copy: {label('gru')}, "
            f"{label('lstm')}.") in section.caption
    for image in section.images:
        assert (tmp_path / image).stat().st_size > 0


def test_an_anchor_renamed_since_keeps_its_published_rows():
    former = results_doc.FORMER_HEADINGS["adding-750"][0]
    published = ("| janet | 750 | 0 | 33,921 (H 128) | adam 0.01, 32, default | 1,500 | 1,500 | "
                 "0.2765 |")
    page = f"# Results\n\n## Published anchors reproduced\n\n### {former}\n\n" + "\n".join(
        [*results_doc.ANCHOR_HEADER, published]) + "\n"
    anchor = {"task": "adding", "model": "mingru", "seq_len": 750, "seed": 0, "lr": 0.01,
              **CONFIG, "hidden_size": 128}
    text = render([_row(anchor, None, 0.03, anchor="adding-750")],
                  previous=results_carry.parse(page))
    table = _section(text, "### " + results_doc.ANCHORS["adding-750"][0])
    assert published in table and "| mingru | 750 | 0 |" in table
    assert former not in text
