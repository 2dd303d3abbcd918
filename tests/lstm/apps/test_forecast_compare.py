"""The Diebold-Mariano test (HLN-corrected) against hand-worked examples, and the moving-block
bootstrap interval on the RMSE difference against a numpy computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstm.apps.forecast.compare import (
    block_bootstrap_rmse_diff,
    diebold_mariano,
    origin_losses,
)

stats = pytest.importorskip("scipy.stats")


def _with_losses(d: list[float], horizon: int = 2):
    """Forecasts a (each step sqrt(d_t) off a zero truth) and b (exact): d_t is a's loss."""
    d = np.asarray(d, np.float64)
    a = np.repeat(np.sqrt(d)[:, None], horizon, axis=1)
    return a, np.zeros_like(a), np.zeros_like(a)


def test_dm_by_hand_rectangular():
    # d = 1..6, h = 2: mean 3.5; gamma_0 = 17.5/6, gamma_1 = 8.75/6, V = 35/6;
    # DM = 3.5 / sqrt(V/6) = 21/sqrt(35); HLN factor sqrt((6+1-4+2/6)/6) = sqrt(5/9)
    # -> DM* = 21/sqrt(35) * sqrt(5/9) = sqrt(7), compared with t(5)
    a, b, actual = _with_losses([1, 2, 3, 4, 5, 6])
    got = diebold_mariano(a, b, actual)
    assert got["dm"] == pytest.approx(math.sqrt(7), rel=1e-12)
    assert got["p_value"] == pytest.approx(2 * stats.t.sf(math.sqrt(7), 5), rel=1e-12)
    assert (got["mean_diff"], got["n"], got["lags"], got["variance"]) == (3.5, 6, 1,
                                                                          "rectangular")
    swapped = diebold_mariano(b, a, actual)  # the sign follows which forecast is better
    assert swapped["dm"] == pytest.approx(-math.sqrt(7)) and swapped["p_value"] == pytest.approx(
        got["p_value"])


def test_dm_by_hand_bartlett_when_the_rectangular_variance_is_not_positive():
    # d = 1,3,2,4,0,2: mean 2, centred -1,1,0,2,-2,0; gamma_0 = 10/6, gamma_1 = -5/6:
    # rectangular V = 0, Bartlett V = 10/6 - 5/6 = 5/6; DM = 2/sqrt(5/36) = 12/sqrt(5);
    # times sqrt(5/9) -> 4
    a, b, actual = _with_losses([1, 3, 2, 4, 0, 2])
    got = diebold_mariano(a, b, actual)
    assert got["variance"] == "bartlett" and got["dm"] == pytest.approx(4.0, rel=1e-12)
    assert got["p_value"] == pytest.approx(2 * stats.t.sf(4.0, 5), rel=1e-12)


def test_dm_one_step_is_the_t_test_of_the_differential():
    # h = 1: no lags and HLN's factor sqrt((n-1)/n) turns DM into the one-sample t statistic
    rng = np.random.default_rng(2)
    actual = rng.normal(size=(30, 1))
    a, b = actual + rng.normal(size=(30, 1)), actual + 1.3 * rng.normal(size=(30, 1))
    d = ((a - actual) ** 2 - (b - actual) ** 2).ravel()
    t = stats.ttest_1samp(d, 0.0)
    got = diebold_mariano(a, b, actual)
    assert got["dm"] == pytest.approx(t.statistic, rel=1e-10)
    assert got["p_value"] == pytest.approx(t.pvalue, rel=1e-8)


def test_seeds_average_their_losses_and_errors_are_clear():
    rng = np.random.default_rng(0)
    actual = rng.normal(size=(8, 3))
    seeds = actual[None] + rng.normal(size=(4, 8, 3))
    np.testing.assert_allclose(origin_losses(seeds, actual),
                               np.mean([origin_losses(s, actual) for s in seeds], axis=0))
    with pytest.raises(ValueError, match="matching actual"):
        diebold_mariano(seeds[:, :5], actual, actual)
    with pytest.raises(ValueError, match="too few for horizon"):
        diebold_mariano(seeds[0, :3], actual[:3], actual[:3], horizon=12)
    same = diebold_mariano(actual, actual, actual)
    assert math.isnan(same["dm"]) and same["mean_diff"] == 0.0


def test_bootstrap_matches_numpy_and_brackets_a_clear_difference():
    rng = np.random.default_rng(1)
    actual = rng.normal(size=(40, 4))
    good, bad = actual + 0.5 * rng.normal(size=(40, 4)), actual + 2.0 * rng.normal(size=(40, 4))
    got = block_bootstrap_rmse_diff(good, bad, actual, block=1, n_boot=500, seed=7)
    # block 1 is the ordinary bootstrap over origins: redo it with the same draws
    draws = np.random.default_rng(7).integers(0, 40, size=(500, 40))

    def rmse(f, i):
        return np.sqrt(np.mean((f[i] - actual[i]) ** 2))

    diffs = [rmse(good, i) - rmse(bad, i) for i in draws]
    assert got["low"] == pytest.approx(np.quantile(diffs, 0.025), rel=1e-12)
    assert got["high"] == pytest.approx(np.quantile(diffs, 0.975), rel=1e-12)
    assert got["diff"] == pytest.approx(rmse(good, slice(None)) - rmse(bad, slice(None)))
    assert got["high"] < 0 and diebold_mariano(good, bad, actual)["p_value"] < 1e-3
    # one block as long as the test: every resample is the test itself
    whole = block_bootstrap_rmse_diff(good, bad, actual, block=40, n_boot=50)
    assert whole["low"] == pytest.approx(whole["diff"]) == pytest.approx(whole["high"])
    # the default block is the horizon
    assert block_bootstrap_rmse_diff(good, bad, actual, n_boot=10)["block"] == 4
