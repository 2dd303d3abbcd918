"""bench.charlm_env_ab: one worker alternates a variable's values between calls of one compiled
character-model step and reports each value's clocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.charlm_env_ab import report

ROOT = Path(__file__).resolve().parents[2]


def test_report_gives_each_value_and_the_ratio_to_the_first():
    times = {"blas": {"wall_ms": [10.0, 12.0, 11.0], "cpu_ms": [20.0, 22.0, 21.0]},
             "micro": {"wall_ms": [9.0, 9.5, 9.2], "cpu_ms": [18.0, 19.0, 18.9]}}
    lines = report("MINIGRAD_SEQUENCE_GEMM", times, (1.0, 2.0)).splitlines()
    assert lines[0].startswith("## MINIGRAD_SEQUENCE_GEMM, alternated call by call (load 1.0")
    assert lines[4].startswith("| blas | 10.0 / ") and lines[4].endswith("| 1.000 |")
    assert lines[5].startswith("| micro | 9.0 / ") and lines[5].endswith(f"| {18.9 / 21:.3f} |")


def test_worker_alternates_the_values(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "bench.charlm_env_ab", "--variable", "MINIGRAD_SEQUENCE_GEMM",
         "--values", "blas,micro", "--preset", "quick", "--steps", "2", "--threads", "2"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(row["times"]) == ["blas", "micro"]
    assert all(len(t["cpu_ms"]) == 2 and min(t["cpu_ms"]) > 0 for t in row["times"].values())
    assert "| micro |" in done.stdout


def test_one_value_is_refused():
    done = subprocess.run(
        [sys.executable, "-m", "bench.charlm_env_ab", "--variable", "X", "--values", "a"],
        capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=120)
    assert done.returncode == 2 and "two or more values" in done.stderr
