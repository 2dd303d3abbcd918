"""bench/train_step.py: lstm train's step through the trainer, eager and compiled (the command
python -m bench.train_step re-measures docs/performance.md's figures)."""

from __future__ import annotations

import pytest

pytest.importorskip("lstm")


@pytest.mark.parametrize("compiled", [False, True])
def test_each_mode_runs_the_trainers_step(compiled):
    from bench.train_step import child

    row = child("gru", compiled, steps=2, warmup=1, hidden=4, seq_len=6, batch=4)
    assert row["compiled"] is compiled and row["still_compiled"] is compiled
    assert {"median_ms", "min_ms", "first_call_s", "threads"} <= set(row)


def test_the_command_prints_a_summary_line(capsys):
    from bench.train_step import main

    assert main(["--model", "gru", "--steps", "2", "--warmup", "1", "--repeats", "1",
                 "--hidden-size", "4", "--seq-len", "6", "--batch-size", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and '"summary": "gru (fused) adding H4 T6 B4"' in lines[-1]


def test_threads_pins_every_process(capsys):
    """--threads 1: each process's fused recurrences run on one thread (the row says so); a
    count below 1 is refused naming the option."""
    import json

    from bench.train_step import main

    assert main(["--model", "gru", "--steps", "2", "--warmup", "1", "--repeats", "1",
                 "--hidden-size", "4", "--seq-len", "6", "--batch-size", "4",
                 "--threads", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["threads"] for r in rows[:2]] == [1, 1]
    with pytest.raises(SystemExit):
        main(["--threads", "0"])
    assert "--threads must be >= 1, got 0" in capsys.readouterr().err


def test_base_times_another_checkouts_eager_step(capsys):
    """--base TREE: a third mode run from that tree through its run engine (here the
    same tree, so its step is this tree's eager one), with a ratio per mode over it."""
    import json
    import os

    from bench.train_step import main

    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert main(["--model", "gru", "--steps", "2", "--warmup", "1", "--repeats", "1",
                 "--hidden-size", "4", "--seq-len", "6", "--batch-size", "4",
                 "--base", here]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r.get("mode") for r in rows[:3]] == ["base", "eager", "compiled"]
    assert rows[0]["compiled"] is False and rows[0]["cpu_median_ms"] > 0
    summary = rows[-1]
    assert {"base_ms", "base_over_eager", "base_over_compiled", "base_over_compiled_cpu"} <= \
        set(summary)


def test_base_must_be_a_checkout(tmp_path, capsys):
    from bench.train_step import main

    with pytest.raises(SystemExit):
        main(["--base", str(tmp_path)])
    assert "--base: expected a checkout of this project" in capsys.readouterr().err
