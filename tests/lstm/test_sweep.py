"""Sweeps: append-only results, skip what is done, survive SIGKILL, run on a Dask cluster."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lstm.experiments.sweep import RunSpec, append_result, grid, read_results, run_sweep

TINY = {"task": "adding", "hidden_size": 4, "steps": 3, "test_size": 8, "eval_every": 2,
        "batch_size": 4}


def _specs(seq_lens=(5, 6)):
    return grid("train", TINY, model=["rnn", "gru"], seq_len=list(seq_lens), seed=[0])


def test_sweep_writes_one_line_per_run_and_skips_done(tmp_path):
    path = str(tmp_path / "results.jsonl")
    specs = _specs()
    rows = run_sweep(specs, path, workers=1, progress=False)
    assert len(rows) == 4
    lines = read_results(path)
    assert sorted(r["key"] for r in lines) == sorted(s.key for s in specs)
    for r in lines:
        assert r["result"]["steps"] == 3 and r["wall_time_s"] > 0
        assert {"numpy", "numba", "minigrad"} <= set(r["versions"])
    called = []
    again = run_sweep(specs + _specs((7,)), path, workers=1, progress=False,
                      on_result=called.append)
    assert len(called) == 2 and len(again) == 6
    assert len(read_results(path)) == 6


def test_worker_processes_share_the_cores(tmp_path, monkeypatch):
    """Two workers on two cores run one thread each in their fused loops (they ran two each, and
    the default sweep at load 4, when the loops ignored the workers' share)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    for name in ("MINIGRAD_NUM_THREADS", "NUMBA_NUM_THREADS"):  # a caller's setting aside
        monkeypatch.delenv(name, raising=False)
    rows = run_sweep(_specs()[:2], str(tmp_path / "results.jsonl"), workers=2, progress=False)
    assert [r["threads"] for r in rows] == [1, 1]
    assert "MINIGRAD_NUM_THREADS" not in os.environ  # restored after the pool


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_run_does_not_stop_or_lose_the_others(tmp_path, workers):
    path = str(tmp_path / "results.jsonl")
    bad = RunSpec("train", {**TINY, "model": "transformer", "seq_len": 5, "seed": 0})
    with pytest.raises(RuntimeError, match=r"1 of 5 runs failed .*transformer"):
        run_sweep(_specs()[:2] + [bad] + _specs()[2:], path, workers=workers, progress=False)
    assert sorted(r["key"] for r in read_results(path)) == sorted(s.key for s in _specs())


def _live_processes_in_group(pgid: int) -> list[int]:
    live = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(entry))
    return live


def _assert_group_exits(pgid: int, seconds: float = 15.0) -> None:
    """Every process of group pgid exits within `seconds` (polled every 0.2 s)."""
    deadline = time.time() + seconds
    while time.time() < deadline and _live_processes_in_group(pgid):
        time.sleep(0.2)
    assert _live_processes_in_group(pgid) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc (Linux)")
def test_workers_exit_when_the_sweep_process_is_killed(tmp_path):
    """`kill -9` of the sweep alone (not its group) must not leave workers training on."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lstm", "sweep", "--preset", "default", "--tasks", "adding",
           "--models", "gru", "--seq-lens", "5,6,7,8,9,10", "--seeds", "0", "--steps", "100000",
           "--workers", "2", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(_live_processes_in_group(proc.pid)) < 3:
            time.sleep(0.2)  # the sweep, its resource tracker and two workers
        assert len(_live_processes_in_group(proc.pid)) >= 3, "workers never started"
        time.sleep(2)  # the workers are past their initializer, training
        proc.kill()
        proc.wait()
        _assert_group_exits(proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_torn_last_line_is_cut_and_rerun(tmp_path):
    path = str(tmp_path / "results.jsonl")
    specs = _specs((5,))
    run_sweep(specs[:1], path, workers=1, progress=False)
    with open(path, "a") as f:
        f.write('{"key": "train:{\\"half')  # a kill mid-write
    rows = run_sweep(specs, path, workers=1, progress=False)
    assert len(rows) == 2
    text = open(path).read()
    assert text.endswith("\n") and "half" not in text
    assert len(read_results(path)) == 2


def test_sweep_survives_sigkill_without_losing_or_duplicating(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lstm", "sweep", "--preset", "default", "--tasks", "adding",
           "--models", "rnn,gru", "--seq-lens", "5,6,7,8,9,10", "--seeds", "0", "--steps", "400",
           "--workers", "2", "--out", str(out), "--quiet"]
    path = out / "results.jsonl"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    # runs of 400 steps take a few tenths of a second on an idle machine (40 steps took 25 ms:
    # all 12 could finish between two looks), so the kill lands with runs still to do
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and len(read_results(str(path))) >= 2:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"sweep ended before it could be killed: {proc.stderr.read().decode()}")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = read_results(str(path))
    assert 2 <= len(before) < 12
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    after = read_results(str(path))
    keys = [r["key"] for r in after]
    assert len(keys) == 12 and len(set(keys)) == 12
    assert {r["key"] for r in before} <= set(keys)
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(printed) == 12 - len(before)


def test_sweep_on_a_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    path = str(tmp_path / "results.jsonl")
    specs = _specs()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        rows = run_sweep(specs, path, scheduler=cluster.scheduler_address, progress=False)
    assert len(rows) == 4
    assert sorted(r["key"] for r in read_results(path)) == sorted(s.key for s in specs)



def test_bad_spec_and_append(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        RunSpec("bogus", {})
    path = str(tmp_path / "r.jsonl")
    row = {"key": "a", "kind": "other", "config": {}, "result": {"x": 1}}
    append_result(path, row)
    (read,) = read_results(path)
    assert read["schema"] == 2 and {k: read[k] for k in row} == row


def _terminal_sigint() -> None:
    """In the child: Ctrl-C's default action, as in a terminal (a shell running the tests in
    the background hands its children SIGINT ignored, and Python then keeps it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc (Linux)")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_the_workers_says_what_finished_and_exits_130(tmp_path, signum):
    """Ctrl-C (SIGINT to the terminal's process group) or SIGTERM to the sweep: no traceback,
    the workers stopped, the finished runs kept and counted, and the same command resumes."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lstm", "sweep", "--preset", "default", "--tasks", "adding",
           "--models", "rnn,gru", "--seq-lens", ",".join(map(str, range(5, 17))), "--seeds",
           "0", "--steps", "300", "--workers", "2", "--out", str(out), "--quiet"]
    path = out / "results.jsonl"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=_terminal_sigint)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if path.exists() and len(read_results(str(path))) >= 2:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the sweep ended before Ctrl-C"
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signum, err
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        written = len(read_results(str(path)))
        assert f"{written} of the 24 runs to do finished" in err, err
        assert "Run the same command again to resume" in err
        assert 2 <= written < 24
        _assert_group_exits(proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("allowed_failures", [None, 0])
def test_a_lost_dask_worker_loses_no_run(tmp_path, allowed_failures):
    """A worker killed mid-sweep: Dask reruns its runs elsewhere; every run is written once.
    With Dask's own retries off (allowed-failures 0) the killed worker fails its run with
    KilledWorker, an error of the cluster, not of the run: the sweep submits it again."""
    distributed = pytest.importorskip("distributed")
    import dask

    path = str(tmp_path / "results.jsonl")
    specs = grid("train", {**TINY, "steps": 60}, model=["rnn", "gru"], seq_len=[5, 6, 7, 8],
                 seed=[0])
    settings = {} if allowed_failures is None else \
        {"distributed.scheduler.allowed-failures": allowed_failures}
    with dask.config.set(settings), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_one_worker(row):
            if not killed:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        rows = run_sweep(specs, path, scheduler=cluster.scheduler_address, progress=False,
                         on_result=kill_one_worker)
    assert killed and len(rows) == len(specs)
    keys = [r["key"] for r in read_results(path)]
    assert sorted(keys) == sorted(s.key for s in specs)


def test_run_options_reach_every_run_and_stay_out_of_its_key(tmp_path, monkeypatch):
    """`lstm sweep --no-compile`: the runners get compile=False; the rows' keys and configs are
    those of a compiled sweep, so either finds the other's runs finished."""
    from lstm.experiments import sweep

    seen = []
    real = sweep.RUNNERS["train"]
    monkeypatch.setitem(sweep.RUNNERS, "train",
                        lambda config, **options: seen.append(options) or real(config, **options))
    eager, compiled = str(tmp_path / "eager.jsonl"), str(tmp_path / "compiled.jsonl")
    run_sweep(_specs((5,)), eager, workers=1, progress=False, run_options={"compile": False})
    run_sweep(_specs((5,)), compiled, workers=1, progress=False)
    assert seen == [{"compile": False}] * 2 + [{}] * 2
    rows = [read_results(p) for p in (eager, compiled)]
    assert [(r["key"], r["config"]) for r in rows[0]] == [(r["key"], r["config"]) for r in rows[1]]
    assert all("compile" not in r["result"]["config"] for r in rows[0] + rows[1])
    assert run_sweep(_specs((5,)), eager, workers=1, progress=False) and len(seen) == 4
