"""Why a training step's time moves between processes (issue 21: the fused GRU at T 1000 took
62-109 ms in processes minutes apart): fresh processes, each timing many steps, and for each
what its threads did.

    python -m bench.step_spread [--model gru] [--seq-len 1000] [--processes 6] [--seconds 6]

Each process builds ``bench.scan_speed``'s step of --model (B 32, I 32, H 128), runs 3 untimed
steps, then steps for --seconds, timing each on the wall clock and the process's CPU clock. It
reports, per process: the median, fastest and slowest step; its CPU per step and CPU / wall (2
for two threads always on a core, lower where a thread waited); the host's steal time over the
steps (/proc/stat: time the hypervisor ran something else on our vCPUs); the threads' CPU
seconds and involuntary context switches (/proc/self/task); and where the fused loops' arrays
lie (address mod 64 and mod 4096 of the arrays ``cpu_runtime.run`` hands its threads, the first
call of each kernel), which differ from process to process.

How to read it (``verdict``): when the processes' medians spread far more than the steps inside
each process do, the cause is a property of the process (its arrays' placement, its threads'
cores), not the machine's minute; then CPU per step moving with the wall clock says more work
(placement in memory: aliasing, alignment), CPU per step constant with the wall moving says
waiting (a thread off its core: scheduling, steal).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def _steal_ticks() -> int:
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return int(fields[8]) if len(fields) > 8 else 0


def _threads() -> dict:
    """{thread id: (CPU seconds, involuntary context switches)} of this process."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
            with open(f"/proc/self/task/{tid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[tid] = ((int(fields[11]) + int(fields[12])) / tick,
                    int(status.get("nonvoluntary_ctxt_switches", "0").strip()))
    return out


def worker(model: str, steps: int, seconds: float) -> dict:
    """One process's record (run in a fresh process)."""
    from bench.scan_speed import _train_step
    from minigrad.compiler import cpu_runtime

    placement: dict = {}
    run = cpu_runtime.run

    def recording_run(fn, calls):
        name = getattr(fn, "__name__", repr(fn))
        if name not in placement:
            placement[name] = [[a.ctypes.data % 64, a.ctypes.data % 4096] for a in calls[0]
                               if isinstance(a, np.ndarray) and a.nbytes >= 4096]
        return run(fn, calls)

    cpu_runtime.run = recording_run
    try:
        step = _train_step(model, steps)
        for _ in range(3):
            step()
        before, steal0 = _threads(), _steal_ticks()
        wall, cpu = [], []
        start = time.perf_counter()
        while time.perf_counter() - start < seconds or len(wall) < 5:
            w0, c0 = time.perf_counter(), time.process_time()
            step()
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        after, steal1 = _threads(), _steal_ticks()
    finally:
        cpu_runtime.run = run
    busy = sorted(((after[t][0] - before.get(t, (0, 0))[0], after[t][1] - before.get(t, (0, 0))[1])
                   for t in after), reverse=True)
    return {"wall": wall, "cpu": cpu, "steal_s": (steal1 - steal0) / os.sysconf("SC_CLK_TCK"),
            "threads": [b for b in busy if b[0] > 0.01], "placement": placement}


def summary(records: list[dict]) -> dict:
    """The spread between the processes' medians against the spread inside each, and whether the
    CPU per step follows the wall clock (see the module's docstring)."""
    medians = np.array([np.median(r["wall"]) for r in records])
    cpus = np.array([np.median(r["cpu"]) for r in records])
    inside = float(np.median([np.percentile(r["wall"], 90) / np.percentile(r["wall"], 10)
                              for r in records]))
    between = float(medians.max() / medians.min())
    cpu_spread = float(cpus.max() / cpus.min())
    if between >= 1.1 and between - 1 > 2 * (inside - 1):
        verdict = "between processes: " + ("more work (the CPU per step follows the wall)"
                                           if cpu_spread - 1 > 0.5 * (between - 1) else
                                           "waiting (the CPU per step steady, the wall moves)")
    elif inside >= 1.1:
        verdict = "inside processes as much as between: the machine's minute, not the process"
    else:
        verdict = "steady: no spread between processes or inside them"
    return {"between": between, "inside": inside, "cpu_spread": cpu_spread, "verdict": verdict}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gru")
    parser.add_argument("--seq-len", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.model, args.seq_len, args.seconds)))
        return
    records = []
    print(f"{args.model} T {args.seq_len}; load {os.getloadavg()}; ms")
    print(f"{'process':>8} {'steps':>6} {'median':>8} {'fastest':>8} {'slowest':>8} {'CPU':>7} "
          f"{'CPU/wall':>9} {'steal':>6}  threads (CPU s, involuntary switches); placement")
    for k in range(args.processes):
        command = [sys.executable, "-m", "bench.step_spread", "--worker", "--model", args.model,
                   "--seq-len", str(args.seq_len), "--seconds", str(args.seconds)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        records.append(r)
        wall, cpu = np.array(r["wall"]) * 1e3, np.array(r["cpu"]) * 1e3
        print(f"{k:>8} {len(wall):>6} {np.median(wall):8.1f} {wall.min():8.1f} {wall.max():8.1f} "
              f"{np.median(cpu):7.1f} {np.median(cpu) / np.median(wall):9.2f} "
              f"{r['steal_s'] * 1e3:6.0f}  {[(round(c, 2), s) for c, s in r['threads']]}; "
              f"{ {name: [p[0] for p in v] for name, v in r['placement'].items()} }")
    s = summary(records)
    print(f"between processes (slowest median / fastest) {s['between']:.2f}x, inside a process "
          f"(90th / 10th percentile, median of the processes) {s['inside']:.2f}x, CPU per step "
          f"{s['cpu_spread']:.2f}x: {s['verdict']}; load {os.getloadavg()}")


if __name__ == "__main__":
    main()
