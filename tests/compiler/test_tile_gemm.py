"""The per-step GEMM microkernel (backends/cpu_tile_gemm.py) equals numpy's product for every
block/remainder/narrow-tile case gemm_tiles routes through it, and the fused recurrences that use
it equal the composed step (float64 to 1e-10, float32 to rounding) with either step GEMM."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

import minigrad as mg
from minigrad.backends import cpu_tile_gemm
from minigrad.backends.cpu_blas import (
    TILES_ROW_BLOCK,
    TN_ROW_BLOCK,
    gemm_in_place,
    gemm_tiles,
    gemm_tiles_rows,
    gemm_tn,
    pack_ranges,
)
from minigrad.backends.cpu_tile_gemm import TILE, block_rows, tile_product
from minigrad.compiler import cpu_runtime as rt
from minigrad.ops.recurrent import _step, lstm_sequence


@njit(cache=True)
def _one_block(a, tile, c, beta):
    tile_product(a, tile, c, beta)


@njit(cache=True)
def _rows_of_block(c):
    return block_rows(c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
@pytest.mark.parametrize("inner", [1, 7, 130])
@pytest.mark.parametrize("tile_stride", [TILE, TILE + 13])
def test_one_block_equals_numpy_on_strided_views(dtype, beta, inner, tile_stride):
    """a and c are row views with a row stride wider than the block (as the kernels pass
    xh[prev, lo:hi, k0:] and g[lo:hi, slots]), the tile packed or TILE columns of a wider matrix
    (as gemm_in_place passes a block of gradients); beta 0 ignores c's old values, even NaN."""
    rng = np.random.default_rng(inner)
    rows = int(_rows_of_block(np.zeros((1, 1), dtype)))
    # 8 x 32 float32 / 4 x 32 float64 blocks with AVX-512's 64-byte vectors, 2 / 1 with 32-byte ones
    per_row = TILE // (cpu_tile_gemm.VECTOR_BYTES // np.dtype(dtype).itemsize)
    assert rows == cpu_tile_gemm.ACCUMULATORS // per_row
    a_full = rng.standard_normal((rows, inner + 3)).astype(dtype)
    tile = rng.standard_normal((inner, tile_stride)).astype(dtype)[:, tile_stride - TILE:]
    c_full = rng.standard_normal((rows, TILE + 9)).astype(dtype)
    if beta == 0.0:
        c_full[:, 4:4 + TILE] = np.nan
    before = c_full.copy()
    a, c = a_full[:, 3:], c_full[:, 4:4 + TILE]
    expected = (a.astype(np.float64) @ tile.astype(np.float64)
                + (beta * before[:, 4:4 + TILE] if beta else 0.0))
    _one_block(a, tile, c, beta)
    if inner > 1:  # the same block with a as a transposed view (unit stride along its rows)
        c_t = c_full.copy()
        c_t[:, 4:4 + TILE] = before[:, 4:4 + TILE] if beta else np.nan
        _one_block(np.ascontiguousarray(a.T).T, tile, c_t[:, 4:4 + TILE], beta)
        np.testing.assert_array_equal(c_t, c_full)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(c, expected, rtol=rtol, atol=rtol * np.sqrt(inner))
    np.testing.assert_array_equal(c_full[:, :4], before[:, :4])
    np.testing.assert_array_equal(c_full[:, 4 + TILE:], before[:, 4 + TILE:])


def test_tile_product_rejects_other_dtypes():
    with pytest.raises(Exception, match="tile_product"):
        _one_block(np.zeros((8, 2), np.int64), np.zeros((2, TILE), np.int64),
                   np.zeros((8, TILE), np.int64), 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [3, 8, 11, 16])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_gemm_tiles_on_tile_width_tiles(dtype, rows, beta):
    """Whole tiles through the microkernel, the rows past the last whole block and the ranges'
    narrow end tiles through BLAS; columns outside the ranges untouched."""
    rng = np.random.default_rng(rows)
    inner = 21
    a = rng.standard_normal((rows, inner)).astype(dtype)
    b = rng.standard_normal((inner, 150)).astype(dtype)
    c = rng.standard_normal((rows, 150)).astype(dtype)
    ranges = [(0, 80), (96, 144)]  # tiles of 32, 32, 16, 32, 16
    packed, starts, widths = pack_ranges(b, ranges, TILE)
    assert list(widths) == [32, 32, 16, 32, 16]
    expected = c.copy()
    for lo, hi in ranges:
        expected[:, lo:hi] = a @ b[:, lo:hi] + beta * c[:, lo:hi]
    gemm_tiles(a, packed, starts, widths, c, beta, 4)
    np.testing.assert_allclose(c, expected, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, inner, columns", [(32, 512, 256), (19, 40, 70), (3, 5, 32),
                                                  (8, 0, 64), (0, 4, 40)])
@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize("a_layout", ["rows", "transposed"])
def test_gemm_in_place_equals_numpy(dtype, rows, inner, columns, beta, a_layout):
    """b read where it lies (a column range of a wider matrix: row stride past its width), a a
    row view or a transposed one (the gated scan's x block as dL/dW^T's left operand): whole
    blocks through the microkernel, the rows past the last whole block and the columns past the
    last whole tile through BLAS (19 rows, 70 columns: both remainders); beta 0 ignores NaN in
    c; K = 0 gives beta c."""
    rng = np.random.default_rng(rows * 1000 + columns)
    if a_layout == "rows":
        a = rng.standard_normal((rows, inner + 2)).astype(dtype)[:, 2:]
    else:
        a = rng.standard_normal((inner, rows + 2)).astype(dtype)[:, 1:rows + 1].T
    b = rng.standard_normal((inner, columns + 7)).astype(dtype)[:, 3:3 + columns]
    c = rng.standard_normal((rows, columns)).astype(dtype)
    if beta == 0.0:
        c[:] = np.nan
    expected = (a.astype(np.float64) @ b.astype(np.float64)
                + (beta * c.astype(np.float64) if beta else 0.0))
    gemm_in_place(a, b, c, beta)
    tol = 1e-5 * np.sqrt(max(inner, 1)) if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, m, n", [(3200, 512, 130), (2 * TN_ROW_BLOCK + 5, 19, 70),
                                        (TN_ROW_BLOCK - 1, 8, 64), (40, 3, 33), (0, 16, 40)])
@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
def test_gemm_tn_equals_numpy(dtype, rows, m, n, beta):
    """c = a^T b over the rows, a and b row views of wider matrices (a gates buffer's slots, the
    [x | h] rows): the adding step's weight gradient (3,200 rows, 512 x 130: two leftover
    columns), a last pass shorter than TN_ROW_BLOCK, rows of c past the last whole block (19, 3)
    and columns past the last whole tile (70, 33) in the same call; beta 0 ignores NaN in c;
    no rows gives beta c."""
    rng = np.random.default_rng(rows + m + n)
    a = rng.standard_normal((rows, m + 5)).astype(dtype)[:, 2:2 + m]
    b = rng.standard_normal((rows, n + 3)).astype(dtype)[:, 1:1 + n]
    c = rng.standard_normal((m, n)).astype(dtype)
    if beta == 0.0:
        c[:] = np.nan
    expected = (a.astype(np.float64).T @ b.astype(np.float64)
                + (beta * c.astype(np.float64) if beta else 0.0))
    gemm_tn(a, b, c, beta)
    tol = 1e-5 * np.sqrt(max(rows, 1)) if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_weight_gemm_paths_agree(dtype, threads, monkeypatch):
    """cpu_runtime.weight_gemm through gemm_tn (MINIGRAD_WEIGHT_GEMM=tiles, the default for an
    output that fits TN_MAX_OUTPUT_BYTES on an AVX-512 host) and through OpenBLAS give d^T inputs
    to rounding, the rows split over the threads; a bad value of the variable is refused naming
    it."""
    rng = np.random.default_rng(threads)
    d = rng.standard_normal((700, 4 * 24)).astype(dtype)
    inputs = rng.standard_normal((701, 2 + 40)).astype(dtype)[1:]
    before = rt.get_num_threads()
    rt.set_num_threads(threads)
    try:
        got = {}
        for path in ("tiles", "blas"):
            monkeypatch.setenv("MINIGRAD_WEIGHT_GEMM", path)
            assert rt._tiles_suit(d, inputs, np.empty((96, 42), dtype)) == (
                path == "tiles" and cpu_tile_gemm.VECTOR_BYTES == 64)  # measured with AVX-512
            got[path] = np.empty((96, 42), dtype)
            rt.weight_gemm(d, inputs, got[path])
        monkeypatch.setenv("MINIGRAD_WEIGHT_GEMM", "loop")
        with pytest.raises(ValueError, match="MINIGRAD_WEIGHT_GEMM"):
            rt.weight_gemm(d, inputs, np.empty((96, 42), dtype))
    finally:
        rt.set_num_threads(before)
    expected = d.astype(np.float64).T @ inputs.astype(np.float64)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for path in got:
        np.testing.assert_allclose(got[path], expected, rtol=tol, atol=tol)
    wide = np.empty((rt.TN_MAX_OUTPUT_BYTES // np.dtype(dtype).itemsize // 64 + 1, 64), dtype)
    monkeypatch.setenv("MINIGRAD_WEIGHT_GEMM", "tiles")
    assert not rt._tiles_suit(np.empty((10, wide.shape[0]), dtype), np.empty((10, 64), dtype),
                              wide)  # an output past L2 stays with OpenBLAS
    assert not rt._tiles_suit(d, inputs[:, :TILE - 1], np.empty((96, TILE - 1), dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, inner, columns", [(2 * TILES_ROW_BLOCK + 11, 40, 70),
                                                  (TILES_ROW_BLOCK, 64, 64), (5, 3, 33)])
@pytest.mark.parametrize("b_layout", ["rows", "transposed"])
def test_gemm_tiles_rows_equals_numpy(dtype, rows, inner, columns, b_layout):
    """Rows lo:hi of a @ b, b packed (a weight or a transposed view of one, as the input
    projection's W_x^T), a a column window of a wider buffer (the [x | h] rows): the blocks of
    TILES_ROW_BLOCK rows, the last one shorter, columns past the last whole tile through BLAS;
    the rows outside lo:hi untouched."""
    rng = np.random.default_rng(rows + columns)
    a = rng.standard_normal((rows, inner + 5)).astype(dtype)[:, :inner]
    b = rng.standard_normal((inner, columns)).astype(dtype)
    if b_layout == "transposed":
        b = np.ascontiguousarray(b.T).T
    c = np.full((rows, columns), np.nan, dtype)
    lo, hi = rows // 7, rows - 1
    gemm_tiles_rows(a, *pack_ranges(b, [(0, columns)], TILE), c, lo, hi)
    tol = 1e-5 * np.sqrt(inner) if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c[lo:hi], a[lo:hi].astype(np.float64) @ b.astype(np.float64),
                               rtol=tol, atol=tol)
    assert np.isnan(c[:lo]).all() and np.isnan(c[hi:]).all()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("path", ["micro", "blas"])
def test_split_tiles_equals_numpy(threads, path, monkeypatch):
    """Both paths (MINIGRAD_SEQUENCE_GEMM) with b a transposed view (W_x^T, the projection's)
    and a contiguous one (W_x, dx's)."""
    monkeypatch.setenv("MINIGRAD_SEQUENCE_GEMM", path)
    rng = np.random.default_rng(threads)
    a = rng.standard_normal((700, 48))
    b = rng.standard_normal((37, 48)).T  # W_x^T as the projection passes it
    before = rt.get_num_threads()
    rt.set_num_threads(threads)
    try:
        for right in (b, np.ascontiguousarray(b)):
            c = np.full((700, 37), np.nan)
            rt.split_tiles(a, right, c)
            np.testing.assert_allclose(c, a @ b, rtol=1e-12, atol=1e-12)
    finally:
        rt.set_num_threads(before)


def test_sequence_gemm_names_the_variable(monkeypatch):
    monkeypatch.setenv("MINIGRAD_SEQUENCE_GEMM", "mkl")
    with pytest.raises(ValueError, match="MINIGRAD_SEQUENCE_GEMM must be 'micro' or 'blas'"):
        rt.sequence_gemm()


def _lstm(x, states, params, step_gemm, monkeypatch):
    monkeypatch.setenv("MINIGRAD_STEP_GEMM", step_gemm)
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    xt = mg.tensor(x, requires_grad=True)
    st = [mg.tensor(s, requires_grad=True) for s in states]
    pt = {k: mg.tensor(v, requires_grad=True) for k, v in params.items()}
    out, *finals = lstm_sequence(xt, *st, *[pt[n] for n in names])
    return out, finals, xt, st, pt


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("input_size", [2, 40])
@pytest.mark.parametrize("split", ["rows", "units"])
def test_fused_lstm_with_whole_tiles_equals_composed(dtype, input_size, split, monkeypatch):
    """H 80 (4H = 320: ten whole tiles; split by units, thread ranges 0:32 and 32:80 per gate), B 19
    (two threads: 9 and 10 rows, a whole float32 block and a remainder; float64 two blocks and a
    remainder): the fused LSTM with the microkernel equals the composed step, outputs and every
    gradient, and equals the fused LSTM with OpenBLAS's step GEMM."""
    rng = np.random.default_rng(input_size)
    T, B, H = 6, 19, 80
    x = rng.standard_normal((T, B, input_size)).astype(dtype)
    states = [rng.standard_normal((B, H)).astype(dtype) for _ in range(2)]
    params = {"weight_ih": rng.standard_normal((4 * H, input_size)) * 0.3,
              "weight_hh": rng.standard_normal((4 * H, H)) * 0.3,
              "bias_ih": rng.standard_normal(4 * H) * 0.1,
              "bias_hh": rng.standard_normal(4 * H) * 0.1}
    params = {k: v.astype(dtype) for k, v in params.items()}
    upstream = rng.standard_normal((T, B, H)).astype(dtype)
    before = rt.get_split(), rt.get_num_threads()
    rt.set_split(split)
    rt.set_num_threads(2)
    try:
        results = {}
        for step_gemm in ("micro", "blas"):
            out, finals, xt, st, pt = _lstm(x, states, params, step_gemm, monkeypatch)
            (out * mg.tensor(upstream)).sum().backward()
            results[step_gemm] = [out.numpy(), *[f.numpy() for f in finals], xt.grad,
                                  *[s.grad for s in st], *[pt[k].grad for k in sorted(pt)]]
    finally:
        rt.set_split(before[0])
        rt.set_num_threads(before[1])
    xc = mg.tensor(x, requires_grad=True)
    sc = tuple(mg.tensor(s, requires_grad=True) for s in states)
    pc = {k: mg.tensor(v, requires_grad=True) for k, v in params.items()}
    step, outs, carried = _step("lstm"), [], sc
    for t in range(T):
        carried = step(xc[t], carried, pc)
        outs.append(carried[0])
    (mg.stack(outs) * mg.tensor(upstream)).sum().backward()
    composed = [mg.stack(outs).numpy(), *[s.numpy() for s in carried], xc.grad,
                *[s.grad for s in sc], *[pc[k].grad for k in sorted(pc)]]
    tol = 1e-10 if dtype == np.float64 else 2e-4
    for got, other, want in zip(results["micro"], results["blas"], composed):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
        np.testing.assert_allclose(got, other, rtol=tol, atol=tol)
