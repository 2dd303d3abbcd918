"""Run keys and the run lock (issue 19): `lstm train` names each run's directory by the hash of
every setting that changes its result, and one process at a time runs a run."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from lstm.cli import main
from lstm.runs import checkpoint as ckpt
from lstm.runs.config import TrainConfig
from lstm.runs.keys import config_hash
from lstm.runs.lock import RunBusy, RunLock
from lstm.runs.results_io import read_rows
from lstm.runs.train import CHECKPOINT_NAME

# SGD at a tiny rate solves nothing: every run spends its whole budget
TRAIN = ["train", "--task", "adding", "--model", "gru", "--seq-len", "5", "--hidden-size", "4",
         "--batch-size", "4", "--eval-every", "50", "--test-size", "8", "--optimizer", "sgd",
         "--checkpoint-every", "100", "--quiet"]


def run_dirs(out) -> list:
    return sorted((out / "runs").glob("adding-gru-T5-s0-*"))


def final_step(run_dir) -> int:
    return int(ckpt.load_npz(str(run_dir / CHECKPOINT_NAME))["step"])


def test_the_key_hashes_what_changes_the_result():
    base = TrainConfig()
    assert config_hash(base.to_dict()) == config_hash(TrainConfig().to_dict())
    for change in ({"steps": 9}, {"lr": 2e-3}, {"seed": 1}, {"eval_every": 7},
                   {"model": "gru"}, {"batch_size": 3}):
        assert base.replace(**change).run_name() != base.run_name(), change
    for same in ({"checkpoint_every": 7}, {"compile": True}):
        assert base.replace(**same).run_name() == base.run_name(), same


def test_another_budget_is_another_run(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*TRAIN, "--lr", "1e-4", "--steps", "300", "--out", str(out)]) == 0
    assert main([*TRAIN, "--lr", "1e-4", "--steps", "250", "--out", str(out)]) == 0
    rows = read_rows(str(out / "results.jsonl"))
    assert [r["config"]["steps"] for r in rows] == [300, 250]
    for row in rows:  # each row's curve runs to its own budget
        assert row["result"]["steps"] == row["config"]["steps"]
        assert row["result"]["curve"][-1]["step"] == row["config"]["steps"]
    assert sorted(final_step(d) for d in run_dirs(out)) == [250, 300]

    # a larger budget trains on from the longest shorter run, bit-identically to a straight run
    capsys.readouterr()
    assert main([*TRAIN, "--lr", "1e-4", "--steps", "420", "--out", str(out)]) == 0
    assert "starting from step 300" in capsys.readouterr().err
    assert main([*TRAIN, "--lr", "1e-4", "--steps", "420", "--out", str(tmp_path / "b")]) == 0
    extended = next(d for d in run_dirs(out) if final_step(d) == 420)
    (straight,) = run_dirs(tmp_path / "b")
    assert extended.name == straight.name
    a, b = (ckpt.load_npz(str(d / CHECKPOINT_NAME)) for d in (extended, straight))
    for key in [k for k in b if k.startswith(("model/", "optim/", "rng/"))]:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    np.testing.assert_array_equal(a["curve_values"], b["curve_values"])
    assert sorted(final_step(d) for d in run_dirs(out)) == [250, 300, 420]  # 300 left as it was


def test_two_learning_rates_are_two_runs(tmp_path, capsys):
    out = tmp_path / "out"
    for lr in ("1e-4", "3e-4"):
        assert main([*TRAIN, "--lr", lr, "--steps", "20", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "--restart" not in err
    rows = read_rows(str(out / "results.jsonl"))
    assert sorted(r["config"]["lr"] for r in rows) == [1e-4, 3e-4]
    dirs = run_dirs(out)
    assert len(dirs) == 2 and all((d / CHECKPOINT_NAME).exists() for d in dirs)


def test_the_lock_names_its_holder_and_goes_with_it(tmp_path):
    run_dir = str(tmp_path / "run")
    with RunLock(run_dir, label="lstm train"):
        with pytest.raises(RunBusy, match=f"being run by process {os.getpid()}"):
            with RunLock(run_dir, wait=False, label="lstm train"):
                pass
    with RunLock(run_dir, wait=False):  # released on exit
        pass


def test_two_identical_runs_at_once_leave_one_row_and_a_clear_message(tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "lstm", *TRAIN, "--lr", "1e-4", "--steps", "20000",
               "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             text=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not any(
                (d / ".lock").exists() and (d / ".lock").read_text() for d in run_dirs(out)
                if (out / "runs").exists()):
            time.sleep(0.1)
        assert first.poll() is None, "the first run ended before the second could start"
        # both started while the first holds the lock (one after the other, the second could
        # start only after the first had finished on a fast machine)
        busy_p, second_p = (subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, env=env, text=True)
                            for cmd in ([*command, "--no-wait"], command))
        busy, second = (subprocess.CompletedProcess(p.args, p.wait(timeout=600),
                                                    *p.communicate(timeout=600))
                        for p in (busy_p, second_p))
    finally:
        first_out, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err[-2000:]
    holder = f"being run by process {first.pid}"
    assert busy.returncode == 1 and "Traceback" not in busy.stderr
    (line,) = busy.stderr.strip().splitlines()
    assert holder in line and "run the same command again" in line
    assert second.returncode == 0 and "Traceback" not in second.stderr, second.stderr[-2000:]
    assert holder in second.stderr and "this run has finished" in second.stderr
    assert second.stdout == first_out  # the same summary line
    assert len(read_rows(str(out / "results.jsonl"))) == 1


def test_a_character_model_run_is_keyed_by_its_budget_too():
    from lstm.apps.charlm.train import CharLMConfig

    base = CharLMConfig()
    longer = dataclasses.replace(base, steps=base.steps + 1)
    assert longer.run_name() != base.run_name()
    assert dataclasses.replace(base, checkpoint_every=7).run_name() == base.run_name()
    assert base.run_name().startswith(f"charlm-E{base.embedding_size}-H{base.hidden_size}-")
