"""Side-by-side timing of minigrad against PyTorch, JAX and HIPS autograd.

    python -m bench.compare [--suite engine|recurrent|compile|all] [--repeats N] [--out FILE.json]
                            [--markdown] [--libraries minigrad,torch,...] [--threads N]
                            [--rounds N] [--only WORDS] [--quiet-wait S] [--clock wall|cpu]
                            [--tiny] [--render FILE.json]

On a machine shared with other work use --threads 1 and --rounds 3 (see docs/performance.md).

Every (library, case) runs in its own subprocess, because torch and JAX loaded into one process
slow each other down. A worker builds inputs from fixed seeds, warms up (JIT compilation and
first calls are never timed), times repeated calls with time.perf_counter (and the process's CPU
time) and prints one JSON line per case. The parent prints tables with ratios against minigrad.

The worker protocol is used by lstm.experiments.speed too, so keep it stable:
``python -m bench.compare --worker LIBRARY CASES_JSON [--repeats N] [--budget S] [--warmup N]``
prints one line per case: {"library", "id", "case", "status": ok|skipped|error, "reason",
"time": {median_s, min_s, max_s, iqr_s, repeats, cpu_median_s, cpu_min_s}, "variants",
"check", "memory", "maxrss_mb", "version"}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bench import peers
from bench.peers import LIBRARIES, case_id
from bench.peers.machine import (
    cpu_busy,
    machine_meta,
    startup_times,
    wait_for_quiet,
    worker_env,
)

ROOT = Path(__file__).resolve().parent.parent
RECURRENT_CONFIGS = [(32, 100, 32, 128), (16, 1000, 2, 128), (64, 200, 64, 256)]
SCALING_T = (100, 200, 500, 1000, 2000)


# ---- cases --------------------------------------------------------------------------------------
def engine_cases(tiny: bool) -> list[tuple[dict, list[str]]]:
    """(case, libraries) pairs of issue 2: the recorded-op overhead and the composed LSTM."""
    op = {
        "suite": "engine",
        "kind": "op",
        "shape": [4, 8] if tiny else [32, 128],
        "chain": 5 if tiny else 100,
        "repeats_scale": 10,
    }
    B, T, I, H = (4, 6, 3, 8) if tiny else (32, 100, 32, 128)
    lstm = {"suite": "engine", "kind": "composed_lstm", "B": B, "T": T, "I": I, "H": H}
    return [(op, ["minigrad", "torch"]), (lstm, ["minigrad", "torch", "autograd", "jax"])]


def recurrent_cases(tiny: bool) -> list[tuple[dict, list[str]]]:
    """(case, libraries) pairs of issue 3: training steps per model and config, and the T sweep."""
    configs = [(3, 7, 2, 8)] if tiny else RECURRENT_CONFIGS
    everyone = ["minigrad", "minigrad-composed", "torch", "jax", "autograd"]
    cases = []
    for model in ("lstm", "gru", "rnn"):
        for B, T, I, H in configs:
            case = {
                "suite": "recurrent",
                "kind": "train_step",
                "model": model,
                "B": B,
                "T": T,
                "I": I,
                "H": H,
                "memory": True,
            }
            cases.append((case, everyone))
    for T in (5, 10, 20) if tiny else SCALING_T:
        case = {
            "suite": "scaling",
            "kind": "train_step",
            "model": "lstm",
            "B": 16,
            "T": T,
            "I": 2,
            "H": 8 if tiny else 128,
        }
        cases.append((case, ["minigrad", "torch"]))
    return cases


def compile_cases(tiny: bool) -> list[tuple[dict, list[str]]]:
    """(case, libraries) pairs of issue 18: a plain-loop LSTM and an adding step, compiled and
    eager, against torch eager and torch.compile."""
    B, T, I, H = (4, 6, 3, 8) if tiny else (32, 100, 32, 128)
    every = ["minigrad-eager", "minigrad-compile", "torch-eager", "torch-compile"]
    lstm = {"suite": "compile", "kind": "compile_lstm", "B": B, "T": T, "I": I, "H": H}
    adding = {"suite": "compile", "kind": "adding_step", "B": B, "T": T, "H": H}
    ln_adding = {**adding, "kind": "ln_adding_step"}  # lstm-ln's cell as a plain loop
    preset = "quick" if tiny else "default"
    charlm = {"suite": "compile", "kind": "charlm_step", "preset": preset, "B": 32, "T": 100,
              "I": 32 if tiny else 64, "H": 128 if tiny else 256}
    adam = {**charlm, "kind": "adam_step"}
    return [(lstm, every), (adding, every), (ln_adding, ["minigrad-eager", "minigrad-compile"]),
            (charlm, ["minigrad-eager", "minigrad-compile",
                                                      "torch-eager"]),
            (adam, ["minigrad-eager", "torch-eager"])]


# ---- parent -------------------------------------------------------------------------------------
def run_worker(label: str, cases: list[dict], args) -> list[dict]:
    """Run one worker subprocess; its JSON lines, or an error record per case if it died.

    Each record notes how busy the machine was just before (other sessions share it)."""
    busy = (
        (wait_for_quiet(args.max_busy, args.quiet_wait) if args.quiet_wait > 0 else cpu_busy(0.2))
        if Path("/proc/stat").exists()
        else None
    )
    command = [
        sys.executable,
        "-m",
        "bench.compare",
        "--worker",
        label,
        json.dumps(cases),
        "--repeats",
        str(args.repeats),
        "--budget",
        str(args.budget),
        "--warmup",
        str(args.warmup),
        "--warmup-seconds",
        str(args.warmup_seconds),
    ]
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=worker_env(ROOT, args.threads),
            capture_output=True,
            text=True,
            timeout=args.timeout,
        )
        records = [
            json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"library"')
        ]
        failure = f"worker exited {done.returncode}: {done.stderr.strip()[-600:]}"
    except subprocess.TimeoutExpired:
        records, failure = [], f"worker timed out after {args.timeout} s"
    seen = {r["id"] for r in records}
    records += [
        {"library": label, "id": case_id(c), "case": c, "status": "error", "reason": failure}
        for c in cases
        if case_id(c) not in seen
    ]
    for r in records:
        r["cpu_busy_before"] = busy
    return records


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        from bench.peers.worker import worker

        worker(
            args.worker,
            json.loads(args.cases),
            {
                "repeats": args.repeats,
                "budget_s": args.budget,
                "warmup": args.warmup,
                "warmup_s": args.warmup_seconds,
            },
        )
        return 0
    from bench.peers.tables import render, scaling_fits

    if args.render:  # tables of an earlier run, e.g. by the other clock
        print(render(json.loads(Path(args.render).read_text()), args.markdown, args.clock))
        return 0
    report = measure(args, argv)
    print(render(report, markdown=args.markdown, clock=args.clock))
    report["scaling_fit"] = {
        clock: scaling_fits(report["results"], clock) for clock in ("wall", "cpu")
    }
    if args.out:  # temp file, fsync, rename: a kill leaves the old report or the new one
        from lstm.runs.checkpoint import atomic_write

        text = json.dumps(report, indent=1).encode()
        atomic_write(args.out, lambda f: f.write(text))
    return 0


def measure(args: argparse.Namespace, argv: list[str]) -> dict:
    """Run the chosen suites (each library and case in its own process) and the start-up runs."""
    from tqdm import tqdm

    labels = args.libraries.split(",") if args.libraries else list(LIBRARIES)
    unknown = sorted(set(labels) - set(LIBRARIES))
    if unknown:
        raise SystemExit(f"--libraries: unknown {unknown}; known: {sorted(LIBRARIES)}")
    jobs = []
    if args.suite in ("engine", "all"):
        jobs += engine_cases(args.tiny)
    if args.suite in ("recurrent", "all"):
        jobs += recurrent_cases(args.tiny)
    if args.suite == "compile":  # not in "all": torch.compile alone takes minutes per case
        jobs += compile_cases(args.tiny)
    jobs = [
        (case, [lb for lb in libs if lb in labels])
        for case, libs in jobs
        if not args.only or any(word in case_id(case) for word in args.only.split(","))
    ]
    meta = machine_meta(ROOT, argv, args.threads)
    results: list[dict] = []
    if args.batch:  # one process per library for all its cases: quicker, for smoke tests
        for label in tqdm(labels, desc="libraries", file=sys.stderr):
            results += run_worker(label, [c for c, libs in jobs if label in libs], args)
    else:
        total = args.rounds * sum(len(libs) for _, libs in jobs)
        with tqdm(total=total, file=sys.stderr) as bar:
            for round_index in range(args.rounds):
                for case, libs in jobs:
                    # the libraries of a case run back to back (fair ratios), in turn first
                    for label in libs[round_index % len(libs) :] + libs[: round_index % len(libs)]:
                        bar.set_description(f"round {round_index + 1}: {label}: {case_id(case)}")
                        results += run_worker(label, [case], args)
                        bar.update()
        results = merge_rounds(results) if args.rounds > 1 else results
    startup = []
    if args.suite in ("engine", "all") and args.startup_runs > 0:
        startup = startup_times(
            ROOT,
            [lb for lb in labels if lb != "minigrad-composed"],
            args.startup_runs,
            args.threads,
        )
    meta["loadavg_after"] = list(os.getloadavg())
    return {"meta": meta, "results": results, "startup": startup}


def merge_rounds(records: list[dict]) -> list[dict]:
    """One record per (library, case) from several rounds: the median of the rounds' medians
    (by each clock), the smallest min, the largest max, the rounds' medians' IQR; the rounds
    themselves are kept under 'rounds'."""
    merged: dict[tuple, list[dict]] = {}
    for r in records:
        key = (r["library"], json.dumps(r["case"], sort_keys=True))
        merged.setdefault(key, []).append(r)
    out = []
    for group in merged.values():
        ok = [r for r in group if r["status"] == "ok"]
        if not ok:
            out.append(group[0])
            continue
        record = dict(ok[0], rounds=[r["time"] for r in ok])
        record["time"] = _merge_stats([r["time"] for r in ok])
        record["variants"] = {
            name: _merge_stats([r["variants"][name] for r in ok]) for name in ok[0]["variants"]
        }
        out.append(record)
    return out


def _merge_stats(stats: list[dict]) -> dict:
    medians = [s["median_s"] for s in stats]
    merged = peers.summarize(medians, [s["cpu_median_s"] for s in stats if "cpu_median_s" in s])
    merged.update(
        min_s=min(s["min_s"] for s in stats),
        max_s=max(s["max_s"] for s in stats),
        repeats=sum(s["repeats"] for s in stats),
        rounds=len(stats),
    )
    if all("cpu_min_s" in s for s in stats):
        merged["cpu_min_s"] = min(s["cpu_min_s"] for s in stats)
    return merged


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n")[0])
    p.add_argument("--suite", choices=("engine", "recurrent", "compile", "all"), default="all")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per case (upper bound)")
    p.add_argument("--budget", type=float, default=15.0,
                   help="seconds of timed calls per case before stopping early (min 3 calls)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls before timing, at least")
    p.add_argument("--warmup-seconds", type=float, default=1.0,
                   help="keep warming up until this many seconds have passed (max 50 calls)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per worker process")
    p.add_argument(
        "--threads",
        type=int,
        default=peers.THREADS,
        help="threads per library (BLAS, OpenMP, Numba, torch)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every case this many times, libraries interleaved, and report the "
        "median of the rounds' medians (steadier on a shared machine)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each worker, wait up to this long for the machine to be quiet "
        "(at most --max-busy of the cores busy)",
    )
    p.add_argument(
        "--max-busy",
        type=float,
        default=0.25,
        help="the busy fraction of all cores that counts as quiet (default 0.25)",
    )
    p.add_argument(
        "--only",
        help="comma-separated words; run only cases whose id contains one "
        "(e.g. 'mul,composed' or 'gru B=32')",
    )
    p.add_argument("--libraries", help=f"comma-separated subset of {','.join(LIBRARIES)}")
    p.add_argument("--startup-runs", type=int, default=5, help="process start-up runs (engine)")
    p.add_argument("--out", help="write all results as JSON here")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables")
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="which median the tables show and compare: wall time, or the process's "
        "CPU time (steadier on a shared machine; use with --threads 1)",
    )
    p.add_argument("--render", metavar="FILE.json", help="print the tables of an earlier --out")
    p.add_argument("--tiny", action="store_true", help="tiny sizes: checks the harness only")
    p.add_argument("--batch", action="store_true", help="one process per library, not per case")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("cases", nargs="?", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.rounds < 1:
        p.error(f"--rounds must be >= 1, got {args.rounds}")
    return args


if __name__ == "__main__":
    sys.exit(main())
