"""`make gpu-check`: on a real GPU (never the simulator), the CUDA tests and the GPU benchmark
(bench/gpu_lstm.py: the fused LSTM's generated kernels, and torch's cuDNN LSTM when torch sees the
GPU) within a 5-minute budget, ending with one summary line. Without a GPU it says so and exits
0. Exit status 1 when a test fails or the budget runs out. docs/gpu.md, "make gpu-check".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 300.0  # seconds for the whole check
TEST_BUDGET = 200.0  # of which the tests may take this much
_COUNTS = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)")


def no_gpu_reason(env: dict) -> str | None:
    """Why there is no GPU to check (asked in a child process without the simulator)."""
    probe = ("from numba import cuda; import sys; "
             "sys.exit(0 if cuda.is_available() and len(cuda.gpus) else 3)")
    try:
        done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        return "numba's CUDA driver did not answer within 60 s"
    if done.returncode != 0:
        return "no CUDA GPU visible to numba (numba.cuda.is_available() is False)"
    return None


def pytest_counts(output: str) -> dict:
    """{'passed': n, 'failed': n, ...} from pytest's last summary line."""
    lines = [line for line in output.splitlines() if _COUNTS.search(line)]
    counts = {}
    for n, what in _COUNTS.findall(lines[-1] if lines else ""):
        counts["errors" if what.startswith("error") else what] = int(n)
    return counts


def summary(gpu: str, counts: dict, test_seconds: float, bench: list, total: float) -> str:
    """The one line `make gpu-check` ends with."""
    tests = ", ".join(f"{n} {what}" for what, n in counts.items()) or "no test result"
    parts = [f"gpu-check: {gpu}: tests {tests} in {test_seconds:.0f} s"]
    for config, ms, gflops, ratio in bench:
        cudnn = f", {ratio:.2f}x cuDNN" if ratio == ratio else ", no cuDNN"
        parts.append(f"LSTM {config} {ms:.1f} ms/step ({gflops:.0f} GFLOP/s{cudnn})")
    return "; ".join(parts) + f"; total {total:.0f} s"


def _run_tests(env: dict, timeout: float) -> tuple[dict, float, bool]:
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/cuda"], env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        sys.stdout.write(out[-3000:])
        return {"timed out": 1}, time.perf_counter() - start, False
    sys.stdout.write(done.stdout[-3000:])
    return pytest_counts(done.stdout), time.perf_counter() - start, done.returncode == 0


def _run_bench(deadline: float) -> list:
    from bench import gpu_lstm

    rows = []
    for config in gpu_lstm.CONFIGS:
        if time.perf_counter() > deadline:
            print(f"gpu-check: out of time before {config}")
            break
        seconds = gpu_lstm._median_seconds(*gpu_lstm.minigrad_step(config))
        reference = gpu_lstm.cudnn_step(config)
        ratio = seconds / gpu_lstm._median_seconds(*reference) if reference else float("nan")
        gflops = gpu_lstm.step_flops(*gpu_lstm.CONFIGS[config]) / seconds / 1e9
        rows.append((config, seconds * 1e3, gflops, ratio))
    return rows


def main() -> int:
    start = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    reason = no_gpu_reason(env)
    if reason:
        print(f"gpu-check: skipped: {reason}; nothing run (the simulator's CUDA tests run in "
              f"`make test`)")
        return 0
    os.environ.pop("NUMBA_ENABLE_CUDASIM", None)
    from numba import cuda

    gpu = cuda.get_current_device().name
    gpu = gpu.decode() if isinstance(gpu, bytes) else str(gpu)
    counts, test_seconds, passed = _run_tests(env, TEST_BUDGET)
    rows = _run_bench(start + BUDGET - 30.0)
    total = time.perf_counter() - start
    print(summary(gpu, counts, test_seconds, rows, total))
    from bench import gpu_lstm

    return 0 if passed and total <= BUDGET and len(rows) == len(gpu_lstm.CONFIGS) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
