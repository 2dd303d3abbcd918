"""sLSTM and mLSTM (Beck et al. 2024) against references written from the paper's equations
(float64, per-head loops), fused == composed and parallel == recurrent to 1e-10, gradcheck,
float32 without overflow, and the errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm import MLSTM, MLSTMCell, Recurrent, SLSTMCell
from lstm.cell_zoo_xlstm import block_diagonal
from lstm.xlstm_parallel import mlstm_parallel

I, H, HEADS = 3, 8, 2


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _upstream(shape, seed=9):
    return mg.tensor(np.random.default_rng(seed).standard_normal(shape))


# ---- references from the paper's equations -----------------------------------------------------
def slstm_reference(x, weight_ih, blocks, bias, heads, forget_gate, stabilise=True):
    """sLSTM eqs. (8)-(17) of Beck et al. 2024, one head's (d, d) block at a time: returns
    h (T, B, H) and the final (c, n, m); unstabilised (m = 0 throughout) when stabilise=False."""
    T, B, _ = x.shape
    H4, d = blocks.shape
    H = H4 // 4
    h, c, n = (np.zeros((B, H)) for _ in range(3))
    m = np.full((B, H), -np.inf if stabilise else 0.0)  # an empty memory: m_1 = i~_1
    out = np.zeros((T, B, H))
    for t in range(T):
        pre = x[t] @ weight_ih.T + bias
        for g in range(4):
            for k in range(heads):
                rows = slice(g * H + k * d, g * H + (k + 1) * d)
                pre[:, rows] += h[:, k * d:(k + 1) * d] @ blocks[rows].T
        i_pre, f_pre, z_pre, o_pre = np.split(pre, 4, axis=1)
        log_f = -np.logaddexp(0.0, -f_pre) if forget_gate == "sigmoid" else f_pre
        if stabilise:
            m_new = np.maximum(log_f + m, i_pre)
            i_gate, f_gate = np.exp(i_pre - m_new), np.exp(log_f + m - m_new)
        else:
            m_new, i_gate, f_gate = m, np.exp(i_pre), np.exp(log_f)
        c = f_gate * c + i_gate * np.tanh(z_pre)
        n = f_gate * n + i_gate
        m = m_new
        h = _sigmoid(o_pre) * c / n
        out[t] = h
    return out, (c, n, m)


def mlstm_reference(x, weight_ih, bias, heads, forget_gate, m0=-np.inf):
    """mLSTM eqs. (19)-(27) of Beck et al. 2024 as written, unstabilised: C^u, n^u with
    i = exp(i~), f = sigmoid(f~) or exp(f~), h = o * C^u q / max(|n^u^T q|, 1), np.outer per row
    and head; the stabiliser m_t = max(log f + m_{t-1}, i~_t) from m0 alongside. Returns h and
    the final (C^u exp(-m), n^u exp(-m), m): the stabilised states the cell carries."""
    T, B, _ = x.shape
    H = (weight_ih.shape[0] - 2 * heads) // 4
    d = H // heads
    C = np.zeros((B, heads, d, d))
    n = np.zeros((B, heads, d))
    m = np.full((B, heads), m0)
    out = np.zeros((T, B, H))
    for t in range(T):
        pre = x[t] @ weight_ih.T + bias
        for b in range(B):
            for k in range(heads):
                part = slice(k * d, (k + 1) * d)
                q, k_vec, v, o = (pre[b, j * H:(j + 1) * H][part] for j in range(4))
                k_vec = k_vec / np.sqrt(d)
                i_pre, f_pre = pre[b, 4 * H + k], pre[b, 4 * H + heads + k]
                log_f = -np.logaddexp(0.0, -f_pre) if forget_gate == "sigmoid" else f_pre
                C[b, k] = np.exp(log_f) * C[b, k] + np.exp(i_pre) * np.outer(v, k_vec)
                n[b, k] = np.exp(log_f) * n[b, k] + np.exp(i_pre) * k_vec
                m[b, k] = max(log_f + m[b, k], i_pre)
                h_tilde = C[b, k] @ q / max(abs(n[b, k] @ q), 1.0)
                out[t, b, part] = _sigmoid(o) * h_tilde
    scale = np.exp(-m)
    return out, (C * scale[..., None, None], n * scale[..., None], m)


# ---- sLSTM ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", ["composed", "fused"])
@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_slstm_matches_the_paper_equations(impl, forget_gate):
    layer = Recurrent(SLSTMCell, I, H, impl=impl, rng=0, dtype=np.float64, num_heads=HEADS,
                      forget_gate=forget_gate)
    with mg.no_grad():  # random biases, so every gate matters
        layer.bias_ih_l0.data[:] = np.random.default_rng(3).uniform(-1, 1, 4 * H)
    x = np.random.default_rng(1).standard_normal((6, 2, I))
    out, (h_n, c_n, n_n, m_n) = layer(mg.tensor(x))
    args = (x, layer.weight_ih_l0.numpy(), layer.weight_hh_l0.numpy(), layer.bias_ih_l0.numpy(),
            HEADS, forget_gate)
    expected, (c, n, m) = slstm_reference(*args)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(c_n.numpy()[0], c, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(m_n.numpy()[0], m, rtol=1e-12, atol=1e-13)
    plain, (c_plain, n_plain, _) = slstm_reference(*args, stabilise=False)
    np.testing.assert_allclose(out.numpy(), plain, rtol=1e-10)  # the stabiliser changes nothing
    np.testing.assert_allclose(n_n.numpy()[0] * np.exp(m), n_plain, rtol=1e-10)


def test_slstm_block_diagonal_keeps_heads_apart():
    blocks = mg.tensor(np.arange(12 * 3, dtype=np.float64).reshape(12, 3) + 1.0,
                       requires_grad=True)
    full = block_diagonal(blocks, 2, 2)  # 2 gates, H = 6, 2 heads of 3
    dense = full.numpy()
    assert dense.shape == (12, 6)
    for g in range(2):
        for k in range(2):
            rows = slice(g * 6 + k * 3, g * 6 + (k + 1) * 3)
            np.testing.assert_array_equal(dense[rows, k * 3:(k + 1) * 3], blocks.numpy()[rows])
            np.testing.assert_array_equal(dense[rows, (1 - k) * 3:(2 - k) * 3], 0.0)
    upstream = _upstream(full.shape)
    (full * upstream).sum().backward()
    u = upstream.numpy()  # each block's gradient is the upstream's on-block part; the rest of
    for g in range(2):  # the upstream reaches nothing (the off-block entries are no parameters)
        for k in range(2):
            rows = slice(g * 6 + k * 3, g * 6 + (k + 1) * 3)
            np.testing.assert_array_equal(blocks.grad[rows], u[rows, k * 3:(k + 1) * 3])


@pytest.mark.parametrize("num_layers,bidirectional,with_lengths",
                         [(1, False, False), (1, True, True), (2, False, True)])
def test_slstm_fused_equals_composed(num_layers, bidirectional, with_lengths):
    x = np.random.default_rng(4).standard_normal((7, 3, I))
    lengths = np.array([7, 3, 5]) if with_lengths else None
    results = []
    for impl in ("composed", "fused"):
        layer = Recurrent(SLSTMCell, I, H, num_layers=num_layers, bidirectional=bidirectional,
                          impl=impl, rng=2, dtype=np.float64, num_heads=HEADS)
        xt = mg.tensor(x, requires_grad=True)
        out, states = layer(xt, lengths=lengths)
        loss = (out * _upstream(out.shape)).sum()
        for k, s in enumerate(states):
            loss = loss + (s * _upstream(s.shape, 10 + k)).sum()
        loss.backward()
        grads = [p.grad for _, p in sorted(layer.named_parameters())]
        results.append([out.numpy(), xt.grad] + [s.numpy() for s in states] + grads)
    for composed, fused in zip(*results):
        np.testing.assert_allclose(fused, composed, rtol=1e-10, atol=1e-12)


def test_slstm_fused_gradcheck():
    layer = Recurrent(SLSTMCell, 2, 4, impl="fused", rng=0, dtype=np.float64, num_heads=2)
    names = [n for n, _ in layer.named_parameters()]
    inputs = [np.random.default_rng(5).standard_normal((4, 2, 2))] + \
        [p.numpy().copy() for _, p in layer.named_parameters()]

    def fn(x, *params):
        for name, value in zip(names, params):
            setattr(layer, name, value)
        out, (h, c, n, m) = layer(x, lengths=np.array([4, 2]))
        return mg.concat([out.reshape(-1), c.reshape(-1), n.reshape(-1)], axis=0)

    assert mg.gradcheck(fn, inputs, atol=1e-6, rtol=1e-5)


def test_slstm_float32_does_not_overflow_where_the_plain_equations_do():
    layer = Recurrent(SLSTMCell, I, H, impl="fused", rng=0, num_heads=HEADS)
    with mg.no_grad():
        layer.weight_ih_l0.data[:] *= 60.0  # input-gate pre-activations far past exp's range
    x = np.random.default_rng(6).standard_normal((20, 4, I)).astype(np.float32) * 3
    out, _ = layer(mg.tensor(x))
    args = (x.astype(np.float64), layer.weight_ih_l0.numpy().astype(np.float64),
            layer.weight_hh_l0.numpy().astype(np.float64),
            layer.bias_ih_l0.numpy().astype(np.float64), HEADS, "sigmoid")
    with np.errstate(over="ignore", invalid="ignore"):
        plain32, _ = slstm_reference(*[a.astype(np.float32) if isinstance(a, np.ndarray) else a
                                       for a in args], stabilise=False)
    assert not np.isfinite(plain32).all()  # exp(i~) overflows float32 here
    assert np.isfinite(out.numpy()).all()
    expected, _ = slstm_reference(*args)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-4)


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_slstm_float32_long_sequence_with_large_preactivations(forget_gate):
    """2,000 steps whose gate pre-activations reach several hundred either way (the fused,
    vectorised kernels): outputs, final states and every gradient finite, the outputs and the
    stabiliser within float32 rounding of the float64 reference."""
    layer = Recurrent(SLSTMCell, I, H, impl="fused", rng=0, num_heads=HEADS,
                      forget_gate=forget_gate)
    with mg.no_grad():
        layer.weight_ih_l0.data[:] *= 80.0
    x = np.random.default_rng(7).standard_normal((2000, 3, I)).astype(np.float32) * 2
    xt = mg.tensor(x, requires_grad=True)
    out, (h, c, n, m) = layer(xt)
    (out * _upstream(out.shape).astype(np.float32)).sum().backward()
    args = (x.astype(np.float64), layer.weight_ih_l0.numpy().astype(np.float64),
            layer.weight_hh_l0.numpy().astype(np.float64),
            layer.bias_ih_l0.numpy().astype(np.float64), HEADS, forget_gate)
    expected, (_, _, m_expected) = slstm_reference(*args)
    assert np.abs(x.astype(np.float64) @ args[1].T).max() > 300.0
    for a in (out, h, c, n, m, xt.grad, *(p.grad for p in layer.parameters())):
        assert np.isfinite(a.numpy() if isinstance(a, mg.Tensor) else a).all()
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-3)
    np.testing.assert_allclose(m.numpy()[0], m_expected, rtol=1e-3, atol=1e-3)


# ---- mLSTM ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", ["composed", "parallel"])
@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_mlstm_matches_the_paper_equations(impl, forget_gate):
    layer = MLSTM(I, H, impl=impl, rng=0, dtype=np.float64, num_heads=HEADS,
                  forget_gate=forget_gate)
    with mg.no_grad():
        layer.bias_ih_l0.data[:] = np.random.default_rng(3).uniform(-1, 1, layer.bias_ih_l0.shape)
    x = np.random.default_rng(1).standard_normal((6, 2, I)) * 2
    out, (h_n, C_n, n_n, m_n) = layer(mg.tensor(x))
    expected, (C, n, m) = mlstm_reference(x, layer.weight_ih_l0.numpy(),
                                          layer.bias_ih_l0.numpy(), HEADS, forget_gate)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(C_n.numpy()[0], C.reshape(2, -1), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(n_n.numpy()[0], n.reshape(2, -1), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(m_n.numpy()[0], m, rtol=1e-12)


def test_mlstm_cell_from_zero_states_is_the_reference():  # h does not depend on m_0
    layer = Recurrent(MLSTMCell, I, H, impl="composed", rng=0, dtype=np.float64,
                      num_heads=HEADS)
    x = np.random.default_rng(2).standard_normal((5, 2, I))
    zeros = tuple(mg.zeros(1, 2, layer.cells["_l0"].state_size(name), dtype=np.float64)
                  for name in MLSTMCell.states)
    out, _ = layer(mg.tensor(x), zeros)
    expected, _ = mlstm_reference(x, layer.weight_ih_l0.numpy(), layer.bias_ih_l0.numpy(),
                                  HEADS, "sigmoid", m0=0.0)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("num_layers,bidirectional,with_lengths,given_state",
                         [(1, False, False, False), (1, False, True, True),
                          (1, True, True, False), (2, True, False, True)])
def test_mlstm_parallel_equals_recurrent(num_layers, bidirectional, with_lengths, given_state):
    rng = np.random.default_rng(7)
    T, B = 7, 3
    x = rng.standard_normal((T, B, I))
    lengths = np.array([7, 2, 5]) if with_lengths else None
    k = num_layers * (2 if bidirectional else 1)
    d = H // HEADS
    state = (rng.standard_normal((k, B, H)), rng.standard_normal((k, B, HEADS * d * d)),
             rng.standard_normal((k, B, H)), rng.standard_normal((k, B, HEADS)))
    results = []
    for impl in ("composed", "parallel"):
        layer = MLSTM(I, H, num_layers=num_layers, bidirectional=bidirectional, impl=impl,
                      rng=1, dtype=np.float64, num_heads=HEADS)
        xt = mg.tensor(x, requires_grad=True)
        given = tuple(mg.tensor(s, requires_grad=True) for s in state) if given_state else None
        out, finals = layer(xt, given, lengths=lengths)
        loss = (out * _upstream(out.shape)).sum()
        for j, s in enumerate(finals):
            loss = loss + (s * _upstream(s.shape, 20 + j)).sum()
        loss.backward()
        grads = [p.grad for _, p in sorted(layer.named_parameters())]
        if given_state:  # h_0 reaches nothing (no memory mixing): no gradient on either path
            grads += [np.zeros(s.shape) if s.grad is None else s.grad for s in given]
        results.append([out.numpy(), xt.grad] + [s.numpy() for s in finals] + grads)
    for recurrent, parallel in zip(*results):
        np.testing.assert_allclose(parallel, recurrent, rtol=1e-10, atol=1e-12)


def test_mlstm_parallel_gradcheck():
    cell = MLSTMCell(2, 4, rng=0, dtype=np.float64, num_heads=2)
    rng = np.random.default_rng(8)
    state = [rng.standard_normal((3, 4)), rng.standard_normal((3, 8)),
             rng.standard_normal((3, 4)), rng.standard_normal((3, 2))]
    inputs = [rng.standard_normal((5, 3, 2)), cell.weight_ih.numpy().copy(),
              cell.bias_ih.numpy().copy()] + state

    def fn(x, weight, bias, *states):
        cell.weight_ih, cell.bias_ih = weight, bias
        out, finals = mlstm_parallel(cell, x, states, lengths=np.array([5, 1, 3]))
        return mg.concat([out.reshape(-1)] + [s.reshape(-1) for s in finals], axis=0)

    assert mg.gradcheck(fn, inputs, atol=1e-6, rtol=1e-5)


def test_mlstm_float32_stays_finite_and_close():
    layer = MLSTM(I, H, rng=0, num_heads=HEADS)
    with mg.no_grad():
        layer.weight_ih_l0.data[4 * H:] *= 25.0  # gate pre-activations past exp's float32 range
    x = np.random.default_rng(6).standard_normal((30, 2, I)).astype(np.float32) * 3
    gates = x.astype(np.float64) @ layer.weight_ih_l0.numpy()[4 * H:].T.astype(np.float64)
    assert 89.0 < np.abs(gates).max() < 700.0  # exp overflows float32, not float64
    out, _ = layer(mg.tensor(x))
    assert np.isfinite(out.numpy()).all()
    expected, _ = mlstm_reference(x.astype(np.float64),
                                  layer.weight_ih_l0.numpy().astype(np.float64),
                                  layer.bias_ih_l0.numpy().astype(np.float64), HEADS, "sigmoid")
    np.testing.assert_allclose(out.numpy(), expected, atol=2e-4)


# ---- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", [SLSTMCell, MLSTMCell])
def test_bad_options_are_named(cell):
    with pytest.raises(ValueError, match="num_heads must be an integer >= 1 dividing"):
        cell(3, 8, num_heads=3)
    with pytest.raises(ValueError, match="forget_gate must be one of"):
        cell(3, 8, forget_gate="tanh")


def test_mlstm_layer_errors():
    with pytest.raises(ValueError, match="impl must be one of"):
        MLSTM(3, 8, impl="scan")



def test_mlstm_grad_norms_come_from_the_recurrent_form():
    x = np.random.default_rng(3).standard_normal((5, 2, 3))
    norms = []
    for impl in ("parallel", "composed"):
        layer = MLSTM(3, 8, impl=impl, rng=0, dtype=np.float64)
        sink = {}
        out, _ = layer(mg.tensor(x), grad_norms=sink)
        (out * _upstream(out.shape)).sum().backward()
        norms.append({k: np.asarray(v) for k, v in sink["l0"].items()})
    assert set(norms[0]) == {"h", "C", "n", "m"}
    for key in norms[0]:
        np.testing.assert_array_equal(norms[0][key], norms[1][key])
    assert norms[0]["C"].min() > 0  # every step's memory, the last one included, has a
    # gradient: the norm is of all of dL/dC_t (h_t reads the returned state)
