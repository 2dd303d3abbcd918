"""The compiled character-model step (bench.charlm_speed's minigrad-compile) with an environment
variable's values alternated call by call in one process: an A/B of a setting the runtime reads
at each call (MINIGRAD_SEQUENCE_GEMM, MINIGRAD_STEP_GEMM), the same program, weights and cores
for every value, so a busy machine's drift falls on all of them alike.

    python -m bench.charlm_env_ab --variable MINIGRAD_SEQUENCE_GEMM --values blas,micro
                                  [--threads 2] [--steps 12] [--preset default]

One worker process (threads pinned as charlm_speed's workers) traces the step once, calls it
twice per value untimed, then `steps` rounds of one call per value. Prints per value the wall
clock and the process's CPU time a step (minimum, 25th percentile, median; CPU counts every
thread, so on a loaded machine it is the figure to read), the ratio of the medians to the first
value's, the load average, and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(variable: str, values: list[str], steps: int, preset: str) -> dict:
    """{value: {"wall_ms": [...], "cpu_ms": [...]}} of `steps` alternated calls per value."""
    import minigrad as mg
    from bench import charlm_speed as cs
    from lstm.apps.charlm.cli import PRESETS

    config = {k: v for k, v in PRESETS[preset].items() if k != "ngram_max_order"}
    vocab_size, inputs, targets = cs.training_batches(config)
    model, opt = cs._minigrad_model(config, vocab_size)
    train = cs.compiled_train_step(model, opt)
    shape = (config["num_layers"], config["batch_size"], config["hidden_size"])
    state = (mg.zeros(shape), mg.zeros(shape))
    batches = len(inputs) // config["bptt"]
    times = {value: {"wall_ms": [], "cpu_ms": []} for value in values}
    call = 0
    for round_index in range(steps + 2):
        for value in values:
            os.environ[variable] = value
            rows = slice((call % batches) * config["bptt"], (call % batches + 1) * config["bptt"])
            x, y = mg.tensor(inputs[rows]), mg.tensor(targets[rows])
            call += 1
            wall, cpu = time.perf_counter(), time.process_time()
            train(x, y, *state)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if round_index >= 2:
                times[value]["wall_ms"].append(wall * 1e3)
                times[value]["cpu_ms"].append(cpu * 1e3)
    return times


def _quartile(values):
    return statistics.quantiles(values, n=4)[0] if len(values) > 1 else values[0]


def report(variable: str, times: dict, load) -> str:
    first = next(iter(times))
    lines = [f"## {variable}, alternated call by call (load {load[0]:.1f} before, "
             f"{load[1]:.1f} after)", "",
             "| value | wall ms: min / p25 / median | CPU ms: min / p25 / median | "
             "CPU median / first's |", "|---|---|---|---|"]
    base = statistics.median(times[first]["cpu_ms"])
    for value, t in times.items():
        w, c = t["wall_ms"], t["cpu_ms"]
        lines.append(f"| {value} | {min(w):.1f} / {_quartile(w):.1f} / {statistics.median(w):.1f}"
                     f" | {min(c):.1f} / {_quartile(c):.1f} / {statistics.median(c):.1f} | "
                     f"{statistics.median(c) / base:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variable", required=True)
    parser.add_argument("--values", required=True, help="comma-separated, at least two")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--preset", default="default", choices=("quick", "default"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    values = [v for v in args.values.split(",") if v]
    if len(values) < 2 or args.steps < 1 or args.threads < 1:
        parser.error("--values needs two or more values; --steps and --threads >= 1")
    if args.worker:
        print(json.dumps(measure(args.variable, values, args.steps, args.preset)))
        return
    from bench.peers.machine import worker_env

    before = os.getloadavg()
    done = subprocess.run(
        [sys.executable, "-m", "bench.charlm_env_ab", "--worker", "--variable", args.variable,
         "--values", args.values, "--steps", str(args.steps), "--preset", args.preset],
        capture_output=True, text=True, cwd=ROOT, env=worker_env(ROOT, args.threads),
        timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"worker failed:\n{done.stderr[-2000:]}")
    times = json.loads(done.stdout.strip().splitlines()[-1])
    load = (before[0], os.getloadavg()[0])
    print(report(args.variable, times, load))
    print(json.dumps({"command": "python -m bench.charlm_env_ab " + " ".join(sys.argv[1:]),
                      "variable": args.variable, "threads": args.threads,
                      "preset": args.preset, "load": load, "times": times}))


if __name__ == "__main__":
    main()
