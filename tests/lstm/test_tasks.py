"""Adding and copy generators: layout, marker positions, targets, variants, baselines, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstm.tasks import (
    STREAM_TEST,
    STREAM_TRAIN,
    Task,
    adding,
    adding_baseline,
    copy,
    copy_baseline,
    get_task,
    seed_stream,
)


def rng(seed=0):
    return np.random.default_rng(seed)


# ---- adding ------------------------------------------------------------------------------------
@pytest.mark.parametrize("seq_len", [2, 7, 50])
def test_adding_arjovsky_layout_markers_and_targets(seq_len):
    x, y = adding(4000, seq_len, rng(1))
    assert x.shape == (seq_len, 4000, 2) and x.dtype == np.float32
    assert y.shape == (4000, 1) and y.dtype == np.float32
    values, markers = x[:, :, 0], x[:, :, 1]
    assert values.min() >= 0.0 and values.max() < 1.0
    assert set(np.unique(markers)) <= {0.0, 1.0}
    half = seq_len // 2
    assert (markers[:half].sum(axis=0) == 1).all()  # exactly one mark in each half
    assert (markers[half:].sum(axis=0) == 1).all()
    first, second = markers[:half].argmax(axis=0), half + markers[half:].argmax(axis=0)
    # every position of each half is used, roughly uniformly
    assert np.array_equal(np.unique(first), np.arange(half))
    assert np.array_equal(np.unique(second), np.arange(half, seq_len))
    counts = np.bincount(second - half) / 4000
    assert np.abs(counts - 1 / (seq_len - half)).max() < 0.05
    cols = np.arange(4000)
    np.testing.assert_array_equal(y[:, 0], values[first, cols] + values[second, cols])


def test_adding_tcn_two_distinct_marks_anywhere():
    seq_len = 9
    x, y = adding(5000, seq_len, rng(2), variant="tcn")
    assert x.shape == (seq_len, 5000, 2)
    markers = x[:, :, 1]
    assert (markers.sum(axis=0) == 2).all() and set(np.unique(markers)) == {0.0, 1.0}
    pairs = np.sort(np.nonzero(markers.T)[1].reshape(5000, 2), axis=1)
    assert (pairs[:, 0] < pairs[:, 1]).all()
    # both marks can sit in the same half, unlike Arjovsky's variant
    both_early = (pairs[:, 1] < seq_len // 2).mean()
    assert both_early > 0.05
    counts = np.bincount(pairs.reshape(-1), minlength=seq_len) / 10000
    np.testing.assert_allclose(counts, 1 / seq_len, atol=0.02)
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * markers).sum(axis=0), rtol=1e-6)


def test_adding_hochreiter_1997():
    seq_len, batch = 40, 3000
    x, y, lengths = adding(batch, seq_len, rng(3), variant="hochreiter1997")
    max_len = seq_len + seq_len // 10
    assert x.shape == (max_len, batch, 2) and x.dtype == np.float32
    assert lengths.dtype == np.int64 and y.shape == (batch, 1)
    assert lengths.min() == seq_len and lengths.max() == max_len  # [T, T + T/10], inclusive
    values, markers = x[:, :, 0], x[:, :, 1]
    steps = np.arange(max_len)[:, None]
    assert (x[steps >= lengths[None, :]] == 0).all()  # padding is all zero
    assert values.min() >= -1.0 and values.max() <= 1.0 and values.min() < -0.9
    assert ((markers == 1).sum(axis=0) == 2).all()
    cols = np.arange(batch)
    assert (markers[lengths - 1, cols] == -1).all()
    first_marked = markers[0] == 1
    assert (markers[0, ~first_marked] == -1).all() and (values[0, first_marked] == 0).all()
    assert 0.05 < first_marked.mean() < 0.15  # the first of ten pairs: about 1/10
    marks = np.sort(np.nonzero((markers == 1).T)[1].reshape(batch, 2), axis=1)
    assert (marks[:, 0] < 10).all() and (marks[:, 1] < seq_len // 2).all()
    assert ((markers == -1).sum(axis=0) == 2 - first_marked).all()  # nothing else is marked
    marked_sum = np.where(markers == 1, values, 0).sum(axis=0)
    np.testing.assert_allclose(y[:, 0], 0.5 + marked_sum / 4, rtol=1e-6)
    assert 0.0 <= y.min() and y.max() <= 1.0


def test_hochreiter_needs_room_for_both_marks():
    with pytest.raises(ValueError, match="seq_len must be >= 22.*got 21"):
        adding(2, 21, rng(), variant="hochreiter1997")


# ---- copy --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("seq_len", "n_symbols", "n_copy"), [(2, 8, 10), (30, 8, 10), (5, 3, 4)])
def test_copy_arjovsky_layout(seq_len, n_symbols, n_copy):
    x, y = copy(500, seq_len, rng(4), n_symbols=n_symbols, n_copy=n_copy)
    total = seq_len + 2 * n_copy
    assert x.shape == y.shape == (total, 500) and x.dtype == y.dtype == np.int64
    delimiter = n_symbols + 1
    symbols = x[:n_copy]
    assert symbols.min() == 1 and symbols.max() == n_symbols
    assert (x[n_copy:n_copy + seq_len - 1] == 0).all()
    assert (x[n_copy + seq_len - 1] == delimiter).all()
    assert (x[n_copy + seq_len:] == 0).all()
    assert (y[:seq_len + n_copy] == 0).all()
    np.testing.assert_array_equal(y[seq_len + n_copy:], symbols)
    assert x.max() == delimiter and y.max() == n_symbols  # 10 input, 9 output classes by default


def test_copy_symbols_are_uniform():
    x, _ = copy(4000, 3, rng(5))
    freq = np.bincount(x[:10].reshape(-1), minlength=9)[1:] / 40000
    np.testing.assert_allclose(freq, 1 / 8, atol=0.01)


def test_copy_exprnn_delimiter_one_step_later():
    seq_len, n_copy = 6, 3
    x, y = copy(50, seq_len, rng(6), n_copy=n_copy, variant="exprnn")
    xa, ya = copy(50, seq_len, rng(6), n_copy=n_copy)
    assert x.shape == (seq_len + 2 * n_copy, 50)
    assert (x[n_copy:n_copy + seq_len] == 0).all()
    assert (x[n_copy + seq_len] == 9).all() and (x[n_copy + seq_len + 1:] == 0).all()
    # the delimiter arrives on the step the first symbol is due
    assert (y[n_copy + seq_len] == x[0]).all()
    np.testing.assert_array_equal(y, ya)
    np.testing.assert_array_equal(np.argmax(x == 9, axis=0), np.argmax(xa == 9, axis=0) + 1)


def test_copy_tcn_delimiters_through_the_recall_phase():
    seq_len, n_copy = 6, 3
    x, y = copy(50, seq_len, rng(7), n_copy=n_copy, variant="tcn")
    assert (x[n_copy:n_copy + seq_len - 1] == 0).all()
    assert (x[n_copy + seq_len - 1:] == 9).all()  # n_copy + 1 delimiters
    np.testing.assert_array_equal(y[-n_copy:], x[:n_copy])
    assert get_task("copy", seq_len, "tcn", n_copy=n_copy).input_encoding == "scalar"


# ---- baselines ---------------------------------------------------------------------------------
def test_copy_baseline_formula_matches_published_values():
    published = {100: 0.173, 200: 0.0945, 300: 0.0650, 500: 0.0400, 1000: 0.0204}
    for seq_len, value in published.items():
        assert copy_baseline(seq_len) == pytest.approx(value, abs=6e-4)
    assert copy_baseline(10, n_symbols=3, n_copy=4) == pytest.approx(4 * math.log(3) / 18)


@pytest.mark.parametrize(("variant", "seq_len"), [("arjovsky", 50), ("tcn", 30),
                                                  ("hochreiter1997", 30)])
def test_adding_baseline_formula_vs_memoryless_predictor(variant, seq_len):
    task = Task("adding", seq_len, variant)
    fit = task.make_batch(20000, seed_stream(1, STREAM_TRAIN))
    test = task.test_set(1, 20000)
    constant = fit.y.astype(np.float64).mean()  # the best memoryless prediction, estimated
    measured = np.mean((test.y.astype(np.float64) - constant) ** 2)
    assert measured == pytest.approx(task.baseline(), rel=0.03)
    if variant != "hochreiter1997":
        assert task.baseline() == pytest.approx(1 / 6)


@pytest.mark.parametrize("variant", ["arjovsky", "exprnn", "tcn"])
def test_copy_baseline_formula_vs_memoryless_predictor(variant):
    task = Task("copy", 20, variant, n_symbols=8, n_copy=5)
    fit = task.make_batch(20000, seed_stream(2, STREAM_TRAIN))
    test = task.test_set(2, 20000)
    classes = task.output_size
    # per-position class frequencies: the best predictor that ignores the inputs
    freq = np.stack([np.bincount(row, minlength=classes) for row in fit.y]) / fit.y.shape[1]
    prob = np.clip(freq, 1e-12, None)
    measured = -np.log(np.take_along_axis(prob, test.y, axis=1)).mean()
    assert measured == pytest.approx(task.baseline(), rel=0.03)
    assert task.baseline() == pytest.approx(5 * math.log(8) / 30)


# ---- Task objects, seeds -----------------------------------------------------------------------
def test_task_shapes_and_solved_tests():
    adding_task, copy_task = get_task("adding", 10), get_task("copy", 10)
    assert (adding_task.input_size, adding_task.output_size) == (2, 1)
    assert (copy_task.input_size, copy_task.output_size) == (10, 9)
    assert copy_task.total_length == 30 and adding_task.loss_key == "mse"
    assert get_task("adding", 30, "hochreiter1997").total_length == 33
    assert adding_task.is_solved({"mse": 0.0099}) and not adding_task.is_solved({"mse": 0.01})
    assert copy_task.is_solved({"recall_accuracy": 0.99})
    assert not copy_task.is_solved({"recall_accuracy": 0.989})
    h97 = get_task("adding", 30, "hochreiter1997")
    assert h97.is_solved({"mse": 0.001, "within_tolerance": 1.0})
    assert not h97.is_solved({"mse": 0.001, "within_tolerance": 0.999})


def test_test_set_is_fixed_and_apart_from_training():
    task = get_task("copy", 10)
    a, b = task.test_set(0, 64), task.test_set(0, 64)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(task.test_set(1, 64).x, a.x)
    train = task.make_batch(64, seed_stream(0, STREAM_TRAIN))
    assert not np.array_equal(train.x, a.x)
    # the streams are SeedSequence children: the test stream is not the training stream
    assert seed_stream(0, STREAM_TEST).integers(1 << 62) != seed_stream(0, STREAM_TRAIN).integers(
        1 << 62)
    x1, y1 = adding(8, 10, rng(9))
    x2, y2 = adding(8, 10, rng(9))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: adding(0, 10, rng()), "batch_size.*got 0"),
    (lambda: adding(2, 1, rng()), "seq_len.*got 1"),
    (lambda: adding(2, 10.0, rng()), "seq_len.*got 10.0"),
    (lambda: adding(2, 10, rng(), variant="bai"), "variant.*'bai'"),
    (lambda: adding(2, 10, 0), "rng must be a numpy.random.Generator"),
    (lambda: copy(2, 10, rng(), n_copy=0), "n_copy.*got 0"),
    (lambda: copy(2, 10, rng(), n_symbols=1), "n_symbols.*got 1"),
    (lambda: copy(2, 1, rng()), "seq_len.*got 1"),
    (lambda: copy(-1, 10, rng()), "batch_size.*got -1"),
    (lambda: copy(2, 10, rng(), variant="s4"), "variant.*'s4'"),
    (lambda: Task("parity", 10), "task must be one of.*'parity'"),
    (lambda: Task("copy", 10, "hochreiter1997"), "variant for task 'copy'"),
    (lambda: get_task("adding", 10).test_set(0, 0), "size.*got 0"),
    (lambda: adding_baseline(10, "x"), "variant.*'x'"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
