"""The lstm command: help, train and gradflow print the promised JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lstm.cli import main


@pytest.mark.parametrize("command", ["train", "gradflow", "sweep", "report"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "--out" in text and "example: lstm " + command in text


@pytest.mark.parametrize("command", ["train", "gradflow", "sweep", "report"])
def test_every_option_is_explained(command):
    from lstm.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        assert action.help, f"lstm {command} {action.option_strings} has no help"


def test_gradflow_prints_one_line_per_model_and_step(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lstm", "gradflow", "--models", "rnn,lstm,gru", "--task",
         "adding", "--seq-len", "20", "--hidden-size", "8", "--batch-size", "4", "--steps",
         "0,3", "--seed", "0", "--out", str(tmp_path), "--quiet"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["model"], r["step"]) for r in rows] == [
        ("rnn", 0), ("rnn", 3), ("lstm", 0), ("lstm", 3), ("gru", 0), ("gru", 3)]
    for r in rows:
        assert {"model", "task", "seq_len", "hidden_size", "step", "per_step_factor"} <= set(r)
        assert r["seq_len"] == 20 and r["hidden_size"] == 8 and 0 < r["per_step_factor"] < 2
    saved = [json.loads(line) for line in (tmp_path / "gradflow.jsonl").read_text().splitlines()]
    assert len(saved) == 3
    assert all(len(rec["curve_h"]) == 20 for row in saved for rec in row["result"]["records"])


def test_train_prints_metrics_and_baseline(tmp_path, capsys):
    code = main(["train", "--task", "copy", "--model", "gru", "--seq-len", "5", "--hidden-size",
                 "8", "--batch-size", "4", "--steps", "4", "--eval-every", "2", "--test-size",
                 "16", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["model"] == "gru" and row["steps"] == 4
    assert row["baseline"] == pytest.approx(10 * 2.0794415416798357 / 25)
    assert 0 <= row["recall_accuracy"] <= 1
    assert (tmp_path / "results.jsonl").exists()


def test_bad_arguments_exit_nonzero(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--seq-len", "1", "--out", str(tmp_path), "--quiet"])
    assert exit_info.value.code == 2
    assert "argument --seq-len: expected an integer >= 2, got '1'" in capsys.readouterr().err
    assert main(["train", "--variant", "hochreiter1997", "--seq-len", "5", "--out",
                 str(tmp_path), "--quiet"]) == 2  # a check across fields: the config's
    assert "seq_len must be >= 22 for variant 'hochreiter1997', got 5 (option --seq-len)" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["gradflow", "--models", "lstm,transformer"])
    with pytest.raises(SystemExit):
        main(["sweep", "--tasks", "adding,parity"])
    assert "argument --tasks: expected one or more values, each one of ('adding', 'copy', " \
        "'selective-copy', 'mqar', 'gradflow'), comma-separated, got 'adding,parity'" in \
        capsys.readouterr().err


@pytest.mark.parametrize("value", ["abc", "0", "-2"])
def test_a_malformed_thread_count_is_one_line_and_exit_2(value, tmp_path):
    import os

    env = {**os.environ, "MINIGRAD_NUM_THREADS": value}
    out = subprocess.run(
        [sys.executable, "-m", "lstm", "train", "--model", "lstm", "--task", "adding",
         "--seq-len", "5", "--hidden-size", "4", "--batch-size", "2", "--steps", "1",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        f"lstm train: error: MINIGRAD_NUM_THREADS must be a positive integer, got {value!r}"]
