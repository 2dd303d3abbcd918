"""The character model's asv benchmarks: discovered, computing what they say on a tiny budget."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NAMES = {"benchmarks_apps_charlm.CharLMTestMetric.track_bits_per_char",
         "benchmarks_apps_charlm.CharLMTestMetric.track_ngram_bits_per_char",
         "benchmarks_apps_charlm.CharLMTestMetric.track_bz2_primed_bits_per_char",
         "benchmarks_apps_charlm.CharLMEpoch.time_training_epoch"}


def test_discovered():
    discovery = pytest.importorskip("asv_runner.discovery")
    found = {b.name for b in discovery.disc_benchmarks(str(ROOT / "bench"))}
    assert NAMES <= found, sorted(NAMES - found)


def test_budget_metrics_and_epoch(monkeypatch):
    from bench import benchmarks_apps_charlm as bench

    monkeypatch.setattr(bench, "BUDGET", {**bench.BUDGET, "steps": 4, "hidden_size": 8,
                                          "embedding_size": 4, "valid_chars": 2000})
    monkeypatch.setattr(bench, "NGRAM_MAX_ORDER", 3)
    results = bench.train_budget()
    metric = bench.CharLMTestMetric()
    metric.setup(results)
    assert 5.0 < metric.track_bits_per_char(results) < 8.0  # 4 steps: near log2(162)
    assert 2.0 < metric.track_ngram_bits_per_char(results) < 3.5  # order <= 3
    assert metric.track_bz2_primed_bits_per_char(results) == pytest.approx(1.704, abs=5e-4)
    epoch = bench.CharLMEpoch()
    epoch.setup()
    before = epoch.trainer.step
    epoch.time_training_epoch()
    assert epoch.trainer.step - before == epoch.trainer.chunks_per_epoch == 6
