"""Training the classifier: padding invariance, results rows, and the quick preset's accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest

import minigrad as mg
from lstm.apps.classify import train as classify
from lstm.apps.classify.data import SequenceDataset, pad
from lstm.apps.classify.model import POOLINGS, SequenceClassifier


@pytest.mark.parametrize("pooling", POOLINGS)
def test_a_sequence_gets_the_same_logits_alone_and_in_a_padded_batch(rng, pooling):
    model = SequenceClassifier(3, 5, 4, pooling=pooling, attention_size=4, rng=0)
    seqs = [rng.standard_normal((n, 3)).astype(np.float32) for n in (2, 7, 4)]
    x, lengths = pad(seqs)
    batch_logits, weights = model(mg.tensor(x), lengths)
    assert batch_logits.shape == (3, 4)
    for b, s in enumerate(seqs):
        alone, _ = model(mg.tensor(s[:, None, :]), np.array([len(s)]))
        np.testing.assert_allclose(batch_logits.numpy()[b], alone.numpy()[0], rtol=1e-5,
                                   atol=1e-6)
    assert (weights is None) == (pooling != "attention")


@pytest.mark.parametrize("pooling", POOLINGS)
def test_fused_and_composed_classifiers_agree(rng, pooling):
    seqs = [rng.standard_normal((n, 3)).astype(np.float32) for n in (5, 2, 4)]
    x, lengths = pad(seqs)
    outs = []
    for impl in ("fused", "composed"):
        model = SequenceClassifier(3, 5, 4, pooling=pooling, attention_size=4, impl=impl, rng=0)
        logits, _ = model(mg.tensor(x), lengths)
        logits.sum().backward()
        outs.append((logits.numpy(), model.encoder.weight_hh_l0_reverse.grad))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-4, atol=1e-6)


def test_confusion_matrix_counts_truth_by_prediction():
    counts = classify.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


@pytest.mark.parametrize("field, value, message", [
    ("pooling", "max", "pooling must be one of"), ("epochs", 0, "epochs must be an integer >= 1"),
    ("lr", 0.0, "lr must be a finite number > 0"),
    ("dropout", 1.0, r"dropout must be a number in \[0, 1\), got 1.0 \(option --dropout\)"),
    ("dataset", "x", "dataset must be one of"),
])
def test_bad_settings_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        classify.ClassifyConfig(**{field: value})
    with pytest.raises(ValueError, match="preset must be one of"):
        classify.preset_config("huge")


def _toy_dataset(rng):
    """Two classes told apart by the sign of the mean of their first feature."""
    def make(n):
        xs, ys = [], []
        for i in range(n):
            label = i % 2
            seq = rng.standard_normal((int(rng.integers(3, 9)), 2)).astype(np.float32)
            seq[:, 0] += 1.5 if label else -1.5
            xs.append(seq)
            ys.append(label)
        return xs, np.array(ys)
    train_x, train_y = make(40)
    test_x, test_y = make(20)
    return SequenceDataset(train_x, train_y, test_x, test_y, ["neg", "pos"])


def test_training_learns_a_toy_problem_and_reports_everything(rng):
    config = classify.ClassifyConfig(hidden_size=8, attention_size=4, epochs=8, batch_size=8,
                                     lr=1e-2, noise=0.1, dropout=0.1, seed=0)
    result = classify.train_classifier(config, _toy_dataset(rng))
    assert result["accuracy"] >= 0.9 and result["train_accuracy"] >= 0.9
    assert np.sum(result["confusion"]) == 20 and len(result["curve"]) == 8
    predicted = np.array(result["predicted"])
    assert result["accuracy"] == np.mean(predicted == np.arange(20) % 2)
    np.testing.assert_array_equal(
        result["confusion"], classify.confusion_matrix(np.arange(20) % 2, predicted, 2))
    assert result["curve"][-1]["train_loss"] < result["curve"][0]["train_loss"]
    examples = result["attention_examples"]
    assert len(examples) == 2 * classify.EXAMPLES_PER_CLASS
    for example in examples:
        assert sum(example["weights"]) == pytest.approx(1.0, rel=1e-5)
    json.dumps(result)  # every number is JSON-able


def test_run_configs_appends_rows_and_skips_finished_runs(tmp_path, rng, monkeypatch):
    dataset = _toy_dataset(rng)
    monkeypatch.setattr(classify, "load_dataset", lambda name: dataset)
    path = str(tmp_path / "results.jsonl")
    configs = [classify.ClassifyConfig(hidden_size=4, attention_size=2, epochs=1, pooling=p)
               for p in ("attention", "mean")]
    seen = []
    rows = classify.run_configs(configs, path, on_result=lambda row, reused: seen.append(row),
                                dtw={"dtw_accuracy": 0.5})
    assert [r["config"]["pooling"] for r in rows] == ["attention", "mean"] and len(seen) == 2
    assert all(r["result"]["dtw_accuracy"] == 0.5 for r in rows)

    def refuse(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(classify, "train_classifier", refuse)
    again = classify.run_configs(configs, path)
    assert [r["result"] for r in again] == [r["result"] for r in rows]
    with open(path, encoding="utf-8") as f:
        assert len(f.readlines()) == 2


@pytest.mark.parametrize("pooling", POOLINGS)
def test_quick_preset_reaches_ninety_percent_on_japanese_vowels(pooling):
    # Its time is a property of the machine: asv tracks it (bench/benchmarks_apps_classify.py,
    # ClassifyEpoch), not this test.
    pytest.importorskip("sktime")
    result = classify.train_classifier(classify.preset_config("quick", pooling=pooling))
    assert result["accuracy"] >= 0.9, result["accuracy"]


def test_validation_split_is_stratified_and_disjoint(rng):
    from lstm.apps.classify.data import split_validation

    dataset = _toy_dataset(rng)
    rest, val_x, val_y = split_validation(dataset, 0.25, np.random.default_rng(0))
    assert len(rest.train_x) == 30 and len(val_x) == 10
    np.testing.assert_array_equal(np.bincount(val_y), [5, 5])
    ids = {id(s) for s in rest.train_x} | {id(s) for s in val_x}
    assert ids == {id(s) for s in dataset.train_x} and len(ids) == 40
    assert rest.test_x is dataset.test_x
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        split_validation(dataset, 1.0, rng)


def test_validation_keeps_the_best_epoch_and_reports_its_test_accuracy(rng):
    config = classify.ClassifyConfig(hidden_size=8, attention_size=4, epochs=6, batch_size=8,
                                     lr=2e-2, val_fraction=0.25, seed=1)
    result = classify.train_classifier(config, _toy_dataset(rng))
    curve = result["curve"]
    best = max(curve, key=lambda p: (p["val_accuracy"], p["val_log_likelihood"]))
    assert result["best_epoch"] == best["epoch"] and result["n_val"] == 10
    assert result["val_accuracy"] == best["val_accuracy"]
    assert result["accuracy"] == pytest.approx(best["test_accuracy"], abs=1e-12)
    assert result["n_train"] == 30
