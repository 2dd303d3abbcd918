"""The Kneser-Ney n-gram: a hand computation, normalisation, a brute-force reference."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from lstm.apps.charlm.ngram import KneserNey, choose_order, estimate_discounts

FIXED = (0.5, 1.0, 1.5)


def test_hand_computed_bigram():
    # train "abab" (a=0, b=1, unknown=2): bigrams ab x2, ba x1; continuation counts a:1, b:1.
    # unigram level: (1 - 0.5 + 0.5 * 2 * 1/3) / 2 = 5/12 for a and b, (1/3) / 2 = 1/6 unknown.
    # P(b|a) = (2 - 1 + 1.0 * 5/12) / 2 = 17/24; P(a|b) = (1 - 0.5 + 0.5 * 5/12) / 1 = 17/24;
    # P(unknown|a) = (1.0 * 1/6) / 2 = 1/12; the context "unknown" is unseen: P(a) = 5/12.
    model = KneserNey([0, 1, 0, 1], vocab_size=3, max_order=2, discounts=FIXED)
    probs = 2.0 ** model.log2_probs([0, 1, 0, 2, 0], order=2)
    np.testing.assert_allclose(probs, [17 / 24, 17 / 24, 1 / 12, 5 / 12], rtol=1e-12)
    expected_bits = -np.mean(np.log2([17 / 24, 17 / 24, 1 / 12, 5 / 12]))
    assert model.bits_per_char([0, 1, 0, 2, 0], 2) == pytest.approx(expected_bits, rel=1e-12)
    # order 1 uses raw unigram counts: a 2, b 2 of 4, gamma mass 2 * D2 = 2
    probs = 2.0 ** model.log2_probs([0, 1, 2], order=1)
    np.testing.assert_allclose(probs, [5 / 12, 1 / 6], rtol=1e-12)


def test_discounts_from_counts_of_counts():
    counts = np.array([1] * 10 + [2] * 4 + [3] * 2 + [4] * 1 + [9] * 3)
    y = 10 / (10 + 2 * 4)
    expected = (1 - 2 * y * 4 / 10, 2 - 3 * y * 2 / 4, 3 - 4 * y * 1 / 2)
    assert estimate_discounts(counts) == pytest.approx(expected)
    assert estimate_discounts(np.array([1, 1, 2])) == (0.5, 1.0, 1.5)  # no 3s or 4s: fallback


def _reference_log2_probs(train, test, vocab_size, order, d):
    """Interpolated modified Kneser-Ney written out with dicts, one probability at a time."""
    def grams(k):
        return Counter(tuple(train[i:i + k]) for i in range(len(train) - k + 1))

    raw = {k: grams(k) for k in range(1, order + 1)}
    continuation = {k: Counter(g[1:] for g in raw[k + 1]) for k in range(1, order)}

    def discount(c):
        return 0.0 if c == 0 else d[min(c, 3) - 1]

    def prob(history, w, k, top):
        if k == 0:
            return 1.0 / vocab_size
        lower = prob(history[1:], w, k - 1, top)
        table = raw[k] if k == top else continuation[k]
        followers = {g[-1]: c for g, c in table.items() if g[:-1] == history}
        total = sum(followers.values())
        if total == 0:
            return lower
        c = followers.get(w, 0)
        gamma = sum(discount(x) for x in followers.values())
        return (max(c - discount(c), 0.0) + gamma * lower) / total

    out = []
    for j in range(1, len(test)):
        k = min(order, j + 1)
        out.append(math.log2(prob(tuple(test[j - k + 1:j]), test[j], k, k)))
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_reference(seed):
    rng = np.random.default_rng(seed)
    vocab_size = 4
    # a repetitive source (so higher orders have counts) with noise
    pattern = rng.integers(0, 3, 7)
    train = np.where(rng.random(300) < 0.2, rng.integers(0, 3, 300), np.tile(pattern, 43)[:300])
    test = np.concatenate([np.tile(pattern, 5)[:30], [3, 1, 0, 3], rng.integers(0, 4, 20)])
    model = KneserNey(train, vocab_size, max_order=4, discounts=(0.3, 0.9, 1.4))
    by_order = model.log2_probs_by_order(test)
    for order in range(1, 5):
        expected = _reference_log2_probs(train.tolist(), test.tolist(), vocab_size, order,
                                         (0.3, 0.9, 1.4))
        np.testing.assert_allclose(by_order[order], expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(model.log2_probs(test, order), expected, rtol=1e-10)


def test_probabilities_sum_to_one_for_every_context():
    rng = np.random.default_rng(3)
    train = rng.integers(0, 5, 400) // 2 * 2  # ids 0, 2, 4 only: 1 and 3 never seen
    model = KneserNey(train, vocab_size=5, max_order=3)
    for history in itertools.product(range(5), repeat=2):
        total = sum(2.0 ** model.log2_probs([*history, w], 3)[-1] for w in range(5))
        assert total == pytest.approx(1.0, abs=1e-12), history


def test_choose_order_picks_the_lowest_validation_figure():
    rng = np.random.default_rng(4)
    pattern = rng.integers(0, 6, 11)
    train = np.tile(pattern, 60)
    model = KneserNey(train, vocab_size=6, max_order=5)
    order, scores = choose_order(model, np.tile(pattern, 6))
    assert scores[order] == min(scores.values())
    assert order >= 2 and scores[1] > scores[order] + 1.0  # the periodic text needs context


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="ids must be in"):
        KneserNey([0, 1, 5, 1], vocab_size=3, max_order=2)
    with pytest.raises(ValueError, match="max_order"):
        KneserNey([0, 1, 0, 1], vocab_size=3, max_order=0)
    model = KneserNey([0, 1, 0, 1], vocab_size=3, max_order=2)
    with pytest.raises(ValueError, match=r"orders must be in 1..2, got \[3\]"):
        model.log2_probs([0, 1], 3)
    with pytest.raises(ValueError, match="at least 2 ids"):
        model.log2_probs([0], 1)
