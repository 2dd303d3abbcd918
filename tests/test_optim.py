"""Optimizers and clipping: each step equals the formula (numpy, here) and torch.optim; resumes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minigrad import optim
from minigrad.nn import Parameter

SHAPES = [(3, 4), (5,)]
STEPS = 5


def _grads(steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]


def _initial(seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in SHAPES]


# ---- the formulas, written out in numpy (float64) --------------------------------------------


def sgd_reference(
    params, grads_per_step, lr, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False
):
    params = [p.copy() for p in params]
    buffers = [None] * len(params)
    for grads in grads_per_step:
        for i, (p, g) in enumerate(zip(params, grads)):
            d = g + weight_decay * p
            if momentum:
                if buffers[i] is None:
                    buffers[i] = d.copy()
                else:
                    buffers[i] = momentum * buffers[i] + (1 - dampening) * d
                d = d + momentum * buffers[i] if nesterov else buffers[i]
            p -= lr * d
    return params


def adam_reference(params, grads_per_step, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    params = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = [0] * len(params)
    b1, b2 = betas
    for grads in grads_per_step:
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is None:
                continue
            t[i] += 1
            d = g + weight_decay * p
            m[i] = b1 * m[i] + (1 - b1) * d
            v[i] = b2 * v[i] + (1 - b2) * d * d
            m_hat, v_hat = m[i] / (1 - b1 ** t[i]), v[i] / (1 - b2 ** t[i])
            p -= lr * m_hat / (np.sqrt(v_hat) + eps)
    return params


def rmsprop_reference(
    params, grads_per_step, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False
):
    params = [p.copy() for p in params]
    square = [np.zeros_like(p) for p in params]
    mean = [np.zeros_like(p) for p in params]
    buffer = [np.zeros_like(p) for p in params]
    for grads in grads_per_step:
        for i, (p, g) in enumerate(zip(params, grads)):
            d = g + weight_decay * p
            square[i] = alpha * square[i] + (1 - alpha) * d * d
            if centered:
                mean[i] = alpha * mean[i] + (1 - alpha) * d
                denom = np.sqrt(square[i] - mean[i] ** 2) + eps
            else:
                denom = np.sqrt(square[i]) + eps
            if momentum > 0:
                buffer[i] = momentum * buffer[i] + d / denom
                p -= lr * buffer[i]
            else:
                p -= lr * d / denom
    return params


CONFIGS = {
    "sgd": ("SGD", sgd_reference, dict(lr=0.1)),
    "sgd_momentum": ("SGD", sgd_reference, dict(lr=0.1, momentum=0.9)),
    "sgd_dampening": ("SGD", sgd_reference, dict(lr=0.05, momentum=0.8, dampening=0.3)),
    "sgd_nesterov": ("SGD", sgd_reference, dict(lr=0.1, momentum=0.9, nesterov=True)),
    "sgd_weight_decay": ("SGD", sgd_reference, dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    "adam": ("Adam", adam_reference, dict(lr=1e-3)),
    "adam_options": (
        "Adam",
        adam_reference,
        dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ),
    "rmsprop": ("RMSprop", rmsprop_reference, dict(lr=0.01)),
    "rmsprop_centered": ("RMSprop", rmsprop_reference, dict(lr=0.01, centered=True)),
    "rmsprop_momentum": ("RMSprop", rmsprop_reference, dict(lr=0.01, alpha=0.9, momentum=0.5)),
    "rmsprop_all": (
        "RMSprop",
        rmsprop_reference,
        dict(lr=0.01, alpha=0.95, eps=1e-6, weight_decay=0.05, momentum=0.7, centered=True),
    ),
}


def _run_ours(name, kwargs, initial, grads_per_step, dtype):
    params = [Parameter(p.astype(dtype)) for p in initial]
    opt = getattr(optim, name)(params, **kwargs)
    for grads in grads_per_step:
        for p, g in zip(params, grads):
            p.grad = None if g is None else g.astype(dtype)
        opt.step()
    return params, opt


def _run_torch(torch, name, kwargs, initial, grads_per_step, dtype):
    params = [torch.tensor(p.astype(dtype), requires_grad=True) for p in initial]
    opt = getattr(torch.optim, name)(params, **kwargs)
    for grads in grads_per_step:
        for p, g in zip(params, grads):
            p.grad = None if g is None else torch.tensor(g.astype(dtype))
        opt.step()
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize("steps", [1, STEPS])
@pytest.mark.parametrize("config", CONFIGS)
def test_steps_equal_the_formula(config, steps):
    name, reference, kwargs = CONFIGS[config]
    initial, grads = _initial(), _grads(steps)
    expected = reference(initial, grads, **kwargs)
    ours, _ = _run_ours(name, kwargs, initial, grads, np.float64)
    for p, e in zip(ours, expected):
        assert p.dtype == np.float64
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-10, atol=1e-12)
    ours32, _ = _run_ours(name, kwargs, initial, grads, np.float32)
    for p, e in zip(ours32, expected):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("steps", [1, STEPS])
@pytest.mark.parametrize("config", CONFIGS)
def test_steps_equal_torch_optim(config, steps, dtype, torch):
    name, _, kwargs = CONFIGS[config]
    initial, grads = _initial(), _grads(steps)
    ours, _ = _run_ours(name, kwargs, initial, grads, dtype)
    expected = _run_torch(torch, name, kwargs, initial, grads, dtype)
    for p, e in zip(ours, expected):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("config", ["adam", "sgd_momentum", "rmsprop_centered"])
def test_a_parameter_without_gradient_is_skipped_like_torch(config, torch):
    """Parameter 1 gets no gradient on the first two steps: it is not updated then, and its own
    step count (Adam's bias correction) starts at its first gradient, as in torch.optim."""
    name, _, kwargs = CONFIGS[config]
    initial, grads = _initial(), _grads()
    grads[0][1] = grads[1][1] = None
    ours, opt = _run_ours(name, kwargs, initial, grads[:2], np.float64)
    np.testing.assert_array_equal(ours[1].numpy(), initial[1])
    ours, _ = _run_ours(name, kwargs, initial, grads, np.float64)
    expected = _run_torch(torch, name, kwargs, initial, grads, np.float64)
    for p, e in zip(ours, expected):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-10, atol=1e-12)
    if name == "Adam":
        np.testing.assert_allclose(
            ours[1].numpy(), adam_reference(initial, grads, **kwargs)[1], rtol=1e-10
        )


@pytest.mark.parametrize("config", CONFIGS)
def test_state_dict_resumes_identically(config, tmp_path):
    name, _, kwargs = CONFIGS[config]
    initial, grads = _initial(), _grads()
    straight, _ = _run_ours(name, kwargs, initial, grads, np.float32)

    first, opt = _run_ours(name, kwargs, initial, grads[:3], np.float32)
    np.savez(tmp_path / "opt.npz", **opt.state_dict())
    saved = dict(np.load(tmp_path / "opt.npz"))
    params = [Parameter(p.numpy().copy()) for p in first]
    resumed = getattr(optim, name)(params, **kwargs)
    resumed.load_state_dict(saved)
    for step_grads in grads[3:]:
        for p, g in zip(params, step_grads):
            p.grad = g.astype(np.float32)
        resumed.step()
    for p, q in zip(params, straight):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_optimizer_state_dict_errors():
    params = [Parameter(np.zeros((2, 2), np.float32))]
    opt = optim.Adam(params)
    params[0].grad = np.ones((2, 2), np.float32)
    opt.step()
    state = opt.state_dict()
    bad = dict(state, **{"0.exp_avg": np.zeros(3)})
    with pytest.raises(ValueError, match=r"0.exp_avg has shape \(3,\), parameter 0 has shape"):
        optim.Adam(params).load_state_dict(bad)
    partial = {k: v for k, v in state.items() if k != "0.exp_avg_sq"}
    with pytest.raises(ValueError, match="parameter 0 has only"):
        optim.Adam(params).load_state_dict(partial)


def test_step_skips_parameters_without_gradient_and_zero_grad_clears():
    a, b = Parameter(np.ones(2, np.float32)), Parameter(np.ones(3, np.float32))
    opt = optim.SGD([a, b], lr=0.5)
    a.grad = np.ones(2, np.float32)
    opt.step()
    np.testing.assert_array_equal(a.numpy(), 0.5)
    np.testing.assert_array_equal(b.numpy(), 1.0)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_optimizer_argument_errors():
    p = [Parameter(np.zeros(2, np.float32))]
    with pytest.raises(ValueError, match="lr must be >= 0.0, got -1"):
        optim.SGD(p, lr=-1)
    with pytest.raises(ValueError, match="nesterov needs momentum > 0 and dampening == 0"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"betas\[1\] must be \[0.0, 1.0\), got 1.0"):
        optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match=r"alpha must be \[0.0, 1.0\], got 1.5"):
        optim.RMSprop(p, alpha=1.5)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="parameter 0 is not a tensor that requires grad"):
        optim.SGD([Parameter(np.zeros(2, np.float32), requires_grad=False)], lr=0.1)


# ---- clipping ----------------------------------------------------------------------------------


def _clip_pair(torch, dtype=np.float32, seed=3):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s).astype(dtype) * 3 for s in SHAPES]
    ours = [Parameter(np.zeros(s, dtype)) for s in SHAPES]
    theirs = [
        torch.zeros(s, dtype=getattr(torch, np.dtype(dtype).name), requires_grad=True)
        for s in SHAPES
    ]
    for p, t, g in zip(ours, theirs, grads):
        p.grad, t.grad = g.copy(), torch.tensor(g)
    return ours, theirs, grads


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])
def test_clip_grad_norm_matches_torch(max_norm, norm_type, torch):
    ours, theirs, grads = _clip_pair(torch)
    total = optim.clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(total, expected.item(), rtol=1e-6)
    flat = np.concatenate([g.ravel().astype(np.float64) for g in grads])
    by_formula = (
        np.abs(flat).max()
        if norm_type == math.inf
        else (np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type))
    )
    np.testing.assert_allclose(total, by_formula, rtol=1e-6)
    for p, t in zip(ours, theirs):
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-6, atol=1e-7)
    if max_norm < total:
        clipped = np.concatenate([p.grad.ravel().astype(np.float64) for p in ours])
        norm = (
            np.abs(clipped).max()
            if norm_type == math.inf
            else (np.sum(np.abs(clipped) ** norm_type) ** (1 / norm_type))
        )
        np.testing.assert_allclose(norm, max_norm, rtol=1e-5)


def test_clip_grad_norm_skips_parameters_without_gradient():
    a, b = Parameter(np.zeros(2, np.float32)), Parameter(np.zeros(2, np.float32))
    a.grad = np.array([3.0, 4.0], np.float32)
    assert optim.clip_grad_norm_([a, b], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad, [0.6, 0.8], rtol=1e-5)
    assert b.grad is None
    assert optim.clip_grad_norm_([b], 1.0) == 0.0


@pytest.mark.parametrize("clip_value", [0.5, 2.0, 100.0])
def test_clip_grad_value_matches_torch(clip_value, torch):
    ours, theirs, _ = _clip_pair(torch)
    optim.clip_grad_value_(ours, clip_value)
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for p, t in zip(ours, theirs):
        assert p.grad.dtype == np.float32
        np.testing.assert_array_equal(p.grad, t.grad.numpy())
        assert np.abs(p.grad).max() <= clip_value
    with pytest.raises(ValueError, match="clip_value must be >= 0.0"):
        optim.clip_grad_value_(ours, -1.0)


def test_float32_updates_round_in_float32_as_the_cuda_kernels_do():
    """One formula, one rounding on both backends (optimizer_rules): a float32 Adam step is the
    float32 evaluation of torch's formula, to an ulp of the update (FMA contraction may differ)."""
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(1000).astype(np.float32)
    g = rng.standard_normal(1000).astype(np.float32)
    p = Parameter(p0.copy())
    p.grad = g.copy()
    opt = optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    opt.step()
    f = np.float32
    d = g + f(0.1) * p0
    m = (f(1) - f(0.9)) * d
    v = (f(1) - f(0.999)) * d * d
    expected = p0 - f(0.01 / (1 - 0.9)) * m / (np.sqrt(v) / f(np.sqrt(1 - 0.999)) + f(1e-8))
    assert expected.dtype == np.float32
    assert p.data.dtype == np.float32
    tolerance = np.spacing(f(0.01)) + np.spacing(np.abs(expected))  # an ulp of update and result
    assert np.all(np.abs(p.data - expected) <= tolerance)


# ---- issue 20: repeated parameters, and the version counter of in-place updates -------------
@pytest.mark.parametrize("config", ["sgd_momentum", "adam", "rmsprop_all"])
def test_repeated_parameters_are_refused(config, torch):
    name, _, kwargs = CONFIGS[config]
    a, b = Parameter(np.ones(3)), Parameter(np.ones(2))
    with pytest.raises(ValueError, match=f"{name}: parameter 2 is parameter 0 again"):
        getattr(optim, name)([a, b, a], **kwargs)
    with pytest.warns(UserWarning, match="duplicate parameters"):  # torch warns, then steps twice
        getattr(torch.optim, name)([torch.ones(3, requires_grad=True)] * 2, **kwargs)


@pytest.mark.parametrize("config", ["sgd_momentum", "adam", "rmsprop_all"])
def test_step_before_backward_is_an_error_as_torch(config, torch):
    import minigrad as mg

    name, _, kwargs = CONFIGS[config]
    rng = np.random.default_rng(0)
    x, w0 = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    w = Parameter(w0.copy())
    opt = getattr(optim, name)([w], **kwargs)
    (mg.tensor(x) @ w).sum().backward()
    opt.step()
    assert w.version == 1
    loss = (mg.tensor(x) @ w).tanh().sum() + (w * w).sum()  # mul saves w (torch too)
    opt.step()  # modifies w in place after the forward that saved it
    assert w.version == 2
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation \(" + name
                       + r"\.step\): the tensor of shape \(3, 2\) float64 used by '(mul|matmul)'"):
        loss.backward()
    tw = torch.tensor(w0.copy(), requires_grad=True)
    topt = getattr(torch.optim, name)([tw], **kwargs)
    (torch.tensor(x) @ tw).sum().backward()
    topt.step()
    tloss = (torch.tensor(x) @ tw).tanh().sum() + (tw * tw).sum()
    topt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tloss.backward()
    w.grad = None  # a forward after the step is a new graph: it works and matches torch's
    tw.grad = None
    (mg.tensor(x) @ w).tanh().sum().backward()
    (torch.tensor(x) @ tw).tanh().sum().backward()
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_version_counter_leaves_ordinary_training_alone():
    import minigrad as mg

    w = Parameter(np.ones((3, 2)))
    opt = optim.SGD([w], lr=0.1)
    x = mg.tensor(np.ones((4, 3)))
    for _ in range(3):  # forward, backward, step: never an error
        opt.zero_grad()
        loss = (x @ w).sum()
        loss.backward(retain_graph=True)
        loss.backward()  # a second backward before the step is still allowed
        opt.step()
    assert w.version == 3
    assert mg.tensor(np.ones(2)).version == 0
