"""bench.charlm_profile: the compiled step's parts (the runners' loops and products among the
program's calls) and the per-thread split, one worker in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.charlm_profile import report, thread_times

ROOT = Path(__file__).resolve().parents[2]


def test_thread_times_has_this_thread():
    times = thread_times()
    assert str(os.getpid()) in times
    ran, waited = times[str(os.getpid())]
    assert ran > 0 and waited >= 0


def test_report_orders_parts_and_lists_threads():
    row = {"library": "x", "step_ms": 10.0, "load": 1.0,
           "parts_ms": {"small": 1.0, "big": 5.0},
           "threads": [{"thread": "main", "on_core_ms": 9.0, "waiting_for_core_ms": 0.5,
                        "blocked_ms": 0.5}]}
    lines = report(row).splitlines()
    assert lines[0].startswith("## x: 10.0 ms per step")
    assert lines.index("| big | 5.00 |") < lines.index("| small | 1.00 |")
    assert "| main | 9.0 | 0.5 | 0.5 |" in lines


def test_compiled_worker_splits_the_runners(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "bench.charlm_profile", "--libraries", "minigrad-compile",
         "--preset", "quick", "--steps", "1", "--threads", "2"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for part in ("run_cpu.forward", "run_cpu.backward", "time loops (each_thread)",
                 "weight gradients (weight_gemm)", "cpu.cross_entropy", "| main |",
                 "hand-offs: calls", "| other |"):
        assert part in out, part
