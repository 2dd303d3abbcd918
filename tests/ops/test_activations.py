"""Activations (scalar rules): float64 gradcheck with a random upstream, float32 parity with
torch.nn.functional (values and gradients, defaults and parameters), saturation, errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg


def spread(a):
    """Values over [-6, 6], away from every kink (0, +-1, +-3, 6) by 0.05 or more."""
    v = 3 * a
    for kink in (0.0, 1.0, -1.0, 3.0, -3.0, 6.0):
        v = np.where(np.abs(v - kink) < 0.05, v + 0.1, v)
    return v


# name -> (minigrad call, torch.nn.functional call)
CASES = {
    "gelu": (mg.gelu, lambda F, x: F.gelu(x)),
    "gelu_tanh": (lambda x: mg.gelu(x, approximate="tanh"),
                  lambda F, x: F.gelu(x, approximate="tanh")),
    "silu": (mg.silu, lambda F, x: F.silu(x)),
    "mish": (mg.mish, lambda F, x: F.mish(x)),
    "leaky_relu": (mg.leaky_relu, lambda F, x: F.leaky_relu(x)),
    "leaky_relu_0.2": (lambda x: mg.leaky_relu(x, 0.2), lambda F, x: F.leaky_relu(x, 0.2)),
    "elu": (mg.elu, lambda F, x: F.elu(x)),
    "elu_0.5": (lambda x: mg.elu(x, alpha=0.5), lambda F, x: F.elu(x, alpha=0.5)),
    "selu": (mg.selu, lambda F, x: F.selu(x)),
    "softplus": (mg.softplus, lambda F, x: F.softplus(x)),
    "softplus_beta": (lambda x: mg.softplus(x, beta=2.0, threshold=5.0),
                      lambda F, x: F.softplus(x, beta=2.0, threshold=5.0)),
    "softsign": (mg.softsign, lambda F, x: F.softsign(x)),
    "logsigmoid": (mg.logsigmoid, lambda F, x: F.logsigmoid(x)),
    "hardtanh": (mg.hardtanh, lambda F, x: F.hardtanh(x)),
    "hardtanh_range": (lambda x: mg.hardtanh(x, -2.0, 3.0),
                       lambda F, x: F.hardtanh(x, -2.0, 3.0)),
    "hardsigmoid": (mg.hardsigmoid, lambda F, x: F.hardsigmoid(x)),
    "relu6": (mg.relu6, lambda F, x: F.relu6(x)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_float64(name, rng):
    x = spread(rng.standard_normal((3, 5)))
    if name == "softplus_beta":  # keep beta x away from the threshold's jump
        x = np.where(np.abs(2 * x - 5.0) < 0.1, x + 0.2, x)
    assert mg.gradcheck(CASES[name][0], [x])


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_float32(name, rng, compare_with_torch, torch):
    F = torch.nn.functional
    x = spread(rng.standard_normal((6, 9)))
    # the float32 rational tanh is exactly -1 past -8.07 where tanhf is -1 + 1e-7: gelu_tanh's
    # slope there is 0 rather than -2e-6
    atol = 5e-6 if name == "gelu_tanh" else 2e-6
    compare_with_torch(CASES[name][0], lambda t: CASES[name][1](F, t), [x], rtol=1e-5, atol=atol)


@pytest.mark.parametrize("name", ["gelu", "silu", "mish", "softplus", "logsigmoid", "selu", "elu"])
def test_large_inputs_stay_finite_and_match_torch(name, torch):
    F = torch.nn.functional
    x = np.array([-200.0, -30.0, -12.0, 12.0, 30.0, 200.0], np.float32)
    t = mg.tensor(x, requires_grad=True)
    y = CASES[name][0](t)
    y.backward(np.ones_like(x))
    tt = torch.tensor(x, requires_grad=True)
    ty = CASES[name][1](F, tt)
    ty.backward(torch.ones_like(tt))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_float32_stays_float32_and_errors_name_the_op():
    assert mg.gelu(mg.ones(3)).dtype == np.float32
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        mg.gelu(mg.ones(3), approximate="fast")
    with pytest.raises(ValueError, match="hardtanh: min_val=2.0 is greater than max_val=1.0"):
        mg.hardtanh(mg.ones(3), 2.0, 1.0)
    with pytest.raises(ValueError, match="softplus: beta must be a non-zero number"):
        mg.softplus(mg.ones(3), beta=0.0)


@pytest.mark.parametrize("name", ["elu", "elu_0.5", "selu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_saturated_gradients_keep_their_relative_precision(name, dtype, torch):
    """Below x = -10 the slope alpha e^x is tiny: computed from the output (y + alpha) it
    cancels (2e-8 off in float64 at x = -20, exactly 0 in float32); computed from x it keeps
    full relative precision, as torch's."""
    F = torch.nn.functional
    x = np.array([-80.0, -40.0, -20.0, -12.0, -3.0], dtype)
    t = mg.tensor(x, requires_grad=True)
    CASES[name][0](t).backward(np.ones_like(x))
    tt = torch.tensor(x, requires_grad=True)
    CASES[name][1](F, tt).backward(torch.ones_like(tt))
    assert np.all(t.grad > 0)
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-12 if dtype == np.float64 else 2e-6,
                               atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sinh_and_cosh_gradients_stay_finite_up_to_their_own_overflow(dtype, torch):
    """float32 e^x overflows at 88.7, sinh and cosh themselves at 89.4: their slopes (cosh,
    sinh) near 89 are finite and equal torch's."""
    x = np.array([-89.0, -70.0, -65.0, -1.5, 0.0, 1e-3, 2.0, 63.0, 65.0, 88.9, 89.0], dtype)
    for name in ("sinh", "cosh"):
        t = mg.tensor(x, requires_grad=True)
        getattr(mg, name)(t).backward(np.ones_like(x))
        tt = torch.tensor(x, requires_grad=True)
        getattr(torch, name)(tt).backward(torch.ones_like(tt))
        assert np.all(np.isfinite(t.grad)), (name, t.grad)
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-12 if dtype == np.float64
                                   else 4e-6, atol=0, err_msg=name)
