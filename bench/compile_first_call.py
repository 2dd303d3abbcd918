"""mg.compile's first call in a fresh process, cold (empty kernel caches) and warm (the caches a
first process left), for the steps of bench.benchmarks_whole_compile.

    python -m bench.compile_first_call [--step plain_lstm|adding] [--T 100] [--runs 2]
                                       [--kernels N]

Each run is a new Python process with MINIGRAD_CACHE_DIR, MINIGRAD_KERNEL_DIR and NUMBA_CACHE_DIR
pointing into one temporary directory: the first run finds them empty (every Numba kernel of the
backends, the cell compiler and the fusion is compiled), the later runs find what it cached. A run
reports: seconds to import minigrad and build the step, the first call of mg.compile (the trace:
one eager call under the recorder, the rewrites, the fused kernels compiled or loaded, the
program's source generated), its second call (the program's first run: Numba compiles or loads the
fused kernels there), their sum (the compile target of issue 18: <= 10 s cold, <= 1 s warm), each
also in the process's CPU seconds (what a loaded machine inflates less), and how many fused
kernels Numba compiled rather than loaded. A second
process traces again: programs hold live objects (the parameters, the optimizer), so what is cached
on disk are the generated kernels, not the programs. ``--kernels N`` also lists, per run, the N
Numba functions whose compiles took the most CPU seconds (bench/compile_kernels.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker(step_name: str, T: int, top: int = 0) -> dict:
    started = time.perf_counter()
    if top:
        from bench.compile_kernels import KernelTimes

        times = KernelTimes().install()
    import minigrad as mg
    from bench.benchmarks_whole_compile import build_step

    step, args = build_step(step_name, T)
    ready = time.perf_counter()
    compiled = mg.compile(step)
    t0, c0 = time.perf_counter(), time.process_time()
    compiled(*args)
    first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    compiled(*args)
    second, second_cpu = time.perf_counter() - t0, time.process_time() - c0
    from numba.core.registry import CPUDispatcher

    kernels = [v for p in compiled.programs() for v in p.function.__globals__.values()
               if isinstance(v, CPUDispatcher)]
    compiled_kernels = sum(sum(k.stats.cache_misses.values()) for k in kernels)
    return {"step": step_name, "T": T, "import_and_build_s": ready - started,
            "first_compiled_call_s": first, "first_compiled_call_cpu_s": first_cpu,
            "second_compiled_call_s": second, "second_compiled_call_cpu_s": second_cpu,
            "fused_kernels": len(kernels),
            "fused_kernels_compiled": compiled_kernels, "traces": compiled.cache_info().traces,
            "kernels": times.rows(top) if top else []}


def cache_env(tmp: str) -> dict:
    """The environment of a worker whose kernel caches live under tmp (empty: cold)."""
    return dict(os.environ, MINIGRAD_CACHE_DIR=f"{tmp}/mg", MINIGRAD_KERNEL_DIR=f"{tmp}/k",
                NUMBA_CACHE_DIR=f"{tmp}/numba", PYTHONPATH=str(ROOT))


def run_worker(step_name: str, T: int, env: dict, kernels: int = 0) -> dict:
    """worker() in a new Python process with env."""
    done = subprocess.run([sys.executable, "-m", "bench.compile_first_call", "--worker",
                           step_name, str(T), str(kernels)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--step", choices=("plain_lstm", "adding"), default="plain_lstm")
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--kernels", type=int, default=0, metavar="N",
                   help="list the N Numba functions whose compiles took the most CPU per run")
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))),
              flush=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        env = cache_env(tmp)
        print("| run | caches | import + build s | first compiled call s (CPU) | second call s "
              "(CPU) | compile: both calls s (CPU) | fused kernels (compiled) | process |\n"
              "|---|---|---|---|---|---|---|---|")
        runs = []
        for run in range(args.runs):
            started = time.perf_counter()
            r = run_worker(args.step, args.T, env, args.kernels)
            runs.append(r)
            print(f"| {run + 1} | {'cold' if run == 0 else 'warm'} | "
                  f"{r['import_and_build_s']:.2f} | "
                  f"{r['first_compiled_call_s']:.2f} ({r['first_compiled_call_cpu_s']:.2f}) | "
                  f"{r['second_compiled_call_s']:.3f} ({r['second_compiled_call_cpu_s']:.3f}) | "
                  f"{r['first_compiled_call_s'] + r['second_compiled_call_s']:.2f} "
                  f"({r['first_compiled_call_cpu_s'] + r['second_compiled_call_cpu_s']:.2f}) | "
                  f"{r['fused_kernels']} ({r['fused_kernels_compiled']}) | "
                  f"{time.perf_counter() - started:.1f} s |", flush=True)
    for run, r in enumerate(runs):
        if r["kernels"]:
            print(f"\nrun {run + 1}: Numba's compiles (CPU s of the compiling thread)\n\n"
                  "| function | compiles | own s | with callees s | LLVM s | first caller |\n"
                  "|---|---|---|---|---|---|")
            for k in r["kernels"]:
                print(f"| {k['function']} | {k['compiles']} | {k['own_s']:.2f} | "
                      f"{k['with_callees_s']:.2f} | {k['llvm_s']:.2f} | "
                      f"{k['first_caller'] or ''} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
