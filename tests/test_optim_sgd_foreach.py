"""SGD's multi-tensor step (foreach=True on the CPU, the default for CUDA parameters:
optim_kernels.sgd_foreach) equals the per-parameter kernels bit for bit, with momentum,
dampening, Nesterov and weight decay, across parameters that miss a step (their first step
later: another group) and two dtypes."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim, optim_kernels

SHAPES = [(7, 5), (5,), (3, 4, 2), (1,), (6, 6)]
SETTINGS = [{}, {"momentum": 0.9}, {"momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1},
            {"momentum": 0.8, "nesterov": True}]


def _run(foreach, dtype, settings, steps=4):
    r = np.random.default_rng(0)
    params = [mg.tensor(r.standard_normal(s).astype(dtype), requires_grad=True) for s in SHAPES]
    other = np.float64 if dtype == np.float32 else np.float32
    extra = mg.tensor(np.ones((2, 3), other), requires_grad=True)  # another dtype: own group
    opt = optim.SGD([*params, extra], lr=3e-2, foreach=foreach, **settings)
    for k in range(steps):
        opt.zero_grad()
        for j, p in enumerate(params):
            if k == 0 and j % 2:
                continue  # no gradient at the first step: its first step comes later
            p.grad = r.standard_normal(p.shape).astype(dtype)
        extra.grad = r.standard_normal((2, 3)).astype(other)
        opt.step()
    return [p.numpy() for p in [*params, extra]], opt.state_dict()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("settings", SETTINGS)
def test_sgd_foreach_equals_per_parameter_bit_for_bit(dtype, settings, monkeypatch):
    calls = []
    kernel = optim_kernels.sgd_foreach
    monkeypatch.setattr(optim_kernels, "sgd_foreach",
                        lambda *a, **kw: calls.append((len(a[0]), kw["first"])) or kernel(*a, **kw))
    fused, fused_state = _run(True, dtype, settings)
    # the first step: parameters 0, 2, 4 in one call; the second: 1 and 3 (first) and 0, 2, 4
    assert (3, True) in calls and (2, True) in calls and (3, False) in calls
    plain, plain_state = _run(False, dtype, settings)
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a, b)
    assert fused_state.keys() == plain_state.keys()
    for key in fused_state:
        np.testing.assert_array_equal(fused_state[key], plain_state[key], err_msg=key)


def test_sgd_foreach_on_the_cpu_only_when_asked(monkeypatch):
    calls = []
    monkeypatch.setattr(optim_kernels, "sgd_foreach", lambda *a, **kw: calls.append(a))
    p = mg.tensor(np.ones(3), requires_grad=True)
    p.grad = np.ones(3)
    optim.SGD([p]).step()  # the default on the CPU: one kernel call per parameter
    assert not calls and np.all(p.numpy() < 1)
    optim.SGD([p], foreach=True).step()
    assert len(calls) == 1
    with pytest.raises(ValueError, match="SGD: foreach must be None, True or False, got 'no'"):
        optim.SGD([p], foreach="no")
