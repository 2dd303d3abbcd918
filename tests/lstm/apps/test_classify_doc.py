"""The docs table from a results file: means, spreads and the baselines, computed right."""

from __future__ import annotations

import json

import pytest

from lstm.apps.classify import doc as classify_doc
from lstm.apps.classify.train import ClassifyConfig
from lstm.runs.keys import run_key

LABELS = [0, 0, 1, 1, 2]


def _row(pooling, seed, accuracy, predicted=(0, 0, 1, 1, 2)):
    config = ClassifyConfig(pooling=pooling, seed=seed).to_dict()
    return {"key": run_key("classify", config), "kind": "classify", "config": config,
            "result": {"accuracy": accuracy, "train_accuracy": 1.0, "epoch_time": 0.5,
                       "dtw_accuracy": 0.9595, "dtw_mode": "dependent", "dtw_window": None,
                       "predicted": list(predicted), "labels": LABELS,
                       "class_names": ["a", "b", "c"]}}


def test_table_from_a_results_file(tmp_path, capsys):
    path = tmp_path / "results.jsonl"
    rows = [_row("attention", 0, 0.97, [0, 1, 1, 1, 0]), _row("attention", 1, 0.99,
                                                              [0, 1, 1, 1, 2]),
            _row("mean", 0, 0.95, [2, 1, 1, 1, 2])]
    other = {"kind": "train", "config": {}, "result": {}}
    dtw = {"kind": "classify_dtw", "config": {}, "result": {
        "dtw_accuracy": 0.9622, "dtw_mode": "independent", "dtw_window": 3,
        "dtw_predicted": [0, 1, 0, 1, 0]}}
    path.write_text("\n".join(json.dumps(r) for r in [other, *rows, dtw]) + "\n{torn")
    assert classify_doc.main([str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    attention = next(line for line in lines if "attention pooling" in line)
    assert "| 0,1 |" in attention and "0.9800 ± 0.0100" in attention
    assert "0.9700-0.9900" in attention and "| 0.500 |" in attention
    assert "0.9500 ± 0.0000" in next(line for line in lines if "mean pooling" in line)
    assert sum("1-NN DTW (dependent, no band)" in line and "0.9595" in line
               for line in lines) == 1
    assert any("1-NN DTW (independent, band 3)" in line and "0.9622" in line for line in lines)
    errors = next(line for line in lines if line.startswith("Errors"))
    assert "1 to 2 of 5 test utterances per run" in errors
    assert "wrong in all 3 runs: #1 (speaker a)." in errors
    assert "gets 3 wrong; each run shares 1 to 2 of them" in errors
    assert any("FCN (published)" in line and "0.993 ± 0.002" in line for line in lines)


def test_early_stopped_runs_get_their_own_line_and_best_epochs():
    rows = [_row("last", 0, 0.97), _row("last", 1, 0.98)]
    for row, epoch in zip(rows, (12, 30)):
        row["config"]["val_fraction"] = 0.2
        row["result"]["best_epoch"] = epoch
    table = classify_doc.markdown_table(rows + [_row("last", 0, 0.9)])
    assert sum("BiLSTM + last pooling" in line for line in table.splitlines()) == 2
    assert "val_fraction=0.2 | 0,1 | 0.9750 ± 0.0050" in table
    assert "best validation epochs 12, 30." in table


def test_no_rows_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("")
    assert classify_doc.main([str(tmp_path / "empty.jsonl")]) == 2
    assert "no classify rows" in capsys.readouterr().err
    with pytest.raises(ValueError):
        classify_doc.markdown_table([])
