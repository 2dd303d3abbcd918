"""bench.scan_floor and bench.step_spread: the floor's stored-pre alternative computes what the
kernels compute (so its A/B times the same work), and the spread's verdicts."""

from __future__ import annotations

import numpy as np

from bench import scan_floor, step_spread
from minigrad.backends import cpu_gated_scan as scan
from minigrad.backends.cpu_blas import pack_ranges
from minigrad.backends.cpu_tile_gemm import TILE


def test_stored_pre_and_block_buffer_give_the_kernels_results():
    steps, batch, inputs, hidden, block = 37, 3, 5, 8, 5  # T not a multiple of the block
    width = 2 * hidden
    _, forward_blocks, reverse_blocks, _ = scan_floor.kernels()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((steps, batch, inputs)).astype(np.float32)
    weight = rng.standard_normal((width, inputs)).astype(np.float32)
    bias = rng.standard_normal(width).astype(np.float32)
    h0 = rng.standard_normal((batch, hidden)).astype(np.float32)
    upstream = rng.standard_normal((steps, batch, hidden)).astype(np.float32)
    h = scan.gated_scan_projected(x, weight, bias, h0, None, "mingru")
    _, grad_h0, grad_bias, _ = scan.gated_scan_projected_backward(
        x, weight, bias, h0, None, h, upstream, "mingru", True)
    tiles = pack_ranges(np.ascontiguousarray(weight.T), [(0, width)], TILE)
    valid = np.zeros((0, 0), np.bool_)
    none = np.zeros((0, width), np.float32)
    stored = np.full((steps * batch, width), np.nan, np.float32)
    pre, grad = (np.empty((block * batch, width), np.float32) for _ in range(2))
    xs = np.empty((block * batch, inputs), np.float32)
    a, b = np.empty(hidden, np.float32), np.empty(hidden, np.float32)
    for target in (none, stored):
        out = np.full_like(h, np.nan)
        forward_blocks(x, *tiles, bias, h0, valid, out, block, pre, xs, a, b,
                                  target, False)
        np.testing.assert_allclose(out, h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(stored.reshape(steps, batch, width), x @ weight.T, rtol=1e-5,
                               atol=1e-5)
    for target, recompute in ((none, True), (stored, False)):
        carries = np.zeros((batch, hidden), np.float32)
        per_row_bias = np.zeros((batch, width), np.float32)
        reverse_blocks(x, *tiles, bias, h0, valid, h, upstream, block, pre, xs, grad,
                                  carries, per_row_bias, target, recompute)
        np.testing.assert_allclose(carries, grad_h0, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(per_row_bias.sum(axis=0), grad_bias, rtol=1e-5, atol=1e-5)


def _records(*runs):
    """One process record per (walls, CPU per step)."""
    return [{"wall": list(walls), "cpu": [cpu] * len(walls)} for walls, cpu in runs]


def test_spread_verdicts():
    steady = _records(([0.100, 0.101, 0.102], 0.19), ([0.103, 0.104, 0.102], 0.19))
    assert step_spread.summary(steady)["verdict"].startswith("steady")
    waiting = _records(([0.062, 0.063, 0.062], 0.12), ([0.108, 0.109, 0.108], 0.12))
    found = step_spread.summary(waiting)
    assert found["between"] > 1.7 and found["verdict"].startswith("between processes: waiting")
    work = _records(([0.062, 0.063, 0.062], 0.12), ([0.108, 0.109, 0.108], 0.21))
    assert step_spread.summary(work)["verdict"].startswith("between processes: more work")
    minute = _records(([0.062, 0.108, 0.085], 0.12), ([0.064, 0.110, 0.09], 0.12))
    assert step_spread.summary(minute)["verdict"].startswith("inside processes")
