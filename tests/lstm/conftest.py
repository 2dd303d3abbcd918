"""Fixtures of the report tests: a tiny report built once per session from tiny runs (the
presets shrunk) and a synthetic asv history, shared by test_report.py and
test_report_browser.py."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

from lstm import report
from lstm.apps.charlm import report as charlm_section
from lstm.apps.classify import report as classify_section
from lstm.experiments import presets
from lstm.runs.config import TrainConfig

FIGURES = {"gradient_flow.png", "training_curves.png", "memory_horizon.png", "speed.png",
           "inside_heatmaps.png", "inside_units.png", "asv_history.png", "horizon_bars.png",
           "horizon_curves.png"}
if importlib.util.find_spec("safetensors") is not None:  # the apps extra: the character model
    FIGURES.add("charlm.png")
SECTIONS = {"gradient-flow", "training-curves", "memory-horizon", "speed", "inside",
            "asv-history", "settings", "charlm", "horizon"}
if importlib.util.find_spec("sktime") is not None:  # the apps extra: classification's section
    FIGURES |= set(classify_section.FIGURES)
    SECTIONS |= {classify_section.ANCHOR}
TINY_CLASSIFY = {"preset": "quick", "seeds": (0,), "overrides": {"epochs": 2, "hidden_size": 8}}
TINY_TRAIN = {"optimizer": "adam", "lr": 1e-2, "clip": "norm", "clip_value": 1.0,
              "hidden_size": 8, "batch_size": 8, "eval_every": 5, "test_size": 40}
TINY_PRESET = {
    "train": [{"task": "adding", "models": ["lstm-fb1", "gru", "rnn"], "seq_lens": [6, 9],
               "seeds": [0, 1], "steps": 10},
              {"task": "copy", "models": ["lstm-fb1", "gru", "rnn"], "seq_lens": [4],
               "seeds": [0], "steps": 10}],
    # 10 steps solve nothing: each ladder fails both rungs (2 models x 2 rungs x 2 seeds)
    "ladders": [{"task": "adding", "models": ["gru", "rnn"], "seq_lens": [5, 7, 11],
                 "seeds": [0, 1], "steps": 10}],
    "gradflow": {"models": ["rnn", "lstm-fb1", "gru"], "seq_len": 12, "hidden_size": 8,
                 "batch_size": 4, "steps": [0, 5]},
}
TINY_REPORT = {
    "sweep": "quick", "workers": 1, "peers": (),
    "inside": TrainConfig(task="adding", model="lstm-fb1", seq_len=8, hidden_size=6,
                          batch_size=8, steps=15, optimizer="adam", lr=1e-2, eval_every=5,
                          test_size=40, checkpoint_every=5, seed=0),
    "speed": {"models": ("rnn", "lstm", "gru"), "seq_lens": (3, 6), "composed_max_len": 3,
              "batch_size": 2, "input_size": 3, "hidden_size": 4, "repeats": 3, "warmup": 1,
              "budget_s": 0.05},
}
# the forecasting section: one tiny run on airline (with the apps extra; left out without it)
TINY_FORECAST = {"dataset": ["airline"], "model": ["gru"], "seeds": [0], "hidden_size": 4,
                 "max_epochs": 3, "patience": 2}
if all(importlib.util.find_spec(p) for p in ("statsmodels", "sktime")):
    FIGURES.add("forecast.png")
    SECTIONS.add("forecast")


# the translation section: three tiny runs (with num2words, sacrebleu and safetensors)
TINY_TRANSLATE = {"preset": "quick", "seeds": (0,), "overrides": {
    "max_number": 2000, "block_size": 100, "n_train": 100, "n_test": 20, "epochs": 1,
    "hidden_size": 8, "embedding_size": 8, "attention_size": 8, "beam_width": 2}}
if all(importlib.util.find_spec(p) for p in ("num2words", "sacrebleu", "safetensors")):
    FIGURES |= {"translate_scores.png", "translate_attention.png"}
    SECTIONS.add("translate")


TINY_CHARLM = {"preset": "quick", "seeds": (0,), "overrides": {
    "embedding_size": 4, "hidden_size": 8, "batch_size": 4, "bptt": 20, "steps": 4,
    "eval_every": 2, "valid_chars": 2000, "ngram_max_order": 3},
    "modules": {"train": ("textwrap",), "valid": ("csv",), "test": ("base64",)}}


def write_asv_results(root: Path) -> None:
    """Two commits of a parameterised and a plain benchmark in asv's result format 2."""
    machine = root / "box"
    machine.mkdir(parents=True)
    (machine / "machine.json").write_text(json.dumps({"machine": "box", "version": 1}))
    (root / "benchmarks.json").write_text(json.dumps({
        "speed.TimeTrainStep.time_train_step": {"unit": "seconds", "params": [["'lstm'", "'gru'"],
                                                ["16", "64"]], "param_names": ["model", "T"]},
        "tasks.track_adding_mse": {"unit": "mse", "params": [], "param_names": []},
        "version": 2}))
    columns = ["result", "params", "version", "started_at", "duration"]
    for n, (commit, scale) in enumerate([("a" * 40, 1.0), ("b" * 40, 0.5)]):
        data = {"commit_hash": commit, "env_name": "virtualenv-py3.11", "date": 1e12 + n * 1e8,
                "params": {"machine": "box"}, "python": "3.11", "requirements": {},
                "env_vars": {}, "result_columns": columns, "version": 2, "results": {
                    "speed.TimeTrainStep.time_train_step": [
                        [0.01 * scale, 0.04 * scale, 0.02 * scale, None],
                        [["'lstm'", "'gru'"], ["16", "64"]], "v1", 0, 1.0],
                    "tasks.track_adding_mse": [[0.2 * scale], [], "v1", 0, 1.0]}}
        (machine / f"{commit[:8]}-virtualenv-py3.11.json").write_text(json.dumps(data))


@pytest.fixture(scope="session")
def asv_writer():
    """write_asv_results(root): two commits of asv results in asv's format 2 under root."""
    return write_asv_results


@pytest.fixture(scope="session")
def report_expectations():
    """The figure files and section anchors every report page has."""
    return {"figures": FIGURES, "sections": SECTIONS}


def shrink_presets(patch: pytest.MonkeyPatch) -> None:
    """Make `lstm report --preset quick` tiny: a few steps of tiny models, no peers."""
    patch.setitem(presets.PRESETS, "quick", TINY_PRESET)
    patch.setattr(presets, "TRAIN_BASE", TINY_TRAIN)
    patch.setitem(report.REPORT_PRESETS, "quick", TINY_REPORT)
    patch.setitem(classify_section.REPORT_PRESETS, "quick", TINY_CLASSIFY)
    from lstm.apps.forecast import cli as forecast_cli
    patch.setitem(forecast_cli.PRESETS, "quick", TINY_FORECAST)
    patch.setitem(charlm_section.REPORT_RUNS, "quick", TINY_CHARLM)
    from lstm.apps.translate import report as translate_report
    patch.setitem(translate_report.REPORT_PRESETS, "quick", TINY_TRANSLATE)


@pytest.fixture
def tiny_presets(monkeypatch):
    """The quick preset shrunk for one test (undone after it)."""
    shrink_presets(monkeypatch)


@pytest.fixture(scope="session")
def tiny_report(tmp_path_factory):
    """A report built once from tiny runs, with a synthetic asv history: the page's path, the
    asv folder and how long the build took."""
    base = tmp_path_factory.mktemp("report")
    asv_dir = base / "asv-results"
    write_asv_results(asv_dir)
    with pytest.MonkeyPatch.context() as patch:
        shrink_presets(patch)
        started = time.perf_counter()
        path = report.build_report(str(base / "out"), "quick", None, str(asv_dir), False)
        seconds = time.perf_counter() - started
    return {"path": Path(path), "asv": asv_dir, "seconds": seconds}
