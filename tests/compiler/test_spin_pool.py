"""The opt-in spinning pool (MINIGRAD_POOL_SPIN_US, compiler/spin_pool.py): the fused recurrences
and the split products give what the plain pool gives; a share's exception reaches the caller;
bad settings are refused naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from minigrad.compiler import cpu_runtime as rt
from minigrad.compiler.spin_pool import SpinningPool, spin_microseconds

ROOT = Path(__file__).resolve().parents[2]


def test_every_share_runs_once_on_its_own_thread():
    pool = SpinningPool(3, 50)
    seen = []
    lock = threading.Lock()

    def share(k, out):
        with lock:
            seen.append((k, threading.get_ident()))
        out[k] = k * 10

    for round_ in range(50):  # many hand-offs: spinning and, with pauses between, sleeping
        out = np.zeros(4, np.int64)
        seen.clear()
        pool.run(share, [(k, out) for k in range(4)])
        assert out.tolist() == [0, 10, 20, 30]
        assert sorted(k for k, _ in seen) == [0, 1, 2, 3]
        assert len({ident for _, ident in seen}) == 4
        if round_ % 10 == 0:
            threading.Event().wait(0.01)  # longer than the spin: the workers sleep


def test_an_error_in_a_share_reaches_the_caller_and_the_pool_goes_on():
    pool = SpinningPool(2, 0)
    out = np.zeros(3)

    def share(k):
        if k == 1:
            raise ValueError("share 1 failed")
        out[k] = 1.0

    with pytest.raises(ValueError, match="share 1 failed"):
        pool.run(share, [(0,), (1,), (2,)])
    assert out.tolist() == [1.0, 0.0, 1.0]  # the others ran to their end
    pool.run(lambda k: out.__setitem__(k, 2.0), [(0,), (1,)])  # fewer shares than workers
    assert out.tolist() == [2.0, 2.0, 1.0]

    def both_fail(k):
        raise KeyError(k)

    with pytest.raises(KeyError, match="0"):  # the caller's own share's error wins
        pool.run(both_fail, [(0,), (1,)])
    pool.run(lambda k: out.__setitem__(k, 3.0), [(0,), (1,)])  # no stale error from share 1
    assert out.tolist() == [3.0, 3.0, 1.0]


@pytest.mark.parametrize("value", ["-1", "x", "1.5"])
def test_bad_setting_is_refused_naming_the_variable(value, monkeypatch):
    monkeypatch.setenv("MINIGRAD_POOL_SPIN_US", value)
    with pytest.raises(ValueError, match="MINIGRAD_POOL_SPIN_US"):
        spin_microseconds()
    monkeypatch.setenv("MINIGRAD_POOL_SPIN_US", "200")
    assert spin_microseconds() == 200
    monkeypatch.delenv("MINIGRAD_POOL_SPIN_US")
    assert spin_microseconds() == 0


def test_run_takes_the_spinning_pool_while_the_variable_says_so(monkeypatch):
    before = rt.get_num_threads()
    rt.set_num_threads(2)
    names = []
    try:
        monkeypatch.setenv("MINIGRAD_POOL_SPIN_US", "100")
        rt.run(lambda: names.append(threading.current_thread().name), [(), ()])
        monkeypatch.setenv("MINIGRAD_POOL_SPIN_US", "0")
        rt.run(lambda: names.append(threading.current_thread().name), [(), ()])
    finally:
        rt.set_num_threads(before)
    assert any(name.startswith("minigrad-spin") for name in names[:2])
    assert any(name.startswith("minigrad-recurrent") for name in names[2:])


_STEPS = """
from bench import charlm_speed as cs
from lstm.apps.charlm.cli import PRESETS
from minigrad.compiler import cpu_runtime as rt
rt.set_num_threads(2)
config = dict(PRESETS["quick"])
V, inputs, targets = cs.training_batches(config)
step = cs.minigrad_compiled_steps(config, V, inputs, targets)[0]
print(repr([step(i) for i in range(3)]))
"""


def _losses(spin):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MINIGRAD_POOL_SPIN_US=spin)
    done = subprocess.run([sys.executable, "-c", _STEPS], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_compiled_charlm_steps_are_the_same_with_the_spinning_pool():
    """Three compiled character-model steps on two threads (time loops, split products, weight
    gradients all handed off): the same losses, digit for digit, with and without spinning."""
    assert _losses("200") == _losses("0")
