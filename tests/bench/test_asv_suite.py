"""The asv suite in bench/: it imports light, its benchmarks are well-formed and compute what they
say, `asv check` passes and a quick dry run of a few benchmarks works (skipped without asv)."""

from __future__ import annotations

import importlib
import inspect
import json
import math
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# every module asv imports to discover benchmarks, and ours among them
ALL_MODULES = sorted(m.name for m in pkgutil.walk_packages([str(BENCH)], "bench."))
BENCH_MODULES = [m for m in ALL_MODULES if m.startswith("bench.benchmarks_")]
PREFIXES = ("time", "timeraw", "track", "peakmem", "mem")
EXPECTED = {
    "benchmarks_speed.Recurrent.time_forward", "benchmarks_speed.Recurrent.time_train_step",
    "benchmarks_speed.Peers.time_forward", "benchmarks_speed.Peers.time_train_step",
    "benchmarks_memory.TracedStepMemory.track_step_bytes",
    "benchmarks_memory.TracedStepMemory.track_step_bytes_over_saved_bound",
    "benchmarks_memory.StepPeakRSS.peakmem_train_step",
    "benchmarks_memory.StepPeakRSS.peakmem_reference",
    "benchmarks_memory.StepPageFaults.track_faults_per_step",
    "benchmarks_compile.ImportAndFirstCall.timeraw_import_and_first_call",
    "benchmarks_whole_compile.WholeStep.time_step",
    "benchmarks_whole_compile.CompileSeconds.track_compile_seconds",
    "benchmarks_whole_compile.ColdCompileSeconds.track_cold_compile_seconds",
    "benchmarks_tasks.AddingTask.track_test_mse",
    "benchmarks_tasks.CopyTask.track_test_recall_accuracy",
    "benchmarks_tasks.CopyTask.track_test_cross_entropy",
    "benchmarks_tasks.MemoryHorizon.track_longest_solved_seq_len",
    "benchmarks_tasks.RecallTask.track_test_recall_accuracy",
    "benchmarks_tasks.RecallTask.track_test_cross_entropy",
    "benchmarks_gradflow.GradientFlowAtInit.track_per_step_factor",
    "benchmarks_apps_forecast.ForecastAccuracy.track_test_rmse",
    "benchmarks_apps_forecast.ForecastAccuracy.track_test_mase",
    "benchmarks_apps_forecast.ForecastAccuracy.track_rmse_gap_to_best_classical",
    "benchmarks_apps_forecast.ForecastAccuracy.track_dm_p_value",
    "benchmarks_apps_forecast.ForecastBaselines.track_drift_rmse",
    "benchmarks_apps_forecast.ForecastBaselines.track_ets_rmse",
    "benchmarks_apps_forecast.ForecastBaselines.track_ets_params_on_bound",
    "benchmarks_apps_forecast.ForecastEpoch.time_train_epoch",
    "benchmarks_variants.Variants.time_train_step",
    "benchmarks_apps_classify.ClassifyAccuracy.track_test_accuracy",
    "benchmarks_apps_classify.DtwBaseline.track_dtw_accuracy",
    "benchmarks_apps_classify.ClassifyEpoch.time_train_epoch",
    "benchmarks_apps_classify.DtwMatrix.time_dtw_one_nn",
    "benchmarks_apps_translate.TranslateScores.track_exact_match",
    "benchmarks_apps_translate.TranslateScores.track_exact_match_beam",
    "benchmarks_apps_translate.TranslateScores.track_chrf",
    "benchmarks_apps_translate.TranslateScores.track_bleu",
    "benchmarks_apps_translate.TranslateEpoch.time_train_epoch",
    "benchmarks_horizon.MemoryHorizonLadder.track_longest_solved_seq_len",
    "benchmarks_horizon.StepsToSolve.track_steps_to_solve",
    "benchmarks_scan.ScanModels.time_train_step", "benchmarks_scan.LinearScan.time_scan",
    "benchmarks_scan.LinearScan.time_scan_backward", "benchmarks_scan.LinearScan.time_memory_pass",
    "benchmarks_scalar.ScalarFloat32.time_loop",
}


def discovered() -> dict:
    """name -> asv_runner Benchmark, found the way asv finds them."""
    discovery = pytest.importorskip("asv_runner.discovery")
    return {b.name: b for b in discovery.disc_benchmarks(str(BENCH))}


# ---- the suite as Python ------------------------------------------------------------------------
def test_bench_modules_import_no_heavy_library():
    """asv imports every module in bench/ to discover benchmarks, before it knows whether the
    commit has what they need: nothing heavy (nor minigrad, lstm) at module level."""
    code = ("import sys, importlib\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            f"for name in {ALL_MODULES!r}: importlib.import_module(name)\n"
            "heavy = ('torch', 'jax', 'autograd', 'numba', 'minigrad', 'lstm')\n"
            "print(sorted(m for m in heavy if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd="/", check=True)
    assert done.stdout.strip() == "[]", done.stdout
    core = [m for m in BENCH_MODULES if not m.startswith("bench.benchmarks_apps_")]
    assert len(core) == 10 and "bench.peers.torch_models" in ALL_MODULES


def test_every_intended_benchmark_is_discovered_and_well_formed():
    benchmarks = discovered()
    assert EXPECTED <= set(benchmarks), sorted(EXPECTED - set(benchmarks))
    for name, b in benchmarks.items():
        assert len(b.param_names) == len(b._params), name
        for axis, values in zip(b.param_names, b.params):
            assert values and len(set(values)) == len(values), (name, axis, values)
        if b.type == "track":
            assert b.unit not in ("unit", "", None), f"{name}: track_ without a unit"
        assert 0 < b.timeout <= 3600, (name, b.timeout)
    assert benchmarks["benchmarks_memory.TracedStepMemory.track_step_bytes"].unit == "bytes"


def test_no_near_miss_benchmark_names():
    """A method named like a benchmark that asv would not pick up (timeforward, Track_x)."""
    found = {name.rsplit(".", 1)[-1] for name in discovered()}
    for module_name in ALL_MODULES:
        module = importlib.import_module(module_name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module_name:
                continue
            for attr in vars(cls):
                if attr.lower().startswith(PREFIXES) and callable(getattr(cls, attr)):
                    assert attr in found, f"{module_name}.{cls.__name__}.{attr} is not a benchmark"


def test_speed_grid_is_the_issues_grid():
    b = discovered()
    recurrent = b["benchmarks_speed.Recurrent.time_train_step"]
    assert recurrent.param_names == ["model", "impl", "seq_len"]
    assert [list(v) for v in recurrent.params] == [["'rnn'", "'lstm'", "'gru'"],
                                                    ["'fused'", "'composed'"],
                                                    ["16", "64", "256", "1024"]]
    peers = b["benchmarks_speed.Peers.time_forward"]
    assert list(peers.params[0]) == ["'torch'", "'jax'", "'autograd'"]


def test_skips_are_not_implemented_errors(monkeypatch):
    from bench import asv_cases

    with pytest.raises(NotImplementedError, match="composed runs stop at seq_len 256"):
        asv_cases.minigrad_case("lstm", "composed", 1024)
    with pytest.raises(NotImplementedError, match="autograd runs stop at seq_len 256"):
        asv_cases.peer_case("autograd", "gru", 1024)
    monkeypatch.setitem(sys.modules, "autograd", None)  # as if not installed
    with pytest.raises(NotImplementedError, match="autograd not installed"):
        asv_cases.peer_case("autograd", "rnn", 16)
    with pytest.raises(ValueError, match="library must be one of"):
        asv_cases.peer_case("theano", "rnn", 16)


@pytest.mark.parametrize("library", ["torch", "jax", "autograd"])
def test_peer_forward_computes_our_layers_function(library):
    """Every library's timed forward is the same LSTM on the same weights and input."""
    pytest.importorskip(library)
    from bench import asv_cases

    ours = asv_cases.minigrad_case("lstm", "fused", 16).forward().numpy().sum(dtype=np.float64)
    theirs = asv_cases.peer_case(library, "lstm", 16).forward()
    theirs = float(np.asarray(theirs, dtype=np.float64).sum())
    assert theirs == pytest.approx(ours, rel=1e-4)


def test_traced_step_memory_holds_at_least_what_backward_keeps():
    from bench.benchmarks_memory import TracedStepMemory

    bench = TracedStepMemory()
    bench.setup("lstm", "fused", 64)
    ratio = bench.track_step_bytes_over_saved_bound("lstm", "fused", 64)
    assert 1.0 <= ratio < 50.0
    assert bench.track_step_bytes("lstm", "fused", 64) > 32 * 64 * 128 * 4 * 6


def test_memory_horizon_is_the_longest_solved_seq_len():
    from bench.benchmarks_tasks import TASK_SEQ_LENS, memory_horizon, result_key

    solved = {10: True, 25: False, 50: True, 100: False}
    results = {result_key("copy", "gru", T): {"solved": solved[T]} for T in TASK_SEQ_LENS}
    assert memory_horizon(results, "copy", "gru") == 50
    results = {k: {"solved": False} for k in results}
    assert memory_horizon(results, "copy", "gru") == 0


def test_horizon_ladders_give_what_the_track_benchmarks_read(monkeypatch):
    """The asv ladders, shrunk: the tracked horizon and steps to solve are the ladder's."""
    import bench.benchmarks_horizon as bh

    monkeypatch.setattr(bh, "MODELS", ["gru", "rnn"])
    monkeypatch.setattr(bh, "LADDERS", {
        "adding": {"seq_lens": (4, 6, 8), "steps": 150, "n_copy": None},
        "copy": {"seq_lens": (3, 4), "steps": 20, "n_copy": 2}})
    monkeypatch.setattr(bh, "STEPS_AT", ("adding", 6))
    monkeypatch.setattr(bh, "BASE", {**bh.BASE, "hidden_size": 16, "test_size": 64,
                                     "eval_every": 10})
    results = bh.climb()
    assert set(results) == {"adding/gru", "adding/rnn", "copy/gru", "copy/rnn"}
    ladder, steps = bh.MemoryHorizonLadder(), bh.StepsToSolve()
    for key, outcome in results.items():
        task, model = key.split("/")
        ladder.setup(results, task, model)
        solved = [r["seq_len"] for r in outcome["rungs"] if r["status"] == "solved"]
        assert ladder.track_longest_solved_seq_len(results, task, model) == max(solved,
                                                                                 default=0)
    gru_6 = next(r for r in results["adding/gru"]["rungs"] if r["seq_len"] == 6)
    assert gru_6["status"] == "solved"  # the GRU solves adding at T = 6 in 150 steps
    assert steps.track_steps_to_solve(results, "gru") == gru_6["steps_to_solve"][0] <= 150
    assert results["copy/gru"]["horizon"] is None  # 20 steps: nothing recalled
    with pytest.raises(NotImplementedError, match="no model"):
        ladder.setup(results, "adding", "mgu")


@pytest.mark.parametrize("task,metrics", [("adding", ["mse"]),
                                          ("copy", ["recall_accuracy", "cross_entropy"])])
def test_one_task_run_gives_the_metrics_the_benchmarks_read(task, metrics):
    from bench.benchmarks_tasks import AddingTask, CopyTask, result_key, train_one

    run = train_one(task, "lstm", 10, steps=3, hidden_size=8, test_size=16, eval_every=1)
    assert isinstance(run["solved"], bool)
    results = {result_key(task, "lstm", 10): run}
    bench = AddingTask() if task == "adding" else CopyTask()
    bench.setup(results, "lstm", 10)
    for name in metrics:
        value = getattr(bench, f"track_test_{name}")(results, "lstm", 10)
        assert value == run["metrics"][name] and math.isfinite(value)
    if task == "copy":  # 3 steps cannot learn to recall: near chance (1/8), nowhere near 1
        assert run["solved"] is False and run["metrics"]["recall_accuracy"] < 0.5


def test_the_memory_tasks_train_through_the_run_engine():
    """lstm.runs holds the run engine (the old lstm.train, lstm.config, lstm.results_io paths are
    gone): the asv memory tasks must find it, or every setup_cache would say 'unavailable'."""
    import lstm.runs.config
    import lstm.runs.results_io
    import lstm.runs.train
    from bench.benchmarks_tasks import engine

    assert engine("train") is lstm.runs.train and engine("config") is lstm.runs.config
    assert engine("results_io") is lstm.runs.results_io


@pytest.mark.parametrize("task", ["selective-copy", "mqar"])
def test_one_recall_run_gives_the_metrics_the_benchmarks_read(task):
    from bench.benchmarks_tasks import (
        RECALL_BUDGET,
        RECALL_TASKS,
        RecallTask,
        result_key,
        train_one,
    )

    seq_len = RECALL_TASKS[task]
    run = train_one(task, "mingru", seq_len, **{**RECALL_BUDGET, "steps": 3, "hidden_size": 8,
                                                "test_size": 16, "eval_every": 1})
    results = {result_key(task, "mingru", seq_len): run}
    bench = RecallTask()
    bench.setup(results, task, "mingru")
    for name in ("recall_accuracy", "cross_entropy"):
        value = getattr(bench, f"track_test_{name}")(results, task, "mingru")
        assert value == run["metrics"][name] and math.isfinite(value)
    assert run["solved"] is False and run["metrics"]["recall_accuracy"] < 0.5  # 3 steps
    with pytest.raises(NotImplementedError, match="no model"):
        bench.setup(results, task, "gru")


def test_gradflow_models_and_a_vanishing_factor():
    from bench.benchmarks_gradflow import GRADFLOW_MODELS, factor_at_init
    from lstm.experiments.gradient_flow import GRADFLOW_MODELS as lstm_models

    assert GRADFLOW_MODELS == list(lstm_models)
    rho = factor_at_init("rnn", seq_len=30, hidden_size=16, batch_size=4)
    assert 0.0 < rho < 1.0  # tanh RNN at torch's init: spectral radius ~0.58, gradients vanish


def test_written_out_model_lists_are_the_registry():
    """bench cannot import lstm at module level (above), so its model lists are written out:
    each must be the registry's (lstm.zoo), or a new cell would be missing from asv."""
    from bench.benchmarks_gradflow import GRADFLOW_MODELS
    from bench.benchmarks_horizon import MODELS
    from bench.benchmarks_tasks import RECALL_MODELS, RECALL_TASKS
    from bench.benchmarks_variants import VARIANTS
    from lstm import zoo
    from lstm.experiments import horizon
    from lstm.tasks import TASKS

    assert GRADFLOW_MODELS == list(zoo.names())
    assert VARIANTS == list(zoo.names(variant=True))
    # the horizon's models: every model that is not a variant, and the variants it names
    assert MODELS == list(horizon.HORIZON_MODELS)
    assert set(zoo.names(variant=False)) <= set(MODELS) <= set(zoo.names())
    assert RECALL_MODELS == list(horizon.RECALL_MODELS)
    assert set(zoo.names(variant=False)) - {"rnn-orth", "irnn", "lstm"} <= set(RECALL_MODELS)
    assert set(RECALL_TASKS) == set(TASKS) - {"adding", "copy"}


# ---- asv itself ---------------------------------------------------------------------------------
def asv_command(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`asv <args>` from the repository root with HOME at `home` (its machine file lives there)."""
    asv = shutil.which("asv", path=str(Path(sys.executable).parent)) or shutil.which("asv")
    if asv is None:
        pytest.skip("asv is not installed (pip install '.[bench]')")
    env = dict(os.environ, HOME=str(home))
    return subprocess.run([asv, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def test_asv_conf_names_the_suite():
    conf = json.loads((ROOT / "asv.conf.json").read_text())
    assert conf["benchmark_dir"] == "bench" and conf["repo"] == "."
    assert conf["environment_type"] == "virtualenv" and conf["branches"] == ["main"]
    assert "{build_cache_dir}" in conf["build_command"][0]
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".asv/" in ignored and all(conf[k].startswith(".asv/")
                                      for k in ("results_dir", "html_dir", "env_dir"))


def test_asv_check_passes(tmp_path):
    done = asv_command(tmp_path, "check", "-E", f"existing:{sys.executable}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No problems found" in done.stdout


def test_asv_quick_dry_run_of_a_subset(tmp_path):
    machine = asv_command(tmp_path, "machine", "--yes")
    assert machine.returncode == 0, machine.stdout + machine.stderr
    done = asv_command(tmp_path, "run", "-E", f"existing:{sys.executable}", "--quick",
                       "--dry-run", "--show-stderr",
                       "--bench", r"Recurrent.time_forward\('rnn', 'fused', 16\)",
                       "--bench", r"TracedStepMemory.track_step_bytes\('rnn', 'fused', 64\)")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Running 2 total benchmarks" in out, out
    for name in ("Recurrent.time_forward", "TracedStepMemory.track_step_bytes"):
        assert any(name in line and line.rstrip().endswith("ok") for line in out.splitlines()), out
    assert "failed" not in out
