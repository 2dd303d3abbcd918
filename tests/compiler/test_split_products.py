"""A compiled program's large products split over minigrad's threads (compiler/split_products.py):
each stand-in equals the backend's kernel, falls back to it where it does not split, and a
compiled decoder + loss + backward + Adam step that splits equals the eager step (float64,
1e-10)."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import cpu
from minigrad.compiler import cpu_runtime as rt
from minigrad.compiler import split_products as sp
from minigrad.compiler.record import Const, Slot


@pytest.fixture
def two_threads():
    before = rt.get_num_threads()
    rt.set_num_threads(2)
    yield
    rt.set_num_threads(before)


@pytest.fixture
def counted(monkeypatch):
    """{'split_tiles': n, 'weight_gemm': n}: the threaded paths taken."""
    counts = {"split_tiles": 0, "weight_gemm": 0}
    for name in counts:
        original = getattr(rt, name)

        def wrapper(*args, original=original, name=name):
            counts[name] += 1
            return original(*args)

        monkeypatch.setattr(rt, name, wrapper)
    return counts


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stand_ins_equal_the_backend_and_split(dtype, two_threads, counted):
    rng = np.random.default_rng(0)
    a3 = rng.standard_normal((6, 100, 96)).astype(dtype)  # 600 rows once merged
    w = rng.standard_normal((80, 96)).astype(dtype)
    d = rng.standard_normal((600, 80)).astype(dtype)
    a2 = a3.reshape(600, 96)
    state = np.zeros((7, 100, 5 + 96), dtype)  # a recurrence's outputs: a row view of its states
    state[1:, :, 5:] = a3
    a3 = state[1:, :, 5:]
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-4)
    got = sp.matmul_nt(a3, w)
    assert got.shape == (6, 100, 80)
    np.testing.assert_allclose(got, cpu.matmul_nt(a3, w), **tol)
    np.testing.assert_allclose(sp.matmul(d, w), cpu.matmul(d, w), **tol)
    np.testing.assert_allclose(sp.matmul_tn(d, a2), cpu.matmul_tn(d, a2), **tol)
    assert counted == {"split_tiles": 2, "weight_gemm": 1}


def test_stand_ins_fall_back_where_they_do_not_split(two_threads, counted):
    rng = np.random.default_rng(1)
    small, w = rng.standard_normal((8, 16)), rng.standard_normal((16, 4))
    np.testing.assert_array_equal(sp.matmul(small, w), cpu.matmul(small, w))
    big = rng.standard_normal((600, 96))
    strided = big[:, ::2]  # no unit inner stride
    np.testing.assert_array_equal(sp.matmul(strided, rng.standard_normal((48, 100))).shape,
                                  (600, 100))
    ints = np.ones((600, 96), np.int64)
    np.testing.assert_array_equal(sp.matmul(ints, np.ones((96, 80), np.int64)),
                                  cpu.matmul(ints, np.ones((96, 80), np.int64)))
    batched = rng.standard_normal((4, 600, 96))
    np.testing.assert_allclose(sp.matmul_tn(batched, batched), cpu.matmul_tn(batched, batched))
    assert counted == {"split_tiles": 0, "weight_gemm": 0}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_thread_merges_the_rows_into_one_product(dtype, counted):
    """With one thread a large product of a 3-d operand is still one call over its merged rows
    (not numpy's call per leading index), equal to the backend's product."""
    before = rt.get_num_threads()
    rt.set_num_threads(1)
    try:
        rng = np.random.default_rng(4)
        a3 = rng.standard_normal((20, 32, 96)).astype(dtype)
        w = rng.standard_normal((80, 96)).astype(dtype)
        d3 = rng.standard_normal((20, 32, 80)).astype(dtype)
        tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-4)
        np.testing.assert_allclose(sp.matmul_nt(a3, w), cpu.matmul_nt(a3, w), **tol)
        np.testing.assert_allclose(sp.matmul(d3, w), cpu.matmul(d3, w), **tol)
        np.testing.assert_allclose(sp.summed_tn(a3, d3, (96, 80)),
                                   cpu.sum_to(cpu.matmul_tn(a3, d3), (96, 80)), **tol)
    finally:
        rt.set_num_threads(before)
    assert counted == {"split_tiles": 2, "weight_gemm": 1}


def test_the_pass_swaps_only_the_backends_products():
    keep = ("call", cpu.add, (1, 2), {}, 3, "cpu.add")
    product = ("call", cpu.matmul_nt, (1, 2), {}, 3, "cpu.matmul_nt")
    other = ("call", np.matmul, (1, 2), {}, 3, "cpu.matmul")  # not the backend's own function
    out = sp.split_products([keep, product, other])
    assert out[0] is keep and out[2] is other
    assert out[1][1] is sp.matmul_nt and out[1][2:] == product[2:]


def test_summed_tn_equals_the_backends_product_and_sum(two_threads, counted):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((6, 100, 96)), rng.standard_normal((6, 100, 80))
    expected = cpu.sum_to(cpu.matmul_tn(a, b), (96, 80))
    np.testing.assert_allclose(sp.summed_tn(a, b, (96, 80)), expected, rtol=1e-12, atol=1e-12)
    assert counted["weight_gemm"] == 1
    kept = cpu.sum_to(cpu.matmul_tn(a, b), (1, 96, 80))  # another target shape: the backend's
    np.testing.assert_array_equal(sp.summed_tn(a, b, (1, 96, 80)), kept)
    assert counted["weight_gemm"] == 1


def test_the_pass_fuses_a_product_only_its_sum_reads():
    product = ("call", cpu.matmul_tn, (Slot(0), Slot(1)), {}, Slot(2), "cpu.matmul_tn")
    summed = ("call", cpu.sum_to, (Slot(2), Const((4, 5))), {}, Slot(3), "cpu.sum_to")
    out = sp.split_products([product, summed])
    assert len(out) == 1 and out[0][1] is sp.summed_tn and out[0][4].i == 3
    assert out[0][2][:2] == product[2] and out[0][2][2] is summed[2][1]
    later = ("call", cpu.add, (Slot(2), Slot(3)), {}, Slot(4), "cpu.add")
    for ops, keep in (([product, summed, later], ()), ([product, summed], {2})):
        out = sp.split_products(ops, keep)
        assert out[0][1] is sp.matmul_tn and out[1] is summed


def test_compiled_decoder_step_that_splits_equals_eager(two_threads, counted):
    """Linear decoder (6 x 100 rows, 96 -> 80), cross-entropy, backward, clipping, Adam,
    float64."""
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal((6, 100, 96))
    y0 = rng.integers(0, 80, (6, 100))

    def model():
        layer = mg.nn.Linear(96, 80, rng=0, dtype=np.float64)
        return layer, mg.optim.Adam(layer.parameters(), lr=1e-2)

    eager, eager_opt = model()
    layer, opt = model()

    @mg.compile
    def step(x, y):
        loss = mg.cross_entropy(layer(x), y)
        opt.zero_grad()
        loss.backward()
        mg.optim.clip_grad_norm_(opt.params, 0.5)
        opt.step()
        return loss

    for k in range(3):
        expected = mg.cross_entropy(eager(mg.tensor(x0 + k)), mg.tensor(y0))
        eager_opt.zero_grad()
        expected.backward()
        mg.optim.clip_grad_norm_(eager_opt.params, 0.5)
        eager_opt.step()
        loss = step(mg.tensor(x0 + k), mg.tensor(y0))
        np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=0, atol=1e-10)
    for p, q in zip(layer.parameters(), eager.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=0, atol=1e-10)
    # per program call: the forward's x W^T, and the weight gradient of the 3-d input (a batched
    # a^T b and its sum over the batch, fused into one a^T b over the merged rows)
    assert counted == {"split_tiles": 2, "weight_gemm": 2}
