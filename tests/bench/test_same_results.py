"""bench.same_results: the refactoring check compares what runs computed, not when or how fast."""

from __future__ import annotations

import json

from bench.same_results import main


def _row(model: str, mse: float, wall: float, key: str | None = None) -> dict:
    config = {"model": model, "task": "adding", "seq_len": 10}
    return {"key": key or f"train:{model}", "kind": "train", "config": config,
            "wall_time_s": wall, "threads": 1, "finished_at": f"t{wall}",
            "versions": {"numpy": str(wall)},
            "result": {"metrics": {"mse": mse}, "wall_time": wall, "steps": 10}}


def _write(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_order_and_timing_do_not_count_a_result_or_a_key_does(tmp_path, capsys):
    base = _write(tmp_path / "a.jsonl", [_row("rnn", 0.1, 1.0), _row("gru", 0.2, 2.0)])
    same = _write(tmp_path / "b.jsonl", [_row("gru", 0.2, 9.0), _row("rnn", 0.1, 7.0)])
    assert main([base, same]) == 0
    changed = _write(tmp_path / "c.jsonl", [_row("rnn", 0.1, 1.0), _row("gru", 0.25, 2.0)])
    assert main([base, changed]) == 1
    assert '"fields": ["result"]' in capsys.readouterr().out
    renamed = _write(tmp_path / "d.jsonl", [_row("rnn", 0.1, 1.0, key="train:x"),
                                            _row("gru", 0.2, 2.0)])
    assert main([base, renamed]) == 1
    assert main([base, renamed, "--ignore-keys"]) == 0
    missing = _write(tmp_path / "e.jsonl", [_row("rnn", 0.1, 1.0)])
    assert main([base, missing]) == 1
    assert '"only_in": "base"' in capsys.readouterr().out
