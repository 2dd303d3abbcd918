"""clip_grad_norm_'s scaling folded into the multi-tensor Adam step (compiler/fold_clip.py,
optim.clipped_step): compiled == eager (1e-10 in float64), losses, parameters, the optimizer's
state and what .grad holds afterwards (the clipped gradient, as eager leaves it), with the norm
above and below max_norm; the fold taken only where it is sound."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

SHAPES = ((4, 8), (8,), (8, 3))
TOL = {np.float64: 1e-10, np.float32: 1e-6}


def _build(dtype, clipped=slice(None), stepped=slice(None), max_norm=0.5, between=False,
           optimizer="adam"):
    r = np.random.default_rng(1)
    params = [mg.tensor(r.standard_normal(s).astype(dtype), requires_grad=True) for s in SHAPES]
    opt = {"adam": lambda p: mg.optim.Adam(p, lr=1e-2),
           "adam-per-parameter": lambda p: mg.optim.Adam(p, lr=1e-2, foreach=False),
           "sgd": lambda p: mg.optim.SGD(p, lr=1e-2, momentum=0.9)}[optimizer](params[stepped])
    w0, b0, w1 = params

    def step(x):
        opt.zero_grad()
        for p in params:
            p.grad = None
        loss = ((x @ w0 + b0).tanh() @ w1).sum() * 10.0
        loss.backward()
        norm = mg.optim.clip_grad_norm_(params[clipped], max_norm)
        if between:  # an op between the clipping and the step: no fold
            norm = norm * 2.0
        opt.step()
        return loss, norm

    return params, opt, step


def _twins(dtype=np.float64, calls=4, **options):
    eager_p, eager_opt, eager = _build(dtype, **options)
    comp_p, comp_opt, step = _build(dtype, **options)
    compiled = mg.compile(step)
    tol = TOL[dtype]
    for k in range(calls):
        x = mg.tensor(np.random.default_rng(k).standard_normal((5, 4)).astype(dtype))
        (want, want_norm), (got, norm) = eager(x), compiled(x)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(norm.numpy(), want_norm, rtol=tol)  # eager's: a float
        for j, (a, b) in enumerate(zip(eager_p, comp_p)):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=tol, atol=tol,
                                       err_msg=f"call {k} parameter {j}")
            np.testing.assert_allclose(b.grad, a.grad, rtol=tol, atol=tol,
                                       err_msg=f"call {k} .grad {j}")
        for a, b in zip(eager_opt.state, comp_opt.state):
            for name in a:
                np.testing.assert_allclose(b[name], a[name], rtol=tol, atol=tol)
    assert compiled.cache_info().traces == 1
    return compiled.programs()[0].source


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])  # clipping, and a factor of 1
def test_folded_clip_equals_eager(dtype, max_norm):
    source = _twins(dtype, max_norm=max_norm)
    assert "optim.clip_scaled" not in source  # no scaled copies: the step scales
    assert source.count("# clipped_step") == 1
    assert source.count("optim.grad_norm") == 1


def test_parameters_clipped_but_not_stepped_and_stepped_but_not_clipped():
    """Adam over the first two parameters, clipping over all three (the third's gradient is
    scaled after the step); and the reverse (the third's gradient is not scaled)."""
    for clipped, stepped in ((slice(None), slice(0, 2)), (slice(0, 2), slice(None))):
        source = _twins(clipped=clipped, stepped=stepped)
        assert "optim.clip_scaled" not in source


@pytest.mark.parametrize("options", [{"between": True}, {"optimizer": "sgd"},
                                     {"optimizer": "adam-per-parameter"}])
def test_not_folded(options):
    """An op between the clipping and the step, SGD, Adam without its multi-tensor kernel: the
    scaled copies stay (and the results are eager's)."""
    source = _twins(**options)
    assert "optim.clip_scaled" in source


def test_clipped_step_scales_like_clip_scaled():
    """optim.clipped_step leaves in .grad what clip_scaled makes, and the Adam update of it."""
    from minigrad import optim_kernels

    r = np.random.default_rng(3)
    grads = tuple(r.standard_normal(s).astype(np.float32) for s in SHAPES)
    params = [mg.tensor(r.standard_normal(s).astype(np.float32), requires_grad=True)
              for s in SHAPES]
    twins = [mg.tensor(p.numpy().copy(), requires_grad=True) for p in params]
    total = optim_kernels.grad_norm(grads)
    for p, g in zip(twins, optim_kernels.clip_scaled(grads, total, 0.1)):
        p.grad = g
    want = mg.optim.Adam(twins, lr=1e-2)
    want.step()
    for p, g in zip(params, grads):
        p.grad = g.copy()
    got = mg.optim.Adam(params, lr=1e-2)
    mg.optim.clipped_step(got, total, 0.1, tuple(p.grad for p in params))
    for a, b in zip(twins, params):
        np.testing.assert_array_equal(b.grad, a.grad)
        np.testing.assert_array_equal(b.numpy(), a.numpy())
