"""DTW against a brute-force minimum over every warping path, and the 1-NN classifier."""

from __future__ import annotations

import numpy as np
import pytest

from lstm.apps.classify.dtw import dtw_distance, dtw_matrix, nearest_neighbour


def brute_force_dtw(a, b, window=None):
    """The least path cost over every monotone, continuous path from (0, 0) to (n-1, m-1),
    enumerated one by one (exponential: small inputs only)."""
    n, m = len(a), len(b)
    band = max(n, m) if window is None else max(window, abs(n - m))
    cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    best = np.inf
    stack = [(0, 0, cost[0, 0])]
    while stack:
        i, j, total = stack.pop()
        if (i, j) == (n - 1, m - 1):
            best = min(best, total)
            continue
        for di, dj in ((1, 0), (0, 1), (1, 1)):
            k, l = i + di, j + dj
            if k < n and l < m and abs(k - l) <= band:
                stack.append((k, l, total + cost[k, l]))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_dependent_dtw_equals_the_brute_force_minimum(seed):
    rng = np.random.default_rng(seed)
    features = int(rng.integers(1, 4))
    a = rng.normal(size=(int(rng.integers(1, 6)), features))
    b = rng.normal(size=(int(rng.integers(1, 6)), features))
    assert dtw_distance(a, b) == pytest.approx(brute_force_dtw(a, b), rel=1e-12)
    assert dtw_distance(b, a) == pytest.approx(dtw_distance(a, b), rel=1e-12)


@pytest.mark.parametrize("window", [0, 1, 2])
def test_the_band_limits_the_paths_as_the_brute_force_does(window):
    rng = np.random.default_rng(10 + window)
    a, b = rng.normal(size=(5, 2)), rng.normal(size=(4, 2))
    expected = brute_force_dtw(a, b, window)
    assert dtw_distance(a, b, window=window) == pytest.approx(expected, rel=1e-12)
    assert dtw_distance(a, b, window=window) >= dtw_distance(a, b) - 1e-12


def test_independent_dtw_is_the_sum_of_per_feature_distances():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    expected = sum(brute_force_dtw(a[:, [d]], b[:, [d]]) for d in range(3))
    assert dtw_distance(a, b, mode="independent") == pytest.approx(expected, rel=1e-12)
    assert dtw_distance(a, b, mode="independent") <= dtw_distance(a, b) + 1e-12


def test_warping_absorbs_repeated_frames_that_euclidean_distance_cannot():
    a = np.array([[0.0], [1.0], [2.0]])
    b = np.array([[0.0], [0.0], [1.0], [1.0], [2.0]])
    assert dtw_distance(a, b) == 0.0
    assert dtw_distance(a, a + 1.0) == 2.0  # (0,0), then 1 and 2 matched exactly, then (2,2)
    assert dtw_distance(np.zeros((3, 1)), np.ones((3, 1))) == 3.0  # no path beats the diagonal


def test_matrix_and_nearest_neighbour():
    rng = np.random.default_rng(4)
    train = [rng.normal(size=(int(rng.integers(2, 6)), 2)) for _ in range(5)]
    test = [train[3] + 1e-3, train[1][::-1].copy(), rng.normal(size=(3, 2))]
    distances = dtw_matrix(test, train)
    assert distances.shape == (3, 5)
    for q, r in [(0, 3), (1, 1), (2, 4)]:
        assert distances[q, r] == pytest.approx(brute_force_dtw(test[q], train[r]), rel=1e-12)
    labels = np.array([10, 11, 12, 13, 14])
    predicted = nearest_neighbour(train, labels, test)
    np.testing.assert_array_equal(predicted, labels[distances.argmin(1)])
    assert predicted[0] == 13


@pytest.mark.parametrize("call, message", [
    (lambda: dtw_matrix([np.zeros((2, 2))], [np.zeros((2, 3))]), "3 features, expected 2"),
    (lambda: dtw_matrix([np.zeros((0, 2))], [np.zeros((2, 2))]), r"queries\[0\]"),
    (lambda: dtw_matrix([], [np.zeros((2, 2))]), "queries is empty"),
    (lambda: dtw_distance(np.zeros((2, 1)), np.zeros((2, 1)), mode="x"), "mode"),
    (lambda: dtw_distance(np.zeros((2, 1)), np.zeros((2, 1)), window=-1), "window"),
    (lambda: nearest_neighbour([np.zeros((2, 1))], [0, 1], [np.zeros((2, 1))]), "train_y"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_japanese_vowels_one_nn_dtw():
    """The baseline on the real split (standardised with training statistics)."""
    pytest.importorskip("sktime")
    from lstm.apps.classify.train import dtw_baseline

    result = dtw_baseline()
    assert 0.94 <= result["dtw_accuracy"] <= 0.98
    assert np.sum(result["dtw_confusion"]) == 370
