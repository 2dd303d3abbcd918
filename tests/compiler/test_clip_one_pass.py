"""clip_grad_norm_ by the 2-norm in one pass: one kernel computes the norm of every gradient,
one scales them all (minigrad/optim_kernels.py), eager and inside mg.compile (two calls of the
program), equal to the per-array formula; other norms, mixed dtypes and non-contiguous gradients
keep the per-array path."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim

TOL = 1e-10
SHAPES = ((3, 5), (5,), (7, 2), (1,), (13, 9))  # sizes 15, 5, 14, 1, 117: not multiples of 8


def _params(dtype, seed=0, scale=1.0):
    r = np.random.default_rng(seed)
    params = [mg.tensor(r.standard_normal(s).astype(dtype), requires_grad=True) for s in SHAPES]
    for p in params:
        p.grad = (r.standard_normal(p.shape) * scale).astype(dtype)
    return params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_eager_clip_equals_the_per_array_formula(dtype, max_norm):
    params = _params(dtype)
    before = [p.grad for p in params]
    want = sum(float(np.sum(g.astype(np.float64) ** 2)) for g in before) ** 0.5
    total = optim.clip_grad_norm_(params, max_norm)
    assert isinstance(total, float)
    assert total == pytest.approx(want, rel=1e-13)
    coef = max_norm / (want + 1e-6)
    for p, g in zip(params, before):
        if coef < 1.0:
            assert p.grad is not g and p.grad.dtype == dtype
            np.testing.assert_allclose(p.grad, g * dtype(coef), rtol=1e-6 if dtype is
                                       np.float32 else 1e-14)
        else:
            assert p.grad is g  # no clip: the gradient is left as it was


def _step(params, opt, max_norm, norm_type=2.0):
    def step(x):
        opt.zero_grad()
        loss = (x @ params[0]).tanh().sum() * params[1].sum()
        for p in params[2:]:  # float64 terms (a float32 parameter is cast)
            q = p.astype(np.float64)
            loss = loss + (q * q).mean() + q.sum() * 0.5
        loss.backward()
        total = optim.clip_grad_norm_(params, max_norm, norm_type)
        opt.step()
        return loss, total

    return step


@pytest.mark.parametrize("max_norm", [0.05, 1e6])  # clipping on every call, and never
def test_compiled_clip_is_two_calls_and_equals_eager(max_norm):
    eager_p, comp_p = _params(np.float64), _params(np.float64)
    eager = _step(eager_p, optim.Adam(eager_p, lr=1e-2), max_norm)
    compiled = mg.compile(_step(comp_p, optim.Adam(comp_p, lr=1e-2), max_norm))
    r = np.random.default_rng(1)
    for k in range(3):
        x = mg.tensor(r.standard_normal((4, 3)))
        (loss_e, total_e), (loss_c, total_c) = eager(x), compiled(x)
        np.testing.assert_allclose(loss_c.numpy(), loss_e.numpy(), rtol=0, atol=TOL)
        assert isinstance(total_c, mg.Tensor) and total_c.dtype == np.float64
        assert abs(total_c.item() - total_e) <= TOL * max(1.0, total_e)
        for j, (a, b) in enumerate(zip(eager_p, comp_p)):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=TOL,
                                       err_msg=f"call {k} parameter {j}")
            np.testing.assert_allclose(b.grad, a.grad, rtol=0, atol=TOL,
                                       err_msg=f"call {k} grad {j}")
    source = compiled.programs()[0].source
    # the scaling folded into Adam's multi-tensor step (compiler/fold_clip.py)
    assert source.count("# optim.grad_norm") == 1 and source.count("# optim.clip_scaled") == 0
    assert source.count("# clipped_step") == 1
    assert "# cpu.absolute" not in source  # no per-gradient sums of |g| ** 2


def _mixed():
    return _params(np.float64)[:3] + _params(np.float32, seed=2)[3:]


@pytest.mark.parametrize("make, norm_type", [
    (lambda: _params(np.float64), 1.0), (lambda: _params(np.float64), np.inf), (_mixed, 2.0)],
    ids=["norm-1", "norm-inf", "mixed-dtypes"])
def test_other_norms_and_mixed_dtypes_take_the_per_array_path(make, norm_type):
    """Norms other than 2 and gradients of two dtypes are clipped per array, compiled as
    eager."""
    eager_p, comp_p = make(), make()
    eager = _step(eager_p, optim.SGD(eager_p, lr=1e-2), 0.1, norm_type)
    compiled = mg.compile(_step(comp_p, optim.SGD(comp_p, lr=1e-2), 0.1, norm_type))
    x = mg.tensor(np.random.default_rng(3).standard_normal((4, 3)))
    for _ in range(2):
        (_, total_e), (_, total_c) = eager(x), compiled(x)
        assert abs(total_c.item() - total_e) <= 1e-6 * max(1.0, total_e)
        for a, b in zip(eager_p, comp_p):
            np.testing.assert_allclose(b.grad, a.grad, rtol=1e-6, atol=1e-9)
    assert "# optim.grad_norm" not in compiled.programs()[0].source


def test_a_read_only_gradient_takes_the_per_array_path():
    """A read-only gradient (a broadcast of one element is C-contiguous but not writeable) would
    make the kernels' tuple of two array types: it is clipped per array, as before."""
    params = _params(np.float64)
    params[3].grad = np.broadcast_to(np.float64(3.0), (1,))
    assert params[3].grad.flags.c_contiguous and not params[3].grad.flags.writeable
    before = [np.array(p.grad) for p in params]
    want = sum(float(np.sum(g ** 2)) for g in before) ** 0.5
    total = optim.clip_grad_norm_(params, 0.5)
    assert total == pytest.approx(want, rel=1e-13)
    for p, g in zip(params, before):
        np.testing.assert_allclose(p.grad, g * (0.5 / (want + 1e-6)), rtol=1e-14)
