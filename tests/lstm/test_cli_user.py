"""The lstm command as a demanding user meets it (session 12): what a run that goes wrong says,
the options every command shares, and resuming on purpose. Each test is one defect's regression
test: it failed on the code before its fix."""

from __future__ import annotations

import json

from lstm.cli import main

# a tiny adding run: a few steps of a 4-unit model on 5-step sequences
TINY = ["--task", "adding", "--seq-len", "5", "--hidden-size", "4", "--batch-size", "2",
        "--eval-every", "5", "--test-size", "8", "--quiet"]
# plain SGD at an absurd learning rate, unclipped: the loss is NaN within a few steps
DIVERGING = ["--model", "irnn", "--optimizer", "sgd", "--lr", "1e30", "--clip", "none",
             "--steps", "5"]


def test_a_diverged_train_run_says_what_to_do_and_exits_1(tmp_path, capsys):
    # before: exit 0, nothing on stderr but numpy's overflow warnings, the NaN visible only as
    # null metrics in the JSON line
    assert main(["train", *TINY, *DIVERGING, "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["stopped"] == "diverged"
    assert "the loss became NaN or infinite by step" in captured.err
    assert "--lr 1e+30 is too large for --model irnn with --optimizer sgd; try a smaller --lr " \
           "(e.g. 1e+29), or clip the gradients (--clip norm, the default)" in captured.err
    assert "RuntimeWarning" not in captured.err and "overflow" not in captured.err
    # the row is kept (a sweep reads a diverged run as its learning rate's result); the same
    # command again prints it and says the same
    assert main(["train", *TINY, *DIVERGING, "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "this run has finished" in captured.err and "--lr 1e+30 is too large" in captured.err
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 1
