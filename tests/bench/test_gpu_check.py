"""`make gpu-check` (bench/gpu_check.py): without a GPU it says so and exits 0; its summary line
carries the test counts and the benchmark's numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(ROOT))

from bench import gpu_check  # noqa: E402


def test_pytest_counts_reads_the_last_summary_line():
    output = "....F.s\n=== 1 failed, 5 passed, 1 skipped, 2 errors in 9.1s ===\n"
    assert gpu_check.pytest_counts(output) == {"failed": 1, "passed": 5, "skipped": 1,
                                               "errors": 2}
    assert gpu_check.pytest_counts("no summary") == {}


def test_summary_is_one_line_with_tests_and_benchmark():
    line = gpu_check.summary("NVIDIA A100", {"passed": 120, "skipped": 2}, 95.4,
                             [("B64_T200_I64_H256", 16.25, 1548.0, 6.5),
                              ("B256_T100_I128_H512", 101.0, 1990.4, float("nan"))], 201.2)
    assert "\n" not in line
    assert line == ("gpu-check: NVIDIA A100: tests 120 passed, 2 skipped in 95 s; "
                    "LSTM B64_T200_I64_H256 16.2 ms/step (1548 GFLOP/s, 6.50x cuDNN); "
                    "LSTM B256_T100_I128_H512 101.0 ms/step (1990 GFLOP/s, no cuDNN); "
                    "total 201 s")


def test_without_a_gpu_it_says_so_and_exits_0():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if gpu_check.no_gpu_reason(env) is None:
        pytest.skip("a GPU is present: `make gpu-check` runs the real check")
    env["NUMBA_ENABLE_CUDASIM"] = "1"  # ignored: the check never runs under the simulator
    done = subprocess.run([sys.executable, "-m", "bench.gpu_check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("gpu-check: skipped: no CUDA GPU")
