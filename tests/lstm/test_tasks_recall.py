"""Selective copy and MQAR: layout, dtypes, answers determined by the input, baselines against
the predictor they describe, variants' sizes, solved tests, metrics, errors, and training runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lstm.metrics import query_metrics
from lstm.runs.config import TrainConfig
from lstm.runs.train import Trainer
from lstm.tasks import STREAM_TRAIN, Task, get_task, mqar, seed_stream, selective_copy


def rng(seed=0):
    return np.random.default_rng(seed)


# ---- selective copy ----------------------------------------------------------------------------
@pytest.mark.parametrize("seq_len,n_symbols,n_copy", [(10, 8, 10), (40, 8, 10), (64, 16, 16)])
def test_selective_copy_layout_and_answers(seq_len, n_symbols, n_copy):
    x, y = selective_copy(500, seq_len, rng(1), n_symbols, n_copy)
    assert x.shape == y.shape == (seq_len + n_copy, 500)
    assert x.dtype == y.dtype == np.int64
    data = x[:seq_len]
    assert ((data > 0).sum(axis=0) == n_copy).all()  # n_copy symbols among the noise
    assert data.max() <= n_symbols and (x[seq_len:] == n_symbols + 1).all()
    assert (y[:seq_len] == 0).all()
    for b in range(500):  # the answer is the input's symbols, in the order they came
        np.testing.assert_array_equal(y[seq_len:, b], data[:, b][data[:, b] > 0])


def test_selective_copy_positions_vary_and_cover_the_sequence():
    x, _ = selective_copy(4000, 30, rng(2), 8, 3)
    hits = (x[:30] > 0).sum(axis=1)
    assert hits.min() > 0.5 * hits.mean()  # every position is used, about uniformly
    assert np.unique(x[:30] > 0, axis=1).shape[1] > 100  # not one fixed pattern


def test_selective_copy_baseline_is_the_where_not_what_predictor():
    task = get_task("selective-copy", 20, n_symbols=6, n_copy=4)
    fit = task.make_batch(20000, seed_stream(1, STREAM_TRAIN))
    test = task.test_set(1, 20000)
    freq = np.stack([np.bincount(row, minlength=task.output_size) for row in fit.y])
    prob = np.clip(freq / fit.y.shape[1], 1e-12, None)
    measured = -np.log(np.take_along_axis(prob, test.y, axis=1)).mean()
    assert measured == pytest.approx(task.baseline(), rel=0.02)
    assert task.baseline() == pytest.approx(4 * math.log(6) / 24)


# ---- MQAR ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seq_len,n_keys,n_pairs", [(12, 4, 4), (64, 16, 8), (100, 40, 20)])
def test_mqar_layout_and_answers(seq_len, n_keys, n_pairs):
    x, y = mqar(300, seq_len, rng(3), n_keys, n_pairs)
    assert x.shape == y.shape == (seq_len, 300) and x.dtype == y.dtype == np.int64
    keys, values = x[0:2 * n_pairs:2], x[1:2 * n_pairs:2]
    assert keys.min() >= 1 and keys.max() <= n_keys
    assert values.min() > n_keys and values.max() <= 2 * n_keys
    assert (y[:2 * n_pairs] == 0).all()
    for b in range(300):
        assert len(set(keys[:, b])) == n_pairs  # distinct keys
        table = dict(zip(keys[:, b], values[:, b] - n_keys))
        queries = np.flatnonzero(x[2 * n_pairs:, b]) + 2 * n_pairs
        assert sorted(x[queries, b]) == sorted(keys[:, b])  # every key asked once
        expected = np.zeros(seq_len, np.int64)
        expected[queries] = [table[k] for k in x[queries, b]]
        np.testing.assert_array_equal(y[:, b], expected)  # the answer is in the input


def test_mqar_baseline_is_the_where_not_what_predictor():
    task = get_task("mqar", 24, n_symbols=5, n_copy=4)
    fit, test = task.make_batch(20000, rng(4)), task.test_set(4, 20000)

    def asked(batch):  # a query step: a key after the pairs (position and input, no memory)
        steps = np.arange(batch.x.shape[0])[:, None]
        return (steps >= 8) & (batch.x >= 1) & (batch.x <= 5)

    freq = np.bincount(fit.y[asked(fit)], minlength=task.output_size) / asked(fit).sum()
    prob = np.where(asked(test)[..., None], freq, np.eye(task.output_size)[0])
    picked = np.take_along_axis(np.clip(prob, 1e-12, None), test.y[..., None], axis=-1)
    assert -np.log(picked).mean() == pytest.approx(task.baseline(), rel=0.02)
    assert task.baseline() == pytest.approx(4 * math.log(5) / 24)


def test_query_metrics_by_hand():
    targets = np.array([[0, 0], [2, 0], [0, 1]])
    due = targets != 0
    logits = np.zeros((3, 2, 3))
    logits[1, 0, 2] = logits[2, 1, 0] = 5.0  # first query right, second wrong
    logits[0, :, 0] = logits[1, 1, 0] = 5.0
    out = query_metrics(logits, targets, due)
    assert out["recall_accuracy"] == 0.5 and out["accuracy"] == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="no step is due"):
        query_metrics(logits, targets, np.zeros_like(due))


# ---- tasks as objects, variants, errors ---------------------------------------------------------
def test_variants_set_the_papers_sizes():
    sc, gd = get_task("selective-copy", 50), get_task("selective-copy", 50, "gu-dao")
    assert (sc.variant, sc.n_symbols, sc.n_copy) == ("scaled", 8, 10)
    assert (gd.n_symbols, gd.n_copy, gd.input_size, gd.output_size) == (16, 16, 18, 17)
    mq, zoo = get_task("mqar", 64), get_task("mqar", 64, "zoology")
    assert (mq.variant, mq.n_symbols, mq.n_copy, mq.input_size, mq.output_size) == \
        ("scaled", 16, 8, 33, 17)
    assert (zoo.n_symbols, zoo.input_size) == (4096, 8193)
    assert get_task("mqar", 64, n_symbols=20, n_copy=5).n_symbols == 20
    assert sc.total_length == 60 and mq.total_length == 64 and sc.loss_key == "cross_entropy"
    assert get_task("copy", 10).variant == "arjovsky"  # the old tasks' default is unchanged


def test_solved_and_metrics_dispatch():
    task = get_task("mqar", 30, n_symbols=6, n_copy=3)
    batch = task.make_batch(50, rng(5))
    perfect = np.eye(task.output_size)[batch.y] * 20.0
    metrics = task.metrics(perfect, batch)
    assert metrics["recall_accuracy"] == 1.0 and task.is_solved(metrics)
    assert not task.is_solved({"recall_accuracy": 0.989})
    sel = get_task("selective-copy", 12, n_symbols=4, n_copy=3)
    sb = sel.make_batch(50, rng(6))
    assert sel.is_solved(sel.metrics(np.eye(sel.output_size)[sb.y] * 20.0, sb))


@pytest.mark.parametrize("call,message", [
    (lambda: selective_copy(2, 5, rng(), 8, 6), "n_copy .6. must be at most seq_len"),
    (lambda: mqar(2, 30, rng(), 4, 5), "n_pairs .5. must be at most n_keys"),
    (lambda: mqar(2, 11, rng(), 8, 4), "seq_len .11. at least 3 n_pairs"),
    (lambda: Task("mqar", 64, "zoology", 20, 5), "variant 'zoology' has n_symbols, n_copy"),
    (lambda: Task("selective-copy", 64, "arjovsky"), "variant for task 'selective-copy'"),
    (lambda: get_task("mqar", 10), "seq_len .10. at least 3 n_pairs .24."),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_config_resolves_the_variant_and_sizes():
    assert TrainConfig().variant == "arjovsky"  # run keys of adding/copy runs stay as they were
    config = TrainConfig(task="mqar", seq_len=64)
    assert (config.variant, config.n_symbols, config.n_copy) == ("scaled", 16, 8)
    with pytest.raises(ValueError, match="variant must be one of"):
        TrainConfig(task="mqar", variant="tcn")


@pytest.mark.parametrize("model,task", [("lstm", "mqar"), ("gru", "selective-copy"),
                                        ("slstm", "mqar"), ("mlstm", "selective-copy")])
def test_a_short_run_trains_below_the_first_loss(model, task):
    config = TrainConfig(task=task, model=model, seq_len=24, hidden_size=16, batch_size=16,
                         steps=30, eval_every=30, test_size=64, optimizer="adam", lr=1e-2,
                         n_symbols=4, n_copy=3)
    trainer = Trainer(config)
    first = trainer.evaluate()["cross_entropy"]
    for _ in range(30):
        trainer.train_step()
    final = trainer.evaluate()
    assert final["cross_entropy"] < first  # learning the blanks is enough to go down
    assert 0.0 <= final["recall_accuracy"] <= 1.0


@pytest.mark.parametrize("model,task,variant,baseline", [
    ("slstm", "mqar", None, 8 * math.log(16) / 30),
    ("mlstm", "selective-copy", "gu-dao", 16 * math.log(16) / (20 + 16))])
def test_lstm_train_on_the_recall_tasks(tmp_path, capsys, model, task, variant, baseline):
    from lstm.cli import main

    args = ["train", "--task", task, "--model", model, "--seq-len", "30" if task == "mqar" else
            "20", "--hidden-size", "8", "--batch-size", "4", "--steps", "2", "--eval-every", "2",
            "--test-size", "8", "--out", str(tmp_path), "--quiet"]
    assert main(args + (["--variant", variant] if variant else [])) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (row["model"], row["task"], row["steps"]) == (model, task, 2)
    assert row["baseline"] == pytest.approx(baseline)
    assert 0 <= row["recall_accuracy"] <= 1
