"""Dynamic time warping and the 1-nearest-neighbour classifier on it, in Numba.

DTW_D ("dependent", Shokoohi-Yekta et al. 2017): one warping path for all features, the local
cost of matching frames a_i and b_j the squared Euclidean distance sum_d (a_id - b_jd)^2; the
distance is the least total cost over monotone, continuous paths from (0, 0) to (n-1, m-1).
DTW_I ("independent"): the sum over features of each feature's own univariate DTW. An optional
Sakoe-Chiba band `window` (in frames) limits |i - j|; it is widened to |n - m| so that unequal
lengths always have a path. Each distance runs in O(n m d) time and O(m) memory.
"""

from __future__ import annotations

import numpy as np
from numba import njit

MODES = ("dependent", "independent")


@njit(cache=True)
def _dtw(a, b, window, feature):
    """DTW between a (n, d) and b (m, d) over every feature (feature < 0) or one feature."""
    n, m = a.shape[0], b.shape[0]
    band = max(window, abs(n - m)) if window >= 0 else max(n, m)
    inf = np.inf
    previous = np.full(m + 1, inf)
    current = np.full(m + 1, inf)
    previous[0] = 0.0
    lo_d, hi_d = (0, a.shape[1]) if feature < 0 else (feature, feature + 1)
    for i in range(1, n + 1):
        current[:] = inf
        for j in range(max(1, i - band), min(m, i + band) + 1):
            cost = 0.0
            for d in range(lo_d, hi_d):
                diff = a[i - 1, d] - b[j - 1, d]
                cost += diff * diff
            best = previous[j - 1]
            if previous[j] < best:
                best = previous[j]
            if current[j - 1] < best:
                best = current[j - 1]
            current[j] = cost + best
        previous, current = current, previous
    return previous[m]


@njit(cache=True)
def _pairwise(queries, q_starts, references, r_starts, window, independent):
    """distances[q, r] between the packed sequences (rows start..next start of each array)."""
    nq, nr = q_starts.shape[0] - 1, r_starts.shape[0] - 1
    out = np.empty((nq, nr))
    features = queries.shape[1]
    for q in range(nq):
        a = queries[q_starts[q]:q_starts[q + 1]]
        for r in range(nr):
            b = references[r_starts[r]:r_starts[r + 1]]
            if independent:
                total = 0.0
                for d in range(features):
                    total += _dtw(a, b, window, d)
                out[q, r] = total
            else:
                out[q, r] = _dtw(a, b, window, -1)
    return out


def _pack(name: str, sequences, features: int | None = None):
    arrays = [np.asarray(s, np.float64) for s in sequences]
    if not arrays:
        raise ValueError(f"dtw: {name} is empty")
    for i, s in enumerate(arrays):
        if s.ndim != 2 or s.shape[0] < 1:
            raise ValueError(f"dtw: {name}[{i}] must be (length >= 1, features), got shape "
                             f"{s.shape}")
        if features is not None and s.shape[1] != features:
            raise ValueError(f"dtw: {name}[{i}] has {s.shape[1]} features, expected {features}")
        features = s.shape[1]
    starts = np.concatenate([[0], np.cumsum([len(s) for s in arrays])]).astype(np.int64)
    return np.ascontiguousarray(np.concatenate(arrays, axis=0)), starts, features


def _check(mode: str, window):
    if mode not in MODES:
        raise ValueError(f"dtw: mode must be one of {MODES}, got {mode!r}")
    if window is not None and (not isinstance(window, int | np.integer) or window < 0):
        raise ValueError(f"dtw: window must be None or an int >= 0 (frames), got {window!r}")
    return -1 if window is None else int(window)


def dtw_distance(a, b, mode: str = "dependent", window: int | None = None) -> float:
    """DTW between two sequences a (n, features) and b (m, features)."""
    return float(dtw_matrix([a], [b], mode, window)[0, 0])


def dtw_matrix(queries, references, mode: str = "dependent",
               window: int | None = None) -> np.ndarray:
    """(len(queries), len(references)) DTW distances between two lists of sequences."""
    band = _check(mode, window)
    q, q_starts, features = _pack("queries", queries)
    r, r_starts, _ = _pack("references", references, features)
    return _pairwise(q, q_starts, r, r_starts, band, mode == "independent")


def nearest_neighbour(train_x, train_y, test_x, mode: str = "dependent",
                      window: int | None = None) -> np.ndarray:
    """1-NN labels of test_x under DTW (ties go to the earliest training sequence)."""
    train_y = np.asarray(train_y)
    if train_y.shape != (len(train_x),):
        raise ValueError(f"nearest_neighbour: train_y must have shape ({len(train_x)},), got "
                         f"{train_y.shape}")
    return train_y[np.argmin(dtw_matrix(test_x, train_x, mode, window), axis=1)]
