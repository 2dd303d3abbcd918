"""The CUDA backend's multi-tensor kernels (minigrad/backends/cuda_foreach.py): clipping by the
2-norm of all gradients in three launches with the coefficient kept on the device, Adam over every
parameter in one launch; eager and compiled alike, equal to the per-array formulas, and fewer
launches per compiled step (counted by bench.cuda_launches)."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from bench.cuda_launches import build, counting
from minigrad import optim, optim_kernels
from minigrad.backends import get

pytestmark = pytest.mark.cuda
SHAPES = [(5, 7), (3,), (), (2, 3, 4), (1,)]


def _grads(dtype, scale, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(s) * scale).astype(dtype) for s in SHAPES]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [0.01, 3.0])  # within max_norm (a factor of 1), and beyond
def test_norm_and_scaling_on_the_device_equal_the_host_formula(dtype, scale):
    be = get("cuda")
    host = _grads(dtype, scale)
    grads = tuple(be.from_host(g) for g in host)
    assert optim_kernels.foreach_norm2(grads)
    total = optim_kernels.grad_norm(grads)
    assert total.shape == () and total.dtype == np.float64 and be.is_device_array(total)
    want = sum(float(np.sum(g.astype(np.float64) ** 2)) for g in host) ** 0.5
    norm = float(be.to_host(total))
    assert abs(norm - want) <= 1e-13 * want
    scaled = optim_kernels.clip_scaled(grads, total, 1.0)
    # the CPU kernel given the same norm: the same coefficient, the same product in the dtype
    reference = optim_kernels.clip_scaled(tuple(host), np.asarray(norm), 1.0)
    for got, ref, g in zip(scaled, reference, grads):
        assert got.shape == g.shape and got.dtype == g.dtype and be.is_device_array(got)
        np.testing.assert_array_equal(be.to_host(got), ref)
    assert (float(np.max(np.abs(be.to_host(scaled[0]) - host[0]))) == 0) == (want <= 1.0)


def test_eager_clip_on_cuda_returns_the_norm_and_scales_in_three_launches():
    host = _grads(np.float64, 2.0, seed=1)
    params = [mg.tensor(np.zeros(g.shape), requires_grad=True, device="cuda") for g in host]
    for p, g in zip(params, host):
        p.grad = get("cuda").from_host(g)
    with counting() as launches:
        norm = optim.clip_grad_norm_(params, 0.5)
    want = sum(float(np.sum(g ** 2)) for g in host) ** 0.5
    assert type(norm) is float and abs(norm - want) <= 1e-13 * want
    assert launches[0] == 3  # two for the norm, one for the scaling: whatever the count
    coef = 0.5 / (want + 1e-6)
    for p, g in zip(params, host):
        np.testing.assert_allclose(p.grad.copy_to_host(), g * coef, rtol=1e-13, atol=0)


def test_mixed_dtypes_take_the_per_array_path():
    be = get("cuda")
    grads = (be.from_host(np.ones(3, np.float32)), be.from_host(np.ones(3)))
    assert not optim_kernels.foreach_norm2(grads)


OPTIMIZERS = {"adam": lambda ps, foreach: optim.Adam(ps, lr=0.01, weight_decay=0.1,
                                                     foreach=foreach),
              "sgd": lambda ps, foreach: optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True,
                                                   foreach=foreach)}


def _run(name, foreach, dtype):
    rng = np.random.default_rng(2)
    params = [mg.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True, device="cuda")
              for s in SHAPES]
    opt = OPTIMIZERS[name](params, foreach)
    for k in range(3):
        for j, p in enumerate(params):
            if (j + k) % 3 == 0:
                p.grad = None  # no gradient this step: Adam's step count, SGD's first step
                continue
            p.grad = get("cuda").from_host(rng.standard_normal(p.shape).astype(dtype))
        with counting() as launches:
            opt.step()
    return [p.numpy() for p in params], opt.state_dict(), launches[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_foreach_on_cuda_equals_per_parameter_bit_for_bit(name, dtype):
    fused, fused_state, fused_launches = _run(name, None, dtype)
    plain, plain_state, plain_launches = _run(name, False, dtype)
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a, b)
    assert fused_state.keys() == plain_state.keys()
    for key in fused_state:
        np.testing.assert_array_equal(fused_state[key], plain_state[key], err_msg=key)
    # the last step: parameters 1 and 4 without a gradient, 0, 2 and 3 at their second step
    # (the second step before it had two groups): one launch where the per-parameter path made 3
    assert (fused_launches, plain_launches) == (1, 3)


def test_compiled_step_with_clip_and_adam_on_cuda_equals_eager_in_fewer_launches():
    """The two-layer step of bench.cuda_launches: compiled equals eager to 1e-10 call after call,
    clipping is 3 launches of the compiled program whatever the parameter count (before, the
    norm, the coefficient and the scaling were several kernels per gradient), and the compiled
    step launches no more kernels than the eager one."""
    eager, eager_params, _, data = build("linear")
    step, params, _, _ = build("linear")
    compiled = mg.compile(step)
    for x, y in data:
        want = eager(mg.tensor(x, device="cuda"), mg.tensor(y, device="cuda")).item()
        with counting() as launches:
            got = compiled(mg.tensor(x, device="cuda"), mg.tensor(y, device="cuda"))
        assert abs(got.item() - want) <= 1e-10
        for a, b in zip(eager_params, params):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-10)
    assert compiled.cache_info().traces == 1
    source = compiled.programs()[0].source
    assert "optim.grad_norm" in source and "optim.clip_scaled" in source
    no_tail = mg.compile(build("linear", clip=False)[0])
    no_tail(*(mg.tensor(a, device="cuda") for a in data[0]))
    with counting() as without_clip:
        no_tail(*(mg.tensor(a, device="cuda") for a in data[0]))
    assert launches[0] - without_clip[0] == 3  # the norm (2) and the scaling (1)
    with counting() as eager_launches:
        eager(*(mg.tensor(a, device="cuda") for a in data[0]))
    assert launches[0] <= eager_launches[0]


def test_large_groups_are_launched_in_chunks(monkeypatch):
    """A kernel's parameters must fit in 4 KiB, so at most MAX_ARRAYS arrays go to one launch:
    with the bound at 4, five gradients take two norm launches and a final one, three scaling
    launches (two arrays per gradient), and Adam one per parameter (four arrays each); the
    results are those of the unchunked launches (the norm to rounding, the rest bit for bit)."""
    from minigrad.backends import cuda_foreach

    be = get("cuda")
    host = _grads(np.float64, 2.0, seed=3)
    grads = tuple(be.from_host(g) for g in host)
    whole = float(be.to_host(optim_kernels.grad_norm(grads)))
    whole_params, whole_state, _ = _run("adam", None, np.float64)
    monkeypatch.setattr(cuda_foreach, "MAX_ARRAYS", 4)
    with counting() as norm_launches:
        total = optim_kernels.grad_norm(grads)
    with counting() as scale_launches:
        scaled = optim_kernels.clip_scaled(grads, total, 1.0)
    assert (norm_launches[0], scale_launches[0]) == (3, 3)
    assert abs(float(be.to_host(total)) - whole) <= 1e-13 * whole
    reference = optim_kernels.clip_scaled(tuple(host), np.asarray(be.to_host(total)), 1.0)
    for got, ref in zip(scaled, reference):
        np.testing.assert_array_equal(be.to_host(got), ref)
    chunked, chunked_state, launches = _run("adam", None, np.float64)
    assert launches == 3  # the last step's three parameters, one per launch
    for a, b in zip(chunked, whole_params):
        np.testing.assert_array_equal(a, b)
    for key in chunked_state:
        np.testing.assert_array_equal(chunked_state[key], whole_state[key], err_msg=key)
