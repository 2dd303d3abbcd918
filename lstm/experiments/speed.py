"""Training-step time against sequence length: minigrad's layers in this process, the peers
(torch, JAX, HIPS autograd) through the repository's bench/ harness in subprocesses.

A training step here is what bench/compare.py times, so the numbers sit side by side: one
forward + backward of out.sum() through one recurrent layer (x requiring a gradient), float32,
time-major (T, B, I). Each measurement is the median of timed calls (time.perf_counter) after
untimed warm-up calls, so Numba compilation and first-call costs are never timed. Results are
JSON lines in a results file, keyed like sweep runs, so a rerun measures only what is missing.

The peers run as `python -m bench.compare --worker LIBRARY CASES` in a subprocess with the
repository root on PYTHONPATH: lstm never imports bench (dependencies point bench -> lstm).
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import minigrad as mg

from ..layers import GRU, LSTM, RNN, flops_per_step
from ..progress import bar as progress_bar
from ..runs.results_io import make_row, repair
from .sweep import append_result, read_results, run_key

LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
PEERS = ("torch", "jax", "autograd")  # bench.compare's library labels = their import names
THREADS = 2


def time_train_step(model: str, impl: str, seq_len: int, batch_size: int = 32,
                    input_size: int = 32, hidden_size: int = 128, repeats: int = 5,
                    warmup: int = 2, budget_s: float = 2.0, seed: int = 0) -> dict:
    """Seconds per forward + backward of out.sum() through LAYERS[model](impl=impl).

    `warmup` untimed calls, then up to `repeats` timed ones (at least 3 unless repeats < 3),
    stopping early once `budget_s` seconds of timed calls have passed. Returns the median, min,
    max, the count and GFLOP/s of the GEMM flops (lstm.flops_per_step).
    """
    if model not in LAYERS:
        raise ValueError(f"model must be one of {tuple(LAYERS)}, got {model!r}")
    for name, value in {"seq_len": seq_len, "batch_size": batch_size, "repeats": repeats,
                        "input_size": input_size, "hidden_size": hidden_size}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    rng = np.random.default_rng(seed)
    layer = LAYERS[model](input_size, hidden_size, impl=impl, rng=rng)
    x = mg.tensor(rng.standard_normal((seq_len, batch_size, input_size)).astype(np.float32),
                  requires_grad=True)

    def step():
        layer.zero_grad()
        x.grad = None
        out = layer(x)[0]
        out.sum().backward()

    for _ in range(warmup):
        step()
    seconds: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(seconds) < repeats:
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
        if len(seconds) >= min(3, repeats) and time.perf_counter() > deadline:
            break
    median = statistics.median(seconds)
    flops = flops_per_step(model, batch_size, seq_len, input_size, hidden_size)
    return {"median_s": median, "min_s": min(seconds), "max_s": max(seconds),
            "repeats": len(seconds), "gflops": flops / median / 1e9}


def speed_configs(models, seq_lens, impls=("fused", "composed"), composed_max_len=None,
                  batch_size=32, input_size=32, hidden_size=128) -> list[dict]:
    """One config per (library, model, seq_len): minigrad's impls, composed capped in length."""
    configs = []
    for impl in impls:
        for model in models:
            for seq_len in seq_lens:
                if impl == "composed" and composed_max_len and seq_len > composed_max_len:
                    continue
                configs.append({"library": "minigrad", "impl": impl, "model": model,
                                "seq_len": int(seq_len), "batch_size": batch_size,
                                "input_size": input_size, "hidden_size": hidden_size})
    return configs


def run_speed(configs: list[dict], results_path: str, repeats: int = 5, warmup: int = 2,
              budget_s: float = 2.0, progress: bool = True) -> list[dict]:
    """Time each minigrad config not yet in `results_path`, one at a time in this process
    (timings in parallel would share the cores); returns the rows of all `configs`."""
    repair(results_path)
    done = {row["key"]: row for row in read_results(results_path)}
    rows = []
    for config in progress_bar(progress, iterable=configs, desc="speed minigrad", unit="case"):
        key = run_key("speed", config)
        if key not in done:
            load = os.getloadavg()[0]
            timing = time_train_step(config["model"], config["impl"], config["seq_len"],
                                     config["batch_size"], config["input_size"],
                                     config["hidden_size"], repeats, warmup, budget_s)
            done[key] = make_row("speed", config, {"status": "ok", **timing,
                                                   "loadavg_1min": load})
            append_result(results_path, done[key])
        rows.append(done[key])
    return rows


# ---- the peers, through bench/ ------------------------------------------------------------------
def bench_root() -> Path | None:
    """The repository root when bench/compare.py sits next to the lstm package, else None."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "bench" / "compare.py").is_file() else None


def installed_peers(peers=PEERS) -> list[str]:
    """The peers importable here (found without importing them)."""
    return [name for name in peers if importlib.util.find_spec(name) is not None]


def peer_case(config: dict) -> dict:
    """bench.compare's case for a speed config (its 'train_step' kind: the same unit of work)."""
    return {"suite": "report", "kind": "train_step", "model": config["model"],
            "B": config["batch_size"], "T": config["seq_len"], "I": config["input_size"],
            "H": config["hidden_size"]}


def run_peers(configs: list[dict], results_path: str, root: Path, repeats: int = 5,
              warmup: int = 2, budget_s: float = 2.0, timeout_s: float = 300.0,
              progress: bool = True) -> list[dict]:
    """Time peer configs (config['library'] in PEERS) not yet in `results_path`: one bench
    worker subprocess per library for all of its missing cases. Rows that failed (an error, a
    crash, a timeout) are returned but not stored, so a rerun tries them again."""
    repair(results_path)
    done = {row["key"]: row for row in read_results(results_path)}
    missing: dict[str, list[dict]] = {}
    for config in configs:
        if run_key("speed", config) not in done:
            missing.setdefault(config["library"], []).append(config)
    failed: dict[str, dict] = {}
    for library in progress_bar(progress, iterable=list(missing), desc="speed peers",
                                unit="library"):
        todo = missing[library]
        load = os.getloadavg()[0]
        for config, result in zip(todo, _bench_worker(library, todo, root, repeats, warmup,
                                                      budget_s, timeout_s)):
            result["loadavg_1min"] = load
            key = run_key("speed", config)
            row = make_row("speed", config, result)
            if result["status"] == "error":
                failed[key] = row
            else:
                done[key] = row
                append_result(results_path, row)
    return [done.get(key) or failed[key] for key in (run_key("speed", c) for c in configs)]


def _bench_worker(library: str, configs: list[dict], root: Path, repeats: int, warmup: int,
                  budget_s: float, timeout_s: float) -> list[dict]:
    """One `python -m bench.compare --worker` process; a result dict per config, in order."""
    cases = [peer_case(c) for c in configs]
    command = [sys.executable, "-m", "bench.compare", "--worker", library, json.dumps(cases),
               "--repeats", str(repeats), "--budget", str(budget_s), "--warmup", str(warmup)]
    threads = {k: str(THREADS) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                         "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}
    env = dict(os.environ, **threads)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    failure = None
    try:
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                              timeout=timeout_s)
        records = [json.loads(line) for line in done.stdout.splitlines()
                   if line.startswith('{"library"')]
        if done.returncode != 0:
            failure = f"worker exited {done.returncode}: {done.stderr.strip()[-400:]}"
    except subprocess.TimeoutExpired:
        records, failure = [], f"worker timed out after {timeout_s:.0f} s"
    by_case = {json.dumps(r["case"], sort_keys=True): r for r in records}
    results = []
    for config, case in zip(configs, cases):
        record = by_case.get(json.dumps(case, sort_keys=True))
        if record is None:
            results.append({"status": "error", "reason": failure or "no output for this case"})
        elif record.get("status") != "ok":
            results.append({"status": record.get("status", "error"),
                            "reason": record.get("reason", "")})
        else:
            median = record["time"]["median_s"]
            flops = flops_per_step(config["model"], config["batch_size"], config["seq_len"],
                                   config["input_size"], config["hidden_size"])
            results.append({"status": "ok", "median_s": median, "min_s": record["time"]["min_s"],
                            "max_s": record["time"]["max_s"],
                            "repeats": record["time"]["repeats"], "gflops": flops / median / 1e9,
                            "version": record.get("version", "?")})
    return results
