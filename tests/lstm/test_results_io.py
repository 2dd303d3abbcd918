"""Results files under faults: SIGKILL at random byte counts, a full disk, damaged lines,
two writers at once. Nothing acknowledged is lost, nothing is duplicated, damage is kept aside."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from lstm.runs import results_io

MODULE = results_io.__file__
# A small writer: results_io loaded from its file (standard library only, so a process starts
# in milliseconds), resuming like a sweep: repair, skip the keys already written, append.
WRITER = r"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("results_io", sys.argv[1])
rio = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rio)
path, total = sys.argv[2], int(sys.argv[3])
rio.repair(path)
done = {row["key"] for row in rio.read_rows(path)}
for i in range(total):
    if f"run-{i}" not in done:
        rio.append_row(path, {"key": f"run-{i}", "kind": "test", "config": {"i": i},
                              "result": {"pad": "x" * (500 + 7919 * i % 40000)}})
        print(i, flush=True)
"""


def _writer(path, total):
    return subprocess.Popen([sys.executable, "-c", WRITER, MODULE, str(path), str(total)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _kill_at(proc, path, size):
    """SIGKILL `proc` as soon as `path` holds `size` bytes (or it ends)."""
    while proc.poll() is None:
        if os.path.exists(path) and os.path.getsize(path) >= size:
            proc.send_signal(signal.SIGKILL)
            return
        time.sleep(0.0002)


def test_sigkill_at_random_byte_counts_loses_and_duplicates_nothing(tmp_path):
    path = str(tmp_path / "results.jsonl")
    rng = random.Random(12)
    acknowledged: set[int] = set()
    torn_written = 0
    for _ in range(55):
        if rng.random() < 0.4:  # also a write torn the way a kill or a full disk leaves it
            row = json.dumps({"key": "run-torn", "kind": "test", "config": {}, "result": {}})
            with open(path, "ab") as f:
                f.write(row[:rng.randrange(1, len(row))].encode())
            torn_written += 1
        start = os.path.getsize(path) if os.path.exists(path) else 0
        proc = _writer(path, 100_000)
        killer = threading.Thread(target=_kill_at,
                                  args=(proc, path, start + rng.randrange(1, 120_000)))
        killer.start()
        out, _ = proc.communicate(timeout=60)
        killer.join()
        acknowledged |= {int(line) for line in out.split()}
    results_io.repair(path)
    keys = [row["key"] for row in results_io.read_rows(path)]
    assert len(keys) == len(set(keys)), "a row was written twice"
    numbers = sorted(int(k.split("-")[1]) for k in keys)
    assert numbers == list(range(len(numbers))), "rows are not one unbroken sequence"
    assert acknowledged <= set(numbers), "an acknowledged row was lost"
    assert len(numbers) > 55
    damaged = open(path + results_io.DAMAGED_SUFFIX, "rb").read().splitlines()
    assert len(damaged) >= torn_written > 10  # every torn tail was kept aside
    for line in damaged:  # and nothing complete was quarantined in place of being kept
        try:
            assert json.loads(line)["key"] in keys
        except ValueError:
            pass
    for row in results_io.read_rows(path):
        assert row["result"]["pad"] == "x" * (500 + 7919 * row["config"]["i"] % 40000)


def test_two_writers_at_once_never_interleave(tmp_path):
    path = tmp_path / "results.jsonl"
    script = WRITER.replace('f"run-{i}"', 'f"run-{sys.argv[4]}-{i}"')
    procs = [subprocess.Popen([sys.executable, "-c", script, MODULE, str(path), "60", tag],
                              stdout=subprocess.DEVNULL) for tag in "ab"]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    keys = [row["key"] for row in results_io.read_rows(str(path))]
    assert sorted(keys) == sorted(f"run-{t}-{i}" for t in "ab" for i in range(60))


def test_a_full_disk_mid_append_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = str(tmp_path / "results.jsonl")
    row = {"key": "a", "kind": "test", "config": {}, "result": {}}
    results_io.append_row(path, row)
    before = open(path, "rb").read()

    def half_then_full(fd, data):
        os.write(fd, data[:len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(results_io, "_write_all", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        results_io.append_row(path, {**row, "key": "b"})
    assert open(path, "rb").read() == before


def test_repair_moves_damaged_middle_lines_aside_and_keeps_glued_rows(tmp_path, capsys):
    path = str(tmp_path / "results.jsonl")
    rows = [{"schema": 2, "key": k, "kind": "test", "config": {}, "result": {}} for k in "abc"]
    lines = [json.dumps(r) for r in rows]
    with open(path, "w") as f:
        f.write(lines[0] + "\nnot json at all\n" + '{"key": "b", "tor' + lines[1] + "\n"
                + lines[2] + "\n" + '{"key": "d"')
    assert [r["key"] for r in results_io.read_rows(path)] == ["a", "b", "c"]
    assert "line 2" in capsys.readouterr().err  # the reader says what it skipped
    results_io.repair(path)
    assert [json.loads(line)["key"] for line in open(path)] == ["a", "b", "c"]
    damaged = open(path + results_io.DAMAGED_SUFFIX).read()
    assert "not json at all" in damaged and '{"key": "b", "tor' in damaged
    assert '{"key": "d"' in damaged
    assert "damaged" in capsys.readouterr().err


def test_put_row_replaces_the_row_of_its_key_and_keeps_the_others_in_order(tmp_path):
    path = str(tmp_path / "results.jsonl")
    for k in "abc":
        results_io.append_row(path, {"key": k, "kind": "test", "config": {}, "result": {"v": 1}})
    results_io.put_row(path, {"key": "b", "kind": "test", "config": {}, "result": {"v": 2}})
    assert [(r["key"], r["result"]["v"]) for r in results_io.read_rows(path)] == [
        ("a", 1), ("c", 1), ("b", 2)]
    results_io.put_row(path, {"key": "d", "kind": "test", "config": {}, "result": {"v": 3}},
                       replaces=("a", "c"))
    assert [r["key"] for r in results_io.read_rows(path)] == ["b", "d"]
    results_io.put_row(path, {"key": "e", "kind": "test", "config": {}, "result": {}})  # new
    assert [r["key"] for r in results_io.read_rows(path)] == ["b", "d", "e"]


def test_readers_see_one_row_per_key(tmp_path, capsys):
    path = str(tmp_path / "results.jsonl")
    for v in (1, 2):  # two sweeps of the same runs at once
        results_io.append_row(path, {"key": "a", "kind": "test", "config": {}, "result": {"v": v}})
    assert [r["result"]["v"] for r in results_io.read_rows(path)] == [2]
    assert "1 duplicate row" in capsys.readouterr().err


def test_a_results_path_that_is_a_directory_is_named(tmp_path):
    with pytest.raises(IsADirectoryError, match="not a results file"):
        results_io.read_rows(str(tmp_path))


def test_rows_of_other_kinds_are_written_and_read_by_every_reader(tmp_path):
    """The applications' rows (their own fields, a sample without a key) share results.jsonl
    with the sweeps: every reader reads past them; a key is made from the content."""
    from lstm.experiments import results_doc
    from lstm.experiments.sweep import grid, run_sweep

    path = str(tmp_path / "results.jsonl")
    sample = {"kind": "generate", "prime": "def ", "sample": "main():", "seed": 0}
    results_io.append_row(path, sample)
    results_io.append_row(path, {**sample, "seed": 1})
    with pytest.raises(results_io.ResultsError, match="'kind'"):
        results_io.append_row(path, {"sample": "no kind"})
    with pytest.raises(results_io.ResultsError, match="'result.records' is missing"):
        results_io.append_row(path, {"key": "g", "kind": "gradflow", "config": {}, "result": {}})
    specs = grid("train", {"task": "adding", "hidden_size": 4, "steps": 2, "test_size": 8,
                           "eval_every": 2, "batch_size": 4}, model=["rnn"], seq_len=[5], seed=[0])
    run_sweep(specs, path, workers=1, progress=False)
    rows = results_io.read_rows(path)
    assert [r["kind"] for r in rows] == ["generate", "generate", "train"]
    assert rows[0]["key"].startswith("generate:") and rows[0]["key"] != rows[1]["key"]
    assert "| rnn | 5 | 0 |" in results_doc.render(rows)
    assert "Cost: 1 runs" in results_doc.render(rows)


def test_a_carriage_return_in_damaged_bytes_does_not_hide_the_rows_after_it(tmp_path):
    path = str(tmp_path / "results.jsonl")
    rows = [json.dumps({"key": k, "kind": "test", "config": {}, "result": {}}) for k in "ab"]
    with open(path, "wb") as f:
        f.write(rows[0].encode() + b"\n\x00garbage\rmore\n" + rows[1].encode() + b"\n")
    assert [r["key"] for r in results_io.read_rows(path)] == ["a", "b"]
    results_io.repair(path)
    assert [r["key"] for r in results_io.read_rows(path)] == ["a", "b"]
    assert b"garbage\rmore" in open(path + results_io.DAMAGED_SUFFIX, "rb").read()
