"""Interpolated modified Kneser-Ney character n-grams (Chen & Goodman 1999), in numpy.

An n-gram is one int64 key, (rank of its prefix among the training (n-1)-grams) * vocab_size + its
last id, so counting is np.unique and look-up np.searchsorted, at any order. For a context h and
a next character w, at order k:

    P_k(w | h) = max(c(hw) - D(c(hw)), 0) / c(h.) + gamma(h) P_{k-1}(w | h minus its first char)
    gamma(h)   = (D1 N1(h.) + D2 N2(h.) + D3 N3+(h.)) / c(h.)

with raw counts c at the model's highest order and continuation counts (how many distinct
characters precede hw in training) below it, P_0 uniform over the vocabulary, and a context never
seen in training backing off whole (P_k = P_{k-1}). The discounts of each order come from its
counts of counts: Y = n1 / (n1 + 2 n2), D1 = 1 - 2Y n2/n1, D2 = 2 - 3Y n3/n2, D3 = 3 - 4Y n4/n3.
At the start of a text, a character is predicted from the context there is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # when a count of counts is zero (tiny corpora)
MISSING = -1  # key of an n-gram whose prefix never occurs in training


@dataclass
class _Table:
    """One order's n-grams (sorted keys, counts) grouped by context."""

    keys: np.ndarray
    counts: np.ndarray
    contexts: np.ndarray       # sorted unique context keys
    totals: np.ndarray         # c(h.)
    gamma_mass: np.ndarray     # D1 N1(h.) + D2 N2(h.) + D3 N3+(h.)
    discounts: np.ndarray      # [0, D1, D2, D3]


def estimate_discounts(counts: np.ndarray) -> tuple[float, float, float]:
    """Chen & Goodman's D1, D2, D3+ from the counts of counts n1..n4."""
    n = [int((counts == r).sum()) for r in (1, 2, 3, 4)]
    if min(n) == 0:
        return FALLBACK_DISCOUNTS
    y = n[0] / (n[0] + 2 * n[1])
    d = (1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2])
    return tuple(float(np.clip(v, 0.0, r)) for v, r in zip(d, (1, 2, 3)))


def _table(keys, counts, vocab_size, discounts=None) -> _Table:
    d = np.array([0.0, *(discounts or estimate_discounts(counts))])
    contexts = keys // vocab_size
    starts = np.flatnonzero(np.r_[True, contexts[1:] != contexts[:-1]])
    per_gram = d[np.minimum(counts, 3)]
    return _Table(keys, counts, contexts[starts], np.add.reduceat(counts, starts).astype(float),
                  np.add.reduceat(per_gram, starts), d)


def _find(sorted_keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, found) of each query in sorted_keys."""
    index = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    return index, sorted_keys[index] == queries


class KneserNey:
    """Counts of a training text up to max_order; probabilities for any order up to it."""

    def __init__(self, train_ids, vocab_size: int, max_order: int = 12, discounts=None):
        train_ids = np.asarray(train_ids, dtype=np.int64)
        if isinstance(max_order, bool) or not isinstance(max_order, int) or max_order < 1:
            raise ValueError(f"KneserNey: max_order must be an integer >= 1, got {max_order!r}")
        if train_ids.ndim != 1 or train_ids.size < max_order + 1:
            raise ValueError(f"KneserNey: train_ids must be 1-d with more than max_order="
                             f"{max_order} ids, got shape {train_ids.shape}")
        if train_ids.min() < 0 or train_ids.max() >= vocab_size:
            raise ValueError(f"KneserNey: ids must be in [0, {vocab_size}), got min "
                             f"{train_ids.min()} max {train_ids.max()}")
        self.vocab_size, self.max_order = vocab_size, max_order
        # the k-gram at each training position as (rank of its (k-1)-gram prefix among the
        # distinct ones) * vocab_size + its last id: an int64 whatever the order
        self.unique: list = [None]
        firsts, counts, keys = [None], [None], [None]
        rank = None
        for k in range(1, max_order + 1):
            key = train_ids if k == 1 else rank[:-1] * vocab_size + train_ids[k - 1:]
            uniq, first, rank, count = np.unique(key, return_index=True, return_inverse=True,
                                                 return_counts=True)
            self.unique.append(uniq)
            firsts.append(first)
            counts.append(count)
            keys.append(key)
        self.raw = [None] + [_table(self.unique[k], counts[k], vocab_size, discounts)
                             for k in range(1, max_order + 1)]
        self.continuation = [None]
        for k in range(1, max_order):
            # each distinct (k+1)-gram once -> its last k characters (the k-gram one later)
            suffixes = keys[k][firsts[k + 1] + 1]
            self.continuation.append(_table(*np.unique(suffixes, return_counts=True),
                                            vocab_size, discounts))

    def _extend(self, key: np.ndarray, ids: np.ndarray, order: int) -> np.ndarray:
        """The (order-1)-gram keys of a text -> its order-gram keys (MISSING where the prefix
        never occurs in training)."""
        index, seen = _find(self.unique[order - 1], key)
        rank = np.where(seen, index, MISSING)[:-1]
        return np.where(rank == MISSING, MISSING, rank * self.vocab_size + ids[order - 1:])

    def _level(self, table: _Table, grams: np.ndarray, lower: np.ndarray) -> np.ndarray:
        index, seen = _find(table.keys, grams)
        count = np.where(seen, table.counts[index], 0)
        context, context_seen = _find(table.contexts, grams // self.vocab_size)
        context_seen &= grams != MISSING
        total = table.totals[context]
        discounted = np.maximum(count - table.discounts[np.minimum(count, 3)], 0.0)
        p = (discounted + table.gamma_mass[context] * lower) / total
        return np.where(context_seen, p, lower)

    def log2_probs_by_order(self, ids, orders=None) -> dict[int, np.ndarray]:
        """{order: log2 P(ids[j] | ids[:j]) for j = 1 .. len(ids) - 1}, all orders in one pass
        (they share the continuation levels below their top)."""
        ids = np.asarray(ids, dtype=np.int64)
        orders = sorted(set(orders or range(1, self.max_order + 1)))
        if orders[0] < 1 or orders[-1] > self.max_order:
            raise ValueError(f"orders must be in 1..{self.max_order}, got {orders}")
        if ids.ndim != 1 or ids.size < 2:
            raise ValueError(f"ids must be 1-d with at least 2 ids, got shape {ids.shape}")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"ids must be in [0, {self.vocab_size}), got min {ids.min()} max "
                             f"{ids.max()}")
        targets = len(ids) - 1
        lower = np.full(targets, 1.0 / self.vocab_size)  # the continuation levels: P_{k-1}
        short = np.empty(targets)  # target t with only t + 1 characters before it: P_{t+2}
        out, key = {}, ids
        for k in range(1, orders[-1] + 1):
            first = max(0, k - 2)  # the first target with k - 1 characters of context
            if first >= targets:
                out.update({o: np.log2(short) for o in orders if o >= k})
                break
            key = key if k == 1 else self._extend(key, ids, k)
            grams = key[first + 2 - k:]
            top = self._level(self.raw[k], grams, lower[first:])
            short[first] = top[0]
            if k in orders:
                out[k] = np.log2(np.concatenate([short[:first], top]))
            if k < self.max_order:
                lower[first:] = self._level(self.continuation[k], grams, lower[first:])
        return out

    def log2_probs(self, ids, order: int) -> np.ndarray:
        """log2 P(ids[j] | ids[:j]) for j = 1 .. len(ids) - 1 under the order-`order` model."""
        return self.log2_probs_by_order(ids, [order])[order]

    def bits_per_char(self, ids, order: int) -> float:
        """Mean -log2 P over ids[1:]."""
        return float(-self.log2_probs(ids, order).mean())


def choose_order(model: KneserNey, valid_ids, orders=None) -> tuple[int, dict[int, float]]:
    """The order with the lowest validation bits per character, and every order's figure."""
    scores = {k: float(-v.mean()) for k, v in model.log2_probs_by_order(valid_ids, orders).items()}
    best = min(scores, key=lambda k: (scores[k], k))
    if not math.isfinite(scores[best]):
        raise RuntimeError(f"choose_order: no order gives a finite figure: {scores}")
    return best, scores
