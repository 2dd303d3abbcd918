"""Where the character model's training step goes, part by part, minigrad compiled next to torch
eager (the step of bench.charlm_speed, default preset), and how its threads spend the step.

    python -m bench.charlm_profile [--libraries minigrad-compile,torch] [--threads 2]
                                   [--steps 10] [--preset default]

Each library runs in its own process (threads pinned as bench.charlm_speed's workers) and times
`steps` steps after 3 untimed ones:
- minigrad-compile: every call of the compiled program by the backend function its source names
  (bench.profile_compiled's wrapper), the fused recurrences' runners split into their time loops
  (cpu_runtime.each_thread), the products over all steps (input projections and dx, split_tiles)
  and the weight gradients (weight_gemm); wall clock of the calling (main) thread, each part's
  median over the steps;
- torch: torch.profiler's operators over the same steps (self time, wall clock of the calling
  thread), per step;
  and the threads' hand-offs (cpu_runtime.run: how long after a parallel call the pool thread
  started its share, summed over the step; how long the main thread waited for it at the end;
  the number of such calls, shown in the ms column);
- both: per thread, from /proc/self/task/*/schedstat, the time on a core, the time runnable but
  waiting for one (a busy machine's share) and the rest of the step (blocked: a thread waiting
  for its partner or sleeping), per step. On a quiet machine "waiting for a core" is about 0 and
  the main thread's "blocked" is what the threads' hand-offs and imbalance cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("minigrad-compile", "torch")


def thread_times() -> dict:
    """{thread id: (seconds on a core, seconds runnable waiting for one)} of this process."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                ran, waited, _ = (int(v) for v in f.read().split())
        except (OSError, ValueError):
            continue
        out[tid] = (ran / 1e9, waited / 1e9)
    return out


def _setup(library: str, preset: str):
    """(step callable, batch inputs) of bench.charlm_speed's worker for library."""
    from bench import charlm_speed as cs
    from lstm.apps.charlm.cli import PRESETS

    config = {k: v for k, v in PRESETS[preset].items() if k != "ngram_max_order"}
    vocab_size, inputs, targets = cs.training_batches(config)
    return cs.BUILDERS[library](config, vocab_size, inputs, targets)[0]


def _instrument_minigrad(parts):
    """Wrap the runtime's parallel parts and every constant the compiled programs call; returns
    a function that wraps a program's constants (bench.profile_compiled's names)."""
    from bench.profile_compiled import names_of
    from minigrad.compiler import cpu_runtime

    def timer(fn, name):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                parts[name] += time.perf_counter() - start
        return wrapper

    for attr, name in (("each_thread", "  time loops (each_thread)"),
                       ("split_tiles", "  products over all steps (split_tiles)"),
                       ("weight_gemm", "  weight gradients (weight_gemm)")):
        setattr(cpu_runtime, attr, timer(getattr(cpu_runtime, attr), name))

    original_run = cpu_runtime.run

    def run(fn, calls):
        """cpu_runtime.run, recording each call's start and end on its thread: the pool threads'
        start after the submission (the hand-off) and the main thread's wait at the end."""
        if len(calls) == 1:
            return original_run(fn, calls)
        marks = []

        def marked(*args):
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                marks.append((threading.get_ident() == main_ident, start, time.perf_counter()))

        submitted = time.perf_counter()
        original_run(marked, calls)
        ended = time.perf_counter()
        others = [m for m in marks if not m[0]]
        mine = [m for m in marks if m[0]]
        if others and mine:
            parts["hand-offs: pool thread's start after the call"] += \
                max(m[1] for m in others) - submitted
            parts["hand-offs: main thread waiting at the end"] += ended - mine[0][2]
            parts["hand-offs: calls"] += 1e-3  # shown as a count (ms column)

    main_ident = threading.get_ident()
    cpu_runtime.run = run

    def wrap_programs(programs):
        for program in programs:
            namespace = program.function.__globals__
            for key, name in names_of(program.source).items():
                namespace[key] = timer(namespace[key], name)
    return wrap_programs


def worker(library: str, preset: str, steps: int) -> dict:
    """Time `steps` steps after 3 untimed ones; parts and threads per step (milliseconds)."""
    if library == "torch":
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    step = _setup(library, preset)
    for i in range(3):
        step(i)
    parts, per_step = defaultdict(float), defaultdict(list)
    walls = []
    if library == "torch":
        from torch.profiler import ProfilerActivity, profile

        before, start = thread_times(), time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(3, 3 + steps):
                step(i)
        wall = (time.perf_counter() - start) / steps
        after = thread_times()
        for event in prof.key_averages():
            if event.self_cpu_time_total > 0:
                per_step[event.key] = [event.self_cpu_time_total / 1e6 / steps]
        walls = [wall]
    else:
        wrap_programs = _instrument_minigrad(parts)
        wrap_programs(step.compiled.programs())
        before = thread_times()
        for i in range(3, 3 + steps):
            parts.clear()
            start = time.perf_counter()
            step(i)
            walls.append(time.perf_counter() - start)
            for name, seconds in parts.items():
                per_step[name].append(seconds)
        after = thread_times()
        wall = sum(walls) / steps
    main = str(os.getpid())
    threads = []
    for tid, (ran, waited) in after.items():
        ran -= before.get(tid, (0.0, 0.0))[0]
        waited -= before.get(tid, (0.0, 0.0))[1]
        if ran / steps > 5e-4:
            threads.append({"thread": "main" if tid == main else "other",
                            "on_core_ms": 1e3 * ran / steps, "waiting_for_core_ms":
                            1e3 * waited / steps,
                            "blocked_ms": 1e3 * (wall - (ran + waited) / steps)})
    return {"library": library, "step_ms": 1e3 * statistics.median(walls),
            "parts_ms": {k: 1e3 * statistics.median(v) for k, v in per_step.items()},
            "threads": sorted(threads, key=lambda t: -t["on_core_ms"]),
            "load": os.getloadavg()[0]}


def report(row: dict, top: int = 18) -> str:
    lines = [f"## {row['library']}: {row['step_ms']:.1f} ms per step (median, wall), load "
             f"{row['load']:.1f}", "", "| part | ms per step |", "|---|---|"]
    for name, ms in sorted(row["parts_ms"].items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {name} | {ms:.2f} |")
    lines += ["", "| thread | on a core | waiting for a core | blocked |", "|---|---|---|---|"]
    for t in row["threads"]:
        lines.append(f"| {t['thread']} | {t['on_core_ms']:.1f} | {t['waiting_for_core_ms']:.1f} "
                     f"| {t['blocked_ms']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--preset", default="default", choices=("quick", "default"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.preset, args.steps)), flush=True)
        return 0
    from bench.peers.machine import worker_env

    libraries = [name for name in args.libraries.split(",") if name]
    unknown = sorted(set(libraries) - set(LIBRARIES))
    if unknown or args.steps < 1 or args.threads < 1:
        parser.error(f"libraries from {list(LIBRARIES)} (unknown: {unknown}); steps and threads "
                     ">= 1")
    for library in libraries:
        done = subprocess.run([sys.executable, "-m", "bench.charlm_profile", "--worker", library,
                               "--preset", args.preset, "--steps", str(args.steps)],
                              capture_output=True, text=True, cwd=ROOT,
                              env=worker_env(ROOT, args.threads), timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"{library} worker failed:\n{done.stderr[-2000:]}")
        print(report(json.loads(done.stdout.strip().splitlines()[-1])), "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
