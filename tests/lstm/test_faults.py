"""Issue 12's defects of the `lstm` command: a clear message, no traceback, nothing lost."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from lstm.cli import main
from lstm.experiments import results_doc
from lstm.runs import checkpoint as ckpt
from lstm.runs import results_io
from lstm.runs.lock import LOCK_NAME
from lstm.runs.train import CHECKPOINT_NAME, PREVIOUS_CHECKPOINT_NAME

TRAIN = ["train", "--task", "adding", "--model", "gru", "--seq-len", "5", "--hidden-size", "4",
         "--batch-size", "4", "--steps", "4", "--eval-every", "2", "--test-size", "8",
         "--checkpoint-every", "2", "--quiet"]
RUN_NAME = "adding-gru-T5-s0"  # + "-" and the hash of the config (lstm.runs.keys)


def _run_dir(out):
    """The one run directory of TRAIN under `out`."""
    (found,) = (out / "runs").glob(RUN_NAME + "-*")
    return found


def _train(out, *extra):
    return main([*TRAIN, "--out", str(out), *extra])


def _rows(out):
    return results_io.read_rows(str(out / "results.jsonl"))


def test_train_quarantines_a_torn_tail_before_appending(tmp_path, capsys):
    path = tmp_path / "results.jsonl"
    path.write_text('{"key": "train:{\\"half a line')  # a kill or a full disk mid-append
    assert _train(tmp_path) == 0
    rows = _rows(tmp_path)
    assert len(rows) == 1 and rows[0]["kind"] == "train"
    assert path.read_text().endswith("\n") and "half a line" not in path.read_text()
    damaged = tmp_path / ("results.jsonl" + results_io.DAMAGED_SUFFIX)
    assert "half a line" in damaged.read_text()
    assert "torn" in capsys.readouterr().err


def test_a_row_glued_onto_a_torn_line_by_an_older_writer_is_recovered(tmp_path):
    path = tmp_path / "results.jsonl"
    row = results_io.make_row("gradflow", {"x": 1}, {"records": []}, versions={})
    path.write_text('{"key": "to' + json.dumps(row) + "\n")
    assert [r["key"] for r in results_io.read_rows(str(path))] == [row["key"]]


def test_a_finished_train_run_is_not_run_or_written_twice(tmp_path, capsys):
    assert _train(tmp_path) == 0
    capsys.readouterr()
    assert _train(tmp_path) == 0
    out, err = capsys.readouterr()
    assert "finished" in err and "results.jsonl" in err and "--force" in err
    assert json.loads(out.strip().splitlines()[-1])["steps"] == 4  # its result, printed again
    assert len(_rows(tmp_path)) == 1


def test_force_reruns_and_replaces_the_row(tmp_path, capsys):
    assert _train(tmp_path) == 0
    first = _rows(tmp_path)[0]
    assert _train(tmp_path, "--force") == 0
    rows = _rows(tmp_path)
    assert len(rows) == 1 and rows[0]["key"] == first["key"]
    assert rows[0]["finished_at"] >= first["finished_at"]
    assert rows[0]["result"]["metrics"] == first["result"]["metrics"]  # same seed, same run


def test_results_doc_reads_what_lstm_train_writes(tmp_path):
    assert _train(tmp_path) == 0
    text = results_doc.render(_rows(tmp_path))
    assert "| gru | 5 | 0 |" in text


def test_results_doc_reads_a_row_of_the_old_lstm_train(tmp_path):
    row = results_io.make_row("gradflow", {"x": 1}, {"records": []})
    old = {k: row[k] for k in ("key", "kind", "config", "result")}  # no schema, no versions
    (tmp_path / "r.jsonl").write_text(json.dumps(old) + "\n")
    rows = results_io.read_rows(str(tmp_path / "r.jsonl"))
    assert rows[0]["schema"] == 1 and rows[0]["versions"] == {}


@pytest.mark.parametrize(("row", "field"), [
    ({"schema": 99, "key": "k", "kind": "train", "config": {}, "result": {}}, "schema"),
    ({"schema": 2, "kind": "train", "config": {}, "result": {}}, "key"),
    ({"schema": 2, "key": "k", "kind": "train", "config": {}, "result": []}, "result"),
    ({"schema": 2, "key": "k", "kind": "train", "config": {},
      "result": {"config": {}, "metrics": {}}}, "result.curve"),
])
def test_a_reader_names_the_row_and_field_it_cannot_use(tmp_path, row, field):
    path = tmp_path / "r.jsonl"
    good = results_io.make_row("gradflow", {"m": 1}, {"records": []}, versions={})
    path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(results_io.ResultsError, match=f"line 2.*'{field}'"):
        results_io.read_rows(str(path))


def _checkpointed(tmp_path):
    assert main([*TRAIN[:-3], "--steps", "4", "--checkpoint-every", "2", "--out",
                 str(tmp_path), "--quiet"]) == 0
    return _run_dir(tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "random", "missing_field"])
def test_a_damaged_checkpoint_says_which_file_and_what_to_do(tmp_path, capsys, damage):
    run_dir = _checkpointed(tmp_path)
    (tmp_path / "results.jsonl").unlink()  # not finished: the next command must load it
    for name in (CHECKPOINT_NAME, PREVIOUS_CHECKPOINT_NAME):
        path = run_dir / name
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[:1000])
        elif damage == "random":
            path.write_bytes(np.random.default_rng(0).bytes(3000))
        else:
            data = dict(np.load(path))
            del data["step"]
            np.savez(path, **data)
    capsys.readouterr()
    assert _train(tmp_path) == 1
    err = capsys.readouterr().err
    assert str(run_dir / CHECKPOINT_NAME) in err and "--restart" in err
    assert "allow_pickle" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2
    assert _train(tmp_path, "--restart") == 0
    assert len(_rows(tmp_path)) == 1


def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(tmp_path, capsys):
    assert main([*TRAIN[:-3], "--steps", "6", "--checkpoint-every", "2", "--out",
                 str(tmp_path), "--quiet"]) == 0
    run_dir = _run_dir(tmp_path)
    previous = ckpt.load_npz(str(run_dir / PREVIOUS_CHECKPOINT_NAME))
    assert int(previous["step"]) == 6
    (run_dir / CHECKPOINT_NAME).write_bytes(b"PK\x03\x04 torn")
    capsys.readouterr()
    assert main([*TRAIN[:-3], "--steps", "8", "--checkpoint-every", "2", "--out",
                 str(tmp_path), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "falling back" in err and str(run_dir / PREVIOUS_CHECKPOINT_NAME) in err
    rows = _rows(tmp_path)
    assert [r["result"]["steps"] for r in rows] == [6, 8]


def test_out_is_a_file_or_unwritable_or_results_is_a_directory(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert _train(tmp_path / "file") == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "file") in err and "Traceback" not in err
    (tmp_path / "d" / "results.jsonl").mkdir(parents=True)
    assert _train(tmp_path / "d") == 2
    err = capsys.readouterr().err
    assert "results.jsonl" in err and "directory" in err.lower()
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o500)
        assert _train(tmp_path / "ro") == 2
        assert "ermission" in capsys.readouterr().err


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_during_the_append_is_one_line_and_loses_nothing(tmp_path, capsys,
                                                                     monkeypatch):
    assert _train(tmp_path) == 0
    before = (tmp_path / "results.jsonl").read_bytes()
    monkeypatch.setattr(results_io, "_write_all", _full_disk)
    assert main([*TRAIN, "--seed", "1", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "No space left" in err and "Traceback" not in err and len(err.splitlines()) == 1
    monkeypatch.undo()
    assert (tmp_path / "results.jsonl").read_bytes() == before
    assert main([*TRAIN, "--seed", "1", "--out", str(tmp_path)]) == 0  # the same command again
    assert len(_rows(tmp_path)) == 2


def test_a_full_disk_during_a_checkpoint_is_one_line_and_keeps_the_old_one(tmp_path, capsys,
                                                                           monkeypatch):
    run_dir = _checkpointed(tmp_path)
    (tmp_path / "results.jsonl").unlink()
    old = (run_dir / CHECKPOINT_NAME).read_bytes()
    monkeypatch.setattr(ckpt.np, "savez", _full_disk)
    capsys.readouterr()
    # the same run again (its row gone): it loads its checkpoint and writes its final one
    assert main([*TRAIN[:-3], "--steps", "4", "--checkpoint-every", "2", "--out",
                 str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "No space left" in err and "Traceback" not in err
    assert f"{run_dir / CHECKPOINT_NAME}: No space left on device" in err
    assert (run_dir / CHECKPOINT_NAME).read_bytes() == old
    assert sorted(os.listdir(run_dir)) == sorted([CHECKPOINT_NAME, PREVIOUS_CHECKPOINT_NAME,
                                                  "result.json", LOCK_NAME])


def test_an_unreachable_dask_scheduler_is_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    from lstm.experiments import sweep

    monkeypatch.setattr(sweep, "DASK_CONNECT_TIMEOUT_S", 1)
    code = main(["sweep", "--quick", "--tasks", "adding", "--models", "rnn", "--seq-lens", "5",
                 "--steps", "2", "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "tcp://127.0.0.1:9" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["gradflow", "sweep"])
def test_workers_must_be_positive(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--workers", "0"])
    assert e.value.code == 2
    assert "--workers" in capsys.readouterr().err


def test_a_full_disk_during_a_sweep_is_one_line_and_the_same_command_resumes(
        tmp_path, capsys, monkeypatch):
    sweep = ["sweep", "--preset", "default", "--tasks", "adding", "--models", "rnn,gru",
             "--seq-lens", "5", "--seeds", "0",
             "--steps", "2", "--workers", "1", "--out", str(tmp_path), "--quiet"]
    monkeypatch.setattr(results_io, "_write_all", _full_disk)
    assert main(sweep) == 1
    err = capsys.readouterr().err
    assert "results.jsonl: No space left on device" in err and "Traceback" not in err
    assert os.path.getsize(tmp_path / "results.jsonl") == 0
    monkeypatch.undo()
    assert main(sweep) == 0
    assert len(_rows(tmp_path)) == 2


def test_a_results_path_that_is_a_device_or_empty_out_is_one_line(tmp_path, capsys):
    (tmp_path / "dev").mkdir()
    os.symlink("/dev/full", tmp_path / "dev" / "results.jsonl")  # reads as endless zeros
    assert _train(tmp_path / "dev") == 2
    assert "not a regular file" in capsys.readouterr().err
    assert _train("") == 2
    assert "--out must name a directory" in capsys.readouterr().err



def test_lstm_train_and_lstm_sweep_know_each_others_runs(tmp_path, capsys):
    from lstm.experiments.sweep import RunSpec, run_sweep
    from lstm.runs.config import TrainConfig

    partial = {"task": "adding", "model": "gru", "seq_len": 5, "hidden_size": 4,
               "batch_size": 4, "steps": 4, "eval_every": 2, "test_size": 8,
               "checkpoint_every": 2}
    spec = RunSpec("train", partial)
    run_sweep([spec], str(tmp_path / "results.jsonl"), workers=1, progress=False)
    assert TrainConfig.from_dict(partial).to_dict()["seed"] == 0
    capsys.readouterr()
    assert _train(tmp_path) == 0  # the same run as the sweep's: finished
    assert "has finished" in capsys.readouterr().err
    assert _train(tmp_path, "--force") == 0  # replaced under the sweep's key
    assert [r["key"] for r in _rows(tmp_path)] == [spec.key]
    assert len(run_sweep([spec], str(tmp_path / "results.jsonl"), workers=1,
                         progress=False)) == 1
    assert len(_rows(tmp_path)) == 1  # the sweep did not run it again
    assert main([*TRAIN, "--seed", "1", "--out", str(tmp_path)]) == 0
    other = RunSpec("train", {**partial, "seed": 1})  # a sweep finds lstm train's run
    run_sweep([other], str(tmp_path / "results.jsonl"), workers=1, progress=False)
    assert len(_rows(tmp_path)) == 2


def test_a_checkpoint_with_arrays_that_do_not_fit_is_named(tmp_path, capsys):
    run_dir = _checkpointed(tmp_path)
    (tmp_path / "results.jsonl").unlink()
    path = run_dir / CHECKPOINT_NAME
    data = dict(np.load(path))
    data["model/recurrent.weight_hh_l0"] = np.zeros((3, 3), np.float32)  # tampered with
    np.savez(path, **data)
    capsys.readouterr()
    assert _train(tmp_path) == 1
    err = capsys.readouterr().err
    assert f"checkpoint {path} is damaged: its contents do not fit this run" in err
    assert "weight_hh_l0" in err and "--restart" in err
