"""The applications' resumable runner (lstm.apps.common.runs.run_missing): finished rows are
never trained again, and with a run directory a run another process is training is waited for
and then read, not trained twice."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass

from lstm.apps.common.runs import run_missing
from lstm.runs.keys import run_key
from lstm.runs.lock import RunLock
from lstm.runs.results_io import append_row, read_rows


@dataclass(frozen=True)
class Toy:
    size: int

    def to_dict(self):
        return asdict(self)


def _row(config, key):
    return {"key": key, "kind": "toy", "config": config.to_dict(), "result": {"n": config.size}}


def test_finished_rows_are_reused_in_order(tmp_path):
    path, trained, seen = str(tmp_path / "results.jsonl"), [], []

    def train(config, key):
        trained.append(config.size)
        return _row(config, key)

    run_missing([Toy(1)], path, "toy", train)
    rows = run_missing([Toy(2), Toy(1)], path, "toy", train,
                       lambda row, reused: seen.append((row["config"]["size"], reused)))
    assert trained == [1, 2] and seen == [(2, False), (1, True)]
    assert [r["config"]["size"] for r in rows] == [2, 1] and len(read_rows(path)) == 2


def test_a_run_another_process_trains_is_waited_for_then_read(tmp_path, capsys):
    path, run_dir = str(tmp_path / "results.jsonl"), str(tmp_path / "runs" / "toy-3")
    held, seen = threading.Event(), []

    def other():  # holds the run's lock, finishes the run, lets go
        with RunLock(run_dir, label="other"):
            held.set()
            time.sleep(0.6)
            append_row(path, _row(Toy(3), run_key("toy", Toy(3).to_dict())))

    thread = threading.Thread(target=other)
    thread.start()
    held.wait(10)

    def refuse(config, key):
        raise AssertionError("a run finished by another process was trained again")

    rows = run_missing([Toy(3)], path, "toy", refuse,
                       lambda row, reused: seen.append(reused), run_dir=lambda c: run_dir)
    thread.join()
    assert seen == [True] and rows[0]["result"] == {"n": 3}
    assert "is being run by" in capsys.readouterr().err  # the one line naming the holder
    assert len(read_rows(path)) == 1


def test_model_dirs_are_short_and_one_per_key(tmp_path):
    from lstm.apps.common.runs import model_dir

    results = str(tmp_path / "results.jsonl")
    long_key = "forecast:" + "{" + ",".join(f'"f{i}":{i}.125' for i in range(60)) + "}"
    where = model_dir(results, "forecast", long_key)
    assert len(where.rsplit("/", 1)[-1]) <= 32
    assert where.startswith(str(tmp_path / "models" / "forecast-"))
    assert model_dir(results, "forecast", long_key) == where
    assert model_dir(results, "forecast", long_key + " ") != where
