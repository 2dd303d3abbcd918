"""The fused recurrences' threads split by hidden units (cpu_runtime.set_split("units"), a
barrier per step) give what the row split and one thread give, with lengths and in reverse; the
barrier holds every thread until all arrive; the tiled per-step GEMM equals numpy."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from numba import njit

import minigrad as mg
from minigrad.backends.cpu_blas import gemm_tiles, pack_ranges
from minigrad.compiler import barrier
from minigrad.compiler import cpu_runtime as rt
from minigrad.ops.recurrent import gru_sequence, lstm_sequence, rnn_sequence


@pytest.fixture
def split_threads():
    """set_split / set_num_threads for one test, restored after it."""
    before = rt.get_split(), rt.get_num_threads()
    yield
    rt.set_split(before[0])
    rt.set_num_threads(before[1])


def _sequence(model, x, states, params, lengths, reverse):
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    weights = [params[n] for n in names]
    if model == "lstm":
        return lstm_sequence(x, *states, *weights, lengths=lengths, reverse=reverse)
    if model == "gru":
        return gru_sequence(x, *states, *weights, lengths=lengths, reverse=reverse)
    return rnn_sequence(x, *states, *weights, lengths=lengths, reverse=reverse)


def _run(model, data, lengths, reverse, upstream):
    """Outputs, final states and every gradient of <out, upstream> + the final states' sums."""
    x0, states0, params0 = data
    x = mg.tensor(x0, requires_grad=True)
    states = [mg.tensor(s, requires_grad=True) for s in states0]
    params = {k: mg.tensor(v, requires_grad=True) for k, v in params0.items()}
    out, *finals = _sequence(model, x, states, params, lengths, reverse)
    loss = (out * mg.tensor(upstream)).sum()
    for k, f in enumerate(finals):
        loss = loss + f.sum() * (k + 2)
    loss.backward()
    return [out.numpy(), *[f.numpy() for f in finals], x.grad, *[s.grad for s in states],
            *[params[k].grad for k in sorted(params)]]


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("input_size", [3, 40])
@pytest.mark.parametrize("reverse", [False, True])
def test_units_split_equals_rows_split_and_one_thread(model, dtype, input_size, reverse,
                                                      split_threads, monkeypatch):
    """H 48 (units 0:16 and 16:48 on two threads, 0:16, 16:32, 32:48 on three), lengths below T
    for some rows, a random upstream gradient and the final states' gradients."""
    rng = np.random.default_rng(input_size + 7 * reverse)
    T, B, H = 9, 5, 48
    G = {"lstm": 4, "gru": 3, "rnn": 1}[model] * H
    params = {"weight_ih": rng.standard_normal((G, input_size)) * 0.4,
              "weight_hh": rng.standard_normal((G, H)) * 0.4,
              "bias_ih": rng.standard_normal(G) * 0.1, "bias_hh": rng.standard_normal(G) * 0.1}
    params = {k: v.astype(dtype) for k, v in params.items()}
    states = [rng.standard_normal((B, H)).astype(dtype) for _ in range(2 if model == "lstm"
                                                                         else 1)]
    data = (rng.standard_normal((T, B, input_size)).astype(dtype), states, params)
    lengths = np.array([T, 4, T, 1, 7])
    upstream = rng.standard_normal((T, B, H)).astype(dtype)
    runs, used, each_thread = {}, [], rt.each_thread
    monkeypatch.setattr(rt, "each_thread", lambda *a: used.append(a[5]) or each_thread(*a))
    for threads, how in ((1, "rows"), (2, "rows"), (2, "units"), (3, "units")):
        rt.set_num_threads(threads)
        rt.set_split(how)
        used.clear()
        runs[threads, how] = _run(model, data, lengths, reverse, upstream)
        assert used == [how, how], (threads, how, used)  # the forward's and the backward's
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for key in ((2, "rows"), (2, "units"), (3, "units")):
        for got, want in zip(runs[key], runs[1, "rows"]):
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=str(key))


def test_units_split_passes_gradcheck(split_threads):
    rt.set_num_threads(2)
    rt.set_split("units")
    rng = np.random.default_rng(3)
    T, B, I, H = 4, 3, 2, 32
    inputs = [rng.standard_normal((T, B, I)), rng.standard_normal((B, H)),
              rng.standard_normal((B, H)), rng.standard_normal((4 * H, I)) * 0.3,
              rng.standard_normal((4 * H, H)) * 0.3, rng.standard_normal(4 * H) * 0.1,
              rng.standard_normal(4 * H) * 0.1]

    def fn(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        out, h_n, c_n = lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh,
                                      lengths=np.array([T, 2, 3]))
        return out.sum(axis=0) + h_n * c_n

    assert mg.gradcheck(fn, inputs)


def test_choose_split_falls_back_to_rows(split_threads):
    rt.set_num_threads(2)
    rt.set_split("units")
    assert rt.choose_split(32, 128, 1 << 20, True) == "units"
    assert rt.choose_split(32, 128, 1 << 20, False) == "rows"  # norms, two stages, row sums
    assert rt.choose_split(32, 2 * rt.UNIT_ALIGN - 1, 1 << 20, True) == "rows"  # too few units
    rt.set_num_threads(1)
    assert rt.choose_split(32, 128, 1 << 20, True) == "rows"
    rt.set_num_threads(2)
    rt.set_split("auto")
    assert rt.choose_split(32, 256, rt.UNITS_MIN_WEIGHT_BYTES, True) == "units"
    assert rt.choose_split(32, 256, rt.UNITS_MIN_WEIGHT_BYTES - 1, True) == "rows"
    rt.set_split("rows")
    assert rt.choose_split(32, 256, 1 << 24, True) == "rows"


def test_a_bad_split_is_named(monkeypatch, split_threads):
    with pytest.raises(ValueError, match="set_split: how must be 'rows', 'units' or 'auto', "
                                         "got 'cols'"):
        rt.set_split("cols")
    monkeypatch.setenv("MINIGRAD_RECURRENT_SPLIT", "unit")
    monkeypatch.setattr(rt, "_split", None)
    with pytest.raises(ValueError, match="MINIGRAD_RECURRENT_SPLIT must be .* got 'unit'"):
        rt.get_split()
    monkeypatch.setenv("MINIGRAD_RECURRENT_SPLIT", "units")
    monkeypatch.setattr(rt, "_split", None)
    assert rt.get_split() == "units"


@njit(nogil=True)
def _rounds(sync, parties, k, seen, rounds):
    """Each round: write the round into this thread's column, meet, check every column holds it
    (a thread ahead of the barrier would leave an older round there), meet again."""
    generation, wrong = 0, 0
    for r in range(1, rounds + 1):
        seen[k] = r
        generation = barrier.wait(sync, parties, generation)
        for j in range(parties):
            if seen[j] != r:
                wrong += 1
        generation = barrier.wait(sync, parties, generation)
    return wrong


@pytest.mark.parametrize("parties", [2, 3])
def test_the_barrier_lets_no_thread_ahead(parties):
    sync, seen, rounds = barrier.new_sync(), np.zeros(parties, np.int64), 2000
    wrong = [None] * parties

    def party(k):
        wrong[k] = _rounds(sync, parties, k, seen, rounds)

    threads = [threading.Thread(target=party, args=(k,)) for k in range(1, parties)]
    for t in threads:
        t.start()
    party(0)
    for t in threads:
        t.join()
    assert wrong == [0] * parties
    assert sync[1] == 2 * rounds and sync[0] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_gemm_tiles_writes_only_the_packed_ranges(dtype, beta):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((7, 6)).astype(dtype)
    b = rng.standard_normal((6, 40)).astype(dtype)
    c = rng.standard_normal((7, 40)).astype(dtype)
    ranges = [(3, 11), (20, 37)]
    packed, starts, widths = pack_ranges(b, ranges, 5)
    assert packed.shape == (2 + 4, 6, 5) and widths.max() <= 5
    expected = c.copy()
    for lo, hi in ranges:
        expected[:, lo:hi] = a @ b[:, lo:hi] + beta * c[:, lo:hi]
    gemm_tiles(a, packed, starts, widths, c, beta, 3)
    np.testing.assert_allclose(c, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
