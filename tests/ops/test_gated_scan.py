"""mg.gated_scan: against the sequential definition (float64), its VJP (gradcheck, random upstream),
the mask, the paper's log-space form in float32 on long sequences with extreme gates, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends.scan_gates import GATES


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def paper_g(x):
    return np.where(x >= 0, x + 0.5, sigmoid(x))


def sequential(gate, pre, h0, bias, valid=None):
    """The paper's sequential mode (Feng et al. 2024, appendix A), one step at a time."""
    hidden = pre.shape[-1] // GATES[gate].blocks
    h, out = np.broadcast_to(h0, pre.shape[1:-1] + (hidden,)), []
    for t, row in enumerate(pre + bias):
        blocks = [row[..., j * hidden:(j + 1) * hidden] for j in range(GATES[gate].blocks)]
        if gate == "mingru":
            z = sigmoid(blocks[0])
            new = (1 - z) * h + z * paper_g(blocks[1])
        else:
            f, i = sigmoid(blocks[0]), sigmoid(blocks[1])
            new = f / (f + i) * h + i / (f + i) * paper_g(blocks[2])
        h = new if valid is None else np.where(valid[t][..., None], new, h)
        out.append(h)
    return np.stack(out)


def _inputs(gate, shape=(9, 2, 3), hidden=4, seed=0):
    rng = np.random.default_rng(seed)
    width = GATES[gate].blocks * hidden
    return (rng.normal(0, 2.0, shape + (width,)), rng.uniform(-1, 1, shape[1:] + (hidden,)),
            rng.normal(0, 1.0, width))


@pytest.mark.parametrize("gate", sorted(GATES))
def test_equals_the_sequential_definition(gate):
    pre, h0, bias = _inputs(gate)
    got = mg.gated_scan(mg.tensor(pre), mg.tensor(h0), gate, mg.tensor(bias)).numpy()
    np.testing.assert_allclose(got, sequential(gate, pre, h0, bias), rtol=1e-12, atol=1e-14)
    # h0 broadcast over the middle axes and zeros when None; no bias
    row = h0[:1, :1]
    got = mg.gated_scan(mg.tensor(pre), mg.tensor(row), gate).numpy()
    np.testing.assert_allclose(got, sequential(gate, pre, row, 0.0), rtol=1e-12, atol=1e-14)
    got = mg.gated_scan(mg.tensor(pre), None, gate).numpy()
    np.testing.assert_allclose(got, sequential(gate, pre, 0.0, 0.0), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("gate", sorted(GATES))
def test_mask_holds_the_state_and_gives_no_gradient(gate):
    pre, h0, bias = _inputs(gate, seed=1)
    valid = np.random.default_rng(2).uniform(size=pre.shape[:-1]) > 0.4
    pre_t = mg.tensor(pre, requires_grad=True)
    h = mg.gated_scan(pre_t, mg.tensor(h0), gate, mg.tensor(bias), valid)
    np.testing.assert_allclose(h.numpy(), sequential(gate, pre, h0, bias, valid), rtol=1e-12,
                               atol=1e-14)
    h.sum().backward()
    assert np.all(pre_t.grad[~valid] == 0) and np.all(pre_t.grad[valid] != 0)


@pytest.mark.parametrize("gate", sorted(GATES))
@pytest.mark.parametrize("masked", [False, True])
def test_gradcheck(gate, masked):
    pre, h0, bias = _inputs(gate, shape=(6, 2), hidden=3, seed=3)
    rng = np.random.default_rng(4)
    upstream = mg.tensor(rng.standard_normal(pre.shape[:-1] + (3,)))
    valid = rng.uniform(size=pre.shape[:-1]) > 0.3 if masked else None
    assert mg.gradcheck(lambda p, h, b: mg.gated_scan(p, h, gate, b, valid) * upstream,
                        [pre, h0, bias])
    assert mg.gradcheck(lambda p: mg.gated_scan(p, None, gate) * upstream, [pre])


@pytest.mark.parametrize("gate", sorted(GATES))
def test_float32_long_extreme_sequences_match_the_log_space_form(gate):
    """T = 4000 with gates from -100 to 100 (sigmoids saturated both ways, both minLSTM gates
    underflowing together): the direct form in float32 is finite and as close to the float64
    result as the paper's log-space form (mg.linear_scan, log_space=True) in float32 is."""
    rng = np.random.default_rng(5)
    blocks, hidden = GATES[gate].blocks, 16
    pre = rng.normal(0, 8.0, (4000, 2, blocks * hidden))
    pre[:, :, :hidden] += rng.choice([-100.0, 0.0, 100.0], (4000, 2, hidden))
    if gate == "minlstm":  # f and i both at -100: f + i underflows in float32
        pre[::7, :, :2 * hidden] = -100.0
    h0 = rng.uniform(0.1, 1.0, (2, hidden))
    want = mg.gated_scan(mg.tensor(pre), mg.tensor(h0), gate).numpy()
    direct = mg.gated_scan(mg.tensor(pre.astype(np.float32)), mg.tensor(h0.astype(np.float32)),
                           gate).numpy()
    log_a, log_b = _log_coefficients(gate, pre.astype(np.float32), hidden)
    log_space = mg.linear_scan(mg.tensor(log_a), mg.tensor(log_b),
                               mg.tensor(h0.astype(np.float32)), log_space=True).numpy()
    assert np.isfinite(direct).all()
    direct_error = np.max(np.abs(direct - want) / (np.abs(want) + 1e-6))
    log_error = np.max(np.abs(log_space - want) / (np.abs(want) + 1e-6))
    assert direct_error < 1e-5 and direct_error <= 2 * log_error + 1e-6, (direct_error, log_error)


def _log_coefficients(gate, pre, hidden):
    """The paper's log-space coefficients (appendix A) in pre's dtype, as minigrad ops."""
    x = mg.tensor(pre)
    blocks = [x[..., j * hidden:(j + 1) * hidden] for j in range(GATES[gate].blocks)]
    log_g = mg.log1p(blocks[-1].relu() * 2.0) + mg.logsigmoid(mg.minimum(blocks[-1], 0.0))
    diff = blocks[0] if gate == "mingru" else mg.logsigmoid(blocks[1]) - mg.logsigmoid(blocks[0])
    return (mg.logsigmoid(-diff).numpy(), (mg.logsigmoid(diff) + log_g).numpy())


def test_empty_sequence():
    out = mg.gated_scan(mg.tensor(np.ones((0, 2, 6))), None, "mingru")
    assert out.shape == (0, 2, 3)


def test_bad_input_is_named():
    pre = mg.tensor(np.ones((5, 2, 6)))
    with pytest.raises(ValueError, match="unknown gate 'gru'"):
        mg.gated_scan(pre, None, "gru")
    with pytest.raises(ValueError, match=r"pre must be a float tensor \(T, \.\.\., 3\*H\)"):
        mg.gated_scan(pre.reshape(5, 3, 4), None, "minlstm")
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\)"):
        mg.gated_scan(pre, None, "mingru", mg.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="h0 of shape"):
        mg.gated_scan(pre, mg.tensor(np.ones((2, 4))), "mingru")
    with pytest.raises(ValueError, match="h0 .* must match pre"):
        mg.gated_scan(pre, mg.tensor(np.ones((2, 3), np.float32)), "mingru")
    with pytest.raises(ValueError, match=r"valid must be a bool array of shape \(5, 2\)"):
        mg.gated_scan(pre, None, "mingru", None, np.ones((5, 3), bool))
    with pytest.raises(TypeError, match="pre must be a Tensor"):
        mg.gated_scan(np.ones((5, 2, 6)), None, "mingru")
