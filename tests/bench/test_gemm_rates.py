"""bench.gemm_rates: every shape measured for each library and both minigrad per-step paths, and a
bad option named."""

from __future__ import annotations

import pytest

from bench import gemm_rates


def test_minigrad_rates_cover_both_step_paths():
    rows = gemm_rates.minigrad_rates(1)
    assert set(rows) == {f"{m}x{k}x{n}" for m, k, n in gemm_rates.STEP_SHAPES}
    for row in rows.values():
        assert set(row) == {"blas tiles", "microkernel"}
        assert all(best >= median > 0 for best, median in row.values())


def test_numpy_rates_cover_step_and_big_shapes():
    rows = gemm_rates.library_rates("numpy", 1)
    assert len(rows) == len(gemm_rates.STEP_SHAPES) + len(gemm_rates.BIG_SHAPES)
    assert all(best >= median > 0 for best, median in rows.values())


def test_unknown_library_is_named(capsys):
    with pytest.raises(SystemExit):
        gemm_rates.main(["--libraries", "numpy,mkl"])
    assert "mkl" in capsys.readouterr().err
