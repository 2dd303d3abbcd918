"""`lstm report`: run what is missing, then write report/index.html with its PNG figures.

Stages (each reuses what the results directory already holds, so a rerun only draws):
1. the sweep of the preset's plan (lstm.experiments.presets.preset_plan: the memory-horizon
   ladders, the recall tasks' runs, the gradient flow) into RESULTS/results.jsonl, in workers;
2. a small LSTM trained on adding until solved (RESULTS/inside/, checkpointed), traced;
3. training-step time against seq_len: minigrad in this process, the installed peers through
   bench/compare.py in subprocesses when bench/ sits next to the package (RESULTS/speed.jsonl);
4. asv's results over commits, when there are any;
5. figures and the page.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from .apps.registry import APPLICATIONS
from .experiments import presets
from .experiments.horizon import ladders_from_rows, outcomes, planned_first
from .experiments.inside import INSIDE_CONFIGS, run_inside
from .experiments.speed import (
    PEERS,
    bench_root,
    installed_peers,
    run_peers,
    run_speed,
    speed_configs,
)
from .experiments.sweep import read_results, run_sweep, versions
from .runs.config import TrainConfig

SPEED_BASE = {"models": ("rnn", "lstm", "gru"), "batch_size": 32, "input_size": 32,
              "hidden_size": 128, "warmup": 2}

# sweep: the lstm.experiments.presets name; workers: sweep processes (None: one per core, 2 max);
# peer_max_len: the longest seq_len timed per peer (autograd runs numpy op by op: slow)
REPORT_PRESETS = {
    "quick": {"sweep": "quick", "workers": None, "inside": INSIDE_CONFIGS["quick"],
              "peers": PEERS, "peer_max_len": {"autograd": 64},
              "speed": {**SPEED_BASE, "seq_lens": (16, 64, 256), "composed_max_len": 64,
                        "repeats": 5, "warmup": 1, "budget_s": 0.5}},
    "full": {"sweep": "default", "workers": None, "inside": INSIDE_CONFIGS["full"],
             "peers": PEERS, "peer_max_len": {"autograd": 256},
             "speed": {**SPEED_BASE, "seq_lens": (16, 64, 256, 1024), "composed_max_len": 256,
                       "repeats": 10, "budget_s": 3.0}},
}


class Stages:
    """One line per stage on stderr, with the time the previous stage took."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.n = total, enabled, 0
        self.started = self.last = time.perf_counter()
        self.seconds: dict[str, float] = {}
        self.name = None

    def __call__(self, name: str, detail: str = "") -> None:
        self._close()
        self.n += 1
        self.name = name
        if self.enabled:
            print(f"[report {self.n}/{self.total}] {name}{': ' + detail if detail else ''}",
                  file=sys.stderr, flush=True)

    def _close(self) -> None:
        now = time.perf_counter()
        if self.name is not None:
            self.seconds[self.name] = now - self.last
        self.last = now

    def finish(self) -> float:
        self._close()
        return time.perf_counter() - self.started


def build_report(out_dir: str = "report", preset: str = "quick", results_dir: str | None = None,
                 asv_results: str | None = None, progress: bool = True,
                 models: tuple = ()) -> str:
    """Run what `preset` needs that `results_dir` (default OUT/results) lacks and write
    OUT/index.html with its figures; returns the page's path. `models` (registered names or
    users' cells) join the preset's sweep and gradient flow beside its own."""
    from .reporting import figures
    from .reporting.asv_history import asv_history, read_asv_results
    from .reporting.gradient_figure import gradient_flow
    from .reporting.horizon_figure import horizon_section
    from .reporting.inside_figure import inside_section
    from .reporting.page import Section, report_dirs, write_page
    from .reporting.speed_figure import speed_section

    if preset not in REPORT_PRESETS:
        raise ValueError(f"preset must be one of {tuple(REPORT_PRESETS)}, got {preset!r}")
    if asv_results is not None and not os.path.isdir(asv_results):
        raise ValueError(f"asv_results must be an asv results directory (.asv/results), got "
                         f"{asv_results!r}, which is not a directory")
    settings = REPORT_PRESETS[preset]
    results_dir = report_dirs(out_dir, results_dir)
    stage = Stages(5, progress)

    plan = presets.preset_plan(settings["sweep"], extra_models=tuple(models))
    results_path = os.path.join(results_dir, "results.jsonl")
    stage("sweep", f"{len(plan.specs)} runs and {len(plan.ladders)} memory-horizon ladders of "
                   f"preset {settings['sweep']!r} -> {results_path}")
    rows = run_sweep(plan, results_path, workers=settings["workers"], progress=progress)
    train_rows = [r for r in rows if r["kind"] == "train"]
    flow_records = [rec for r in rows if r["kind"] == "gradflow" for rec in r["result"]["records"]]

    inside_config: TrainConfig = settings["inside"]
    stage("inside", f"{inside_config.model} H={inside_config.hidden_size} on adding "
                    f"T={inside_config.seq_len} until solved")
    inside = run_inside(os.path.join(results_dir, "inside"), inside_config, progress=progress)

    root = bench_root()
    peers = installed_peers(settings["peers"]) if root is not None else []
    stage("speed", f"seq_lens {list(settings['speed']['seq_lens'])}, minigrad fused + composed"
                   + (f", peers {peers} via bench/compare.py" if peers else ", no peers"))
    speed_rows = run_speed_stage(settings, os.path.join(results_dir, "speed.jsonl"), root,
                                 peers, progress)

    asv_dir = asv_results or _default_asv_dir(root)
    stage("asv", f"reading {asv_dir}" if asv_dir else "no asv results found")
    asv_rows = read_asv_results(asv_dir) if asv_dir else []

    stage("figures", f"-> {out_dir}")
    every_row = read_results(results_path)  # a horizon preset run into the same file shows too
    horizon = outcomes(every_row, planned_first(plan.ladders, ladders_from_rows(every_row)))
    sections = [horizon_section(every_row, horizon, out_dir),
                gradient_flow(flow_records, out_dir),
                figures.training_curves(train_rows, out_dir),
                figures.memory_horizon(train_rows, out_dir),
                speed_section(speed_rows, out_dir),
                inside_section(inside, out_dir)]
    for application in APPLICATIONS:  # the registry's order
        sections += application.sections(results_dir, out_dir, preset, progress)
    if asv_rows:
        sections.append(asv_history(asv_rows, out_dir))
    else:
        sections.append(Section("asv-history", "asv benchmark history", [], (
            f"No asv results{' in ' + asv_dir if asv_dir else ''}. Run \"asv run\" (over "
            "commits) or \"asv run -E existing --quick\" (the current tree), then \"lstm "
            "report --asv-results .asv/results\" to add this figure.")))
    elapsed = stage.finish()
    table, everything = run_settings(preset, results_dir, rows, speed_rows, inside, asv_dir,
                                     stage.seconds, elapsed)
    return write_page(out_dir, "minigrad + lstm: long-range memory report",
                      f"lstm report --preset {preset}", elapsed, results_dir, "rerunning reuses "
                      "them: only missing runs are run). Figures are PNG files next to this "
                      "page; every figure's numbers are in the table below it.", sections, table,
                      everything, progress)


def run_speed_stage(settings: dict, speed_path: str, root: Path | None, peers: list[str],
                    progress: bool) -> list[dict]:
    """minigrad's timings (fused, composed up to its cap), then the peers' through bench/."""
    speed = settings["speed"]
    shape = {k: speed[k] for k in ("batch_size", "input_size", "hidden_size")}
    timing = {k: speed[k] for k in ("repeats", "warmup", "budget_s")}
    rows = run_speed(speed_configs(speed["models"], speed["seq_lens"],
                                   composed_max_len=speed["composed_max_len"], **shape),
                     speed_path, progress=progress, **timing)
    caps = settings.get("peer_max_len", {})
    peer_configs = [{"library": p, "model": m, "seq_len": int(t), **shape} for p in peers
                    for m in speed["models"] for t in speed["seq_lens"]
                    if t <= caps.get(p, t)]
    if peer_configs and root is not None:
        rows += run_peers(peer_configs, speed_path, root, progress=progress, **timing)
    return rows


def _default_asv_dir(root: Path | None) -> str | None:
    for base in filter(None, [root, Path.cwd()]):
        candidate = base / ".asv" / "results"
        if candidate.is_dir():
            return str(candidate)
    return None


def _git_commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).resolve().parent, timeout=10)
        return done.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def run_settings(preset, results_dir, rows, speed_rows, inside, asv_dir, seconds, elapsed):
    """The settings table (and the full JSON of every configuration) for the page."""
    import matplotlib

    from .reporting.page import Table

    train = [r["config"] for r in rows if r["kind"] == "train"]
    flows = [r["config"] for r in rows if r["kind"] == "gradflow"]
    peer_versions = sorted({f"{r['config']['library']} {r['result']['version']}"
                            for r in speed_rows if r["result"].get("version")})
    seeds = sorted({c["seed"] for c in train})
    shared = {k: v for k, v in presets.TRAIN_BASE.items()}
    table = [
        ["preset", preset], ["results directory", results_dir],
        ["training runs", f"{len(train)}: tasks {sorted({c['task'] for c in train})}, models "
                          f"{sorted({c['model'] for c in train})}, seeds {seeds}"],
        ["training settings", ", ".join(f"{k}={v}" for k, v in shared.items())],
        ["gradient-flow runs", f"{len(flows)}: " + (
            f"{flows[0]['task']} T={flows[0]['seq_len']} H={flows[0]['hidden_size']} "
            f"batch {flows[0]['batch_size']}, measured at steps {flows[0]['steps']}, "
            f"seed {flows[0]['seed']}" if flows else "none")],
        ["speed", f"{len(speed_rows)} cases; " + ", ".join(
            f"{k}={v}" for k, v in REPORT_PRESETS[preset]["speed"].items())],
        ["inside model", ", ".join(f"{k}={v}" for k, v in inside["config"].items()
                                   if k in ("model", "seq_len", "hidden_size", "optimizer",
                                            "lr", "batch_size", "steps", "seed"))],
        ["asv results", asv_dir or "none"],
        ["versions", ", ".join(f"{k} {v}" for k, v in versions().items())
         + f", matplotlib {matplotlib.__version__}"],
        ["peers", ", ".join(peer_versions) or "none measured"],
        ["machine", f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"],
        ["commit", _git_commit()],
        ["stage times (s)", ", ".join(f"{k} {v:.1f}" for k, v in seconds.items())],
        ["total time (s)", f"{elapsed:.1f}"],
    ]
    everything = {"preset": preset, "train": train, "gradflow": flows,
                  "speed": [r["config"] for r in speed_rows], "inside": inside["config"],
                  "train_base": presets.TRAIN_BASE, "stage_seconds": seconds}
    return Table(["setting", "value"], table, "How these results were made"), everything
