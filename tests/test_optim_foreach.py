"""Adam's multi-tensor step (foreach, the default) equals the per-parameter kernels bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim, optim_kernels


def _params(dtype, seed=0):
    r = np.random.default_rng(seed)
    shapes = [(7, 5), (5,), (3, 4, 2), (1,), (6, 6)]
    return [mg.tensor(r.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def _run(foreach, dtype, steps=5, weight_decay=0.0):
    params = _params(dtype)
    extra = mg.tensor(np.ones((2, 3), np.float32), requires_grad=True)  # another dtype: own group
    opt = optim.Adam([*params, extra], lr=3e-2, weight_decay=weight_decay, foreach=foreach)
    r = np.random.default_rng(1)
    for k in range(steps):
        opt.zero_grad()
        for j, p in enumerate(params):
            if (j + k) % 3 == 0:
                continue  # no gradient this step: a different step count, another group
            g = r.standard_normal(p.shape).astype(dtype)
            p.grad = g.T.copy().T if g.ndim == 2 and j == 4 else g  # an F-ordered gradient
        extra.grad = r.standard_normal((2, 3)).astype(np.float32)
        opt.step()
    return [p.numpy() for p in [*params, extra]], opt.state_dict()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_foreach_equals_per_parameter_bit_for_bit(dtype, weight_decay, monkeypatch):
    calls = []
    kernel = optim_kernels.adam_foreach
    monkeypatch.setattr(optim_kernels, "adam_foreach",
                        lambda *a: calls.append(len(a[0])) or kernel(*a))
    fused, fused_state = _run(True, dtype, weight_decay=weight_decay)
    assert calls and max(calls) >= 2  # the multi-tensor kernel ran, over several parameters
    plain, plain_state = _run(False, dtype, weight_decay=weight_decay)
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a, b)
    assert fused_state.keys() == plain_state.keys()
    for key in fused_state:
        np.testing.assert_array_equal(fused_state[key], plain_state[key], err_msg=key)


def test_foreach_is_the_default_and_checked():
    p = mg.tensor(np.ones(3), requires_grad=True)
    assert optim.Adam([p]).foreach is True
    assert optim.Adam([p], foreach=False).foreach is False
    with pytest.raises(ValueError, match="foreach must be None, True or False, got 'yes'"):
        optim.Adam([p], foreach="yes")


def test_foreach_step_in_a_compiled_step_equals_eager():
    def build():
        params = _params(np.float64, seed=2)
        opt = optim.Adam(params, lr=1e-2)

        def step(x):
            opt.zero_grad()
            loss = sum(((p * x).sum() ** 2) for p in params)
            loss.backward()
            opt.step()
            return loss

        return step, params

    (eager, ep), (compiled, cp) = build(), build()
    compiled = mg.compile(compiled)
    for k in range(3):
        x = mg.tensor(np.full((), 0.5 + k))
        np.testing.assert_allclose(compiled(x).numpy(), eager(x).numpy(), rtol=0, atol=1e-10)
        for a, b in zip(ep, cp):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-10)
