"""Session 12's audit, the second half (tests/ops/test_torch_parity_sweep_edges.py has the ops):
clipping a single tensor and by the -inf norm, what optimizers refuse, zero_grad(set_to_none=False),
maximize / amsgrad / AdamW eager, compiled and resumed, nn.LayerNorm and nn.Dropout, a module's
load_state_dict keys and requires_grad_, and the learning-rate schedules; each against torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import minigrad as mg  # noqa: E402

from .test_torch_parity_sweep import (  # noqa: E402
    assert_same,
    normal,
    positive,
    run,
    seeded_inputs,  # noqa: F401 (autouse: per-case inputs)
)

F = torch.nn.functional


# ---- clipping: a single tensor, the -inf norm, error_if_nonfinite ------------------------------

def _grads_pair(values):
    ours = [mg.tensor(np.zeros(np.shape(v)), requires_grad=True) for v in values]
    theirs = [torch.zeros(np.shape(v), dtype=torch.float64, requires_grad=True) for v in values]
    for o, t, v in zip(ours, theirs, values):
        o.grad = np.array(v, np.float64)
        t.grad = torch.tensor(np.array(v, np.float64))
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, math.inf, -math.inf, 1.0, 3.0, -1.0])
@pytest.mark.parametrize("values", [[[3.0, -4.0], [0.5]], [[0.0, 2.0], [1e-8]], [[3.0, 4.0]]],
                         ids=["two", "with_zero", "single"])
def test_clip_grad_norm_orders_and_a_single_tensor(values, norm_type):
    """-inf is the smallest |g| (it gave 1.0); a single tensor is one parameter (iterating it
    gave its rows, which have no gradient: nothing was clipped, the norm 0)."""
    ours, theirs = _grads_pair(values)
    single = len(values) == 1
    with np.errstate(divide="ignore"):
        total = mg.optim.clip_grad_norm_(ours[0] if single else ours, 0.7, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs[0] if single else theirs, 0.7, norm_type)
    np.testing.assert_allclose(total, float(total_t), rtol=1e-12)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=1e-12)
    ours, theirs = _grads_pair(values)
    mg.optim.clip_grad_value_(ours[0] if single else ours, 0.6)
    torch.nn.utils.clip_grad_value_(theirs[0] if single else theirs, 0.6)
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(o.grad, t.grad.numpy())


@pytest.mark.parametrize("bad", [np.inf, np.nan])
@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.0])
def test_clip_grad_norm_error_if_nonfinite(norm_type, bad):
    ours, theirs = _grads_pair([[bad, 1.0], [2.0]])
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match=r"total norm of order .* is (inf|nan)"):
        mg.optim.clip_grad_norm_(ours, 1.0, norm_type, error_if_nonfinite=True)
    np.testing.assert_array_equal(ours[1].grad, [2.0])  # nothing scaled
    total = mg.optim.clip_grad_norm_(ours, 1.0, norm_type, foreach=True)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type, foreach=True)
    assert_same(np.float64(total), total_t, "the norm, scaled anyway")
    for o, t in zip(ours, theirs):
        assert_same(o.grad, t.grad, "gradients scaled by a non-finite norm")


@pytest.mark.parametrize("norm_type", [-math.inf, math.inf, 3.0])
def test_compiled_clip_equals_eager(norm_type):
    def make():
        w = mg.tensor(np.linspace(-1.0, 1.0, 12).reshape(4, 3), requires_grad=True)
        opt = mg.optim.SGD([w], lr=0.1, momentum=0.9)

        def step(x):
            opt.zero_grad()
            loss = ((x @ w).tanh() ** 2).sum()
            loss.backward()
            mg.optim.clip_grad_norm_(w, 0.05, norm_type)
            opt.step()
            return loss

        return w, step

    (w_eager, eager), (w_compiled, step) = make(), make()
    compiled = mg.compile(step)
    for i in range(3):
        x = mg.tensor(np.random.default_rng(i).standard_normal((5, 4)))
        eager(x)
        compiled(x)
    np.testing.assert_allclose(w_compiled.data, w_eager.data, rtol=1e-12, atol=1e-15)


# ---- optimizers: what torch refuses, zero_grad(set_to_none=False) ------------------------------

def test_optimizer_refuses_a_single_tensor_a_non_leaf_and_parameter_groups():
    w = mg.tensor(np.ones((3, 2)), requires_grad=True)
    with pytest.raises(TypeError, match=r"SGD: params must be an iterable .*shape \(3, 2\)"):
        mg.optim.SGD(w, lr=0.1)  # its rows were taken as parameters, never updated
    with pytest.raises(ValueError, match=r"Adam: parameter 1 \(shape \(3, 2\)\) is not a leaf"):
        mg.optim.Adam([w, w * 2.0])
    with pytest.raises(TypeError, match="RMSprop: parameter 0 is a dict; parameter groups"):
        mg.optim.RMSprop([{"params": [w]}])


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_zero_grad_set_to_none_false(name):
    """Gradients filled with 0 (kept as arrays), then accumulated into, as torch's."""
    start = normal(3, 4)
    ours = mg.tensor(start.copy(), requires_grad=True)
    theirs = torch.tensor(start.copy(), requires_grad=True)
    opt = getattr(mg.optim, name)([ours], lr=0.05, momentum=0.5) if name != "Adam" else \
        mg.optim.Adam([ours], lr=0.05)
    opt_t = getattr(torch.optim, name)([theirs], lr=0.05, momentum=0.5) if name != "Adam" else \
        torch.optim.Adam([theirs], lr=0.05)
    for _ in range(3):
        opt.zero_grad(set_to_none=False)
        opt_t.zero_grad(set_to_none=False)
        assert (ours.grad is None) == (theirs.grad is None)  # None stays None
        if ours.grad is not None:
            assert_same(ours.grad, theirs.grad, "zeroed gradient")
            np.testing.assert_array_equal(ours.grad, 0.0)
        (ours * ours * ours).sum().backward()
        (theirs * theirs * theirs).sum().backward()
        opt.step()
        opt_t.step()
    assert_same(ours, theirs, f"{name} weights")
    module = mg.nn.Linear(2, 3, dtype=np.float64)
    module(mg.tensor(normal(4, 2))).sum().backward()
    module.zero_grad(set_to_none=False)
    assert all(np.array_equal(p.grad, np.zeros(p.shape)) for p in module.parameters())
    module.zero_grad()
    assert all(p.grad is None for p in module.parameters())


# ---- maximize, amsgrad, AdamW, Adagrad: compiled == eager, a folded clip, state dicts ----------

OPTIONS = [("SGD", dict(lr=0.05, momentum=0.9, maximize=True)),
           ("Adam", dict(lr=0.05, amsgrad=True)), ("Adam", dict(lr=0.05, maximize=True)),
           ("AdamW", dict(lr=0.05, weight_decay=0.2)),
           ("AdamW", dict(lr=0.05, amsgrad=True, maximize=True)),
           ("RMSprop", dict(lr=0.05, maximize=True)),
           ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.1))]


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("name,kwargs", OPTIONS, ids=str)
def test_optimizer_options_compiled_equal_eager_and_torch(name, kwargs, clip):
    """Three steps eager, compiled (a clip before Adam's step is folded into its kernel) and
    in torch: the same weights."""
    def make(library):
        w = library.tensor(np.linspace(-1.0, 1.0, 12).reshape(4, 3), requires_grad=True)
        module = mg.optim if library is mg else torch.optim
        opt = getattr(module, name)([w], **kwargs)

        def step(x):
            opt.zero_grad()
            loss = ((x @ w).tanh() ** 2).sum() - (w * w * w).sum()
            loss.backward()
            if clip:
                (mg.optim.clip_grad_norm_ if library is mg else
                 torch.nn.utils.clip_grad_norm_)([w], 0.5)
            opt.step()
            return loss

        return w, step

    (w_eager, eager), (w_compiled, step), (w_torch, step_torch) = make(mg), make(mg), make(torch)
    compiled = mg.compile(step)
    for i in range(3):
        x = np.random.default_rng(i).standard_normal((5, 4))
        eager(mg.tensor(x))
        compiled(mg.tensor(x))
        step_torch(torch.tensor(x))
    np.testing.assert_allclose(w_compiled.data, w_eager.data, rtol=1e-12, atol=1e-15)
    assert_same(w_eager, w_torch, f"{name} {kwargs} against torch")


@pytest.mark.parametrize("name,kwargs", OPTIONS, ids=str)
def test_optimizer_options_resume_from_a_state_dict(name, kwargs):
    """Three steps, state_dict (amsgrad's max_exp_avg_sq included) through .npz-ready arrays into
    a new optimizer, three more: the weights of six straight steps, bit for bit."""
    def train(params, opt, steps):
        for k in steps:
            opt.zero_grad()
            (((params[0] - float(k)) ** 2).sum() * 1.5 + (params[1] ** 3).sum()).backward()
            opt.step()

    start = [normal(3, 2), normal(4)]
    straight = [mg.tensor(a.copy(), requires_grad=True) for a in start]
    train(straight, getattr(mg.optim, name)(straight, **kwargs), range(6))
    first = [mg.tensor(a.copy(), requires_grad=True) for a in start]
    opt = getattr(mg.optim, name)(first, **kwargs)
    train(first, opt, range(3))
    state = {k: np.array(v) for k, v in opt.state_dict().items()}
    if kwargs.get("amsgrad"):
        assert {"0.max_exp_avg_sq", "1.max_exp_avg_sq"} <= set(state)
    resumed = [mg.tensor(p.data.copy(), requires_grad=True) for p in first]
    opt = getattr(mg.optim, name)(resumed, **kwargs)
    opt.load_state_dict(state)
    train(resumed, opt, range(3, 6))
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_optimizer_state_dict_of_another_optimizer_is_refused():
    """Keys it would not write were ignored: the state silently started afresh."""
    w = mg.tensor(np.ones(2), requires_grad=True)
    adam = mg.optim.Adam([w])
    w.grad = np.ones(2)
    adam.step()
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: keys \['0.exp_avg'"):
        mg.optim.SGD([w], momentum=0.9).load_state_dict(adam.state_dict())
    with pytest.raises(ValueError, match=r"keys \['1.velocity'\] are not this optimizer's"):
        mg.optim.SGD([w], momentum=0.9).load_state_dict(
            {"step": 1, "0.velocity": np.ones(2), "1.velocity": np.ones(2)})
    with pytest.raises(ValueError, match="no 'step' in the state dict"):
        mg.optim.SGD([w]).load_state_dict({"0.velocity": np.ones(2)})
    with pytest.raises(TypeError, match="amsgrad must be True or False"):
        mg.optim.Adam([w], amsgrad="yes")


# ---- nn.LayerNorm and nn.Dropout modules (torch.nn's; minigrad had only the functions) -------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", [dict(normalized_shape=4), dict(normalized_shape=(3, 4)),
                                     dict(normalized_shape=4, bias=False, eps=0.1),
                                     dict(normalized_shape=[4], elementwise_affine=False)],
                         ids=str)
def test_layer_norm_module(options, dtype):
    ours = mg.nn.LayerNorm(**options, dtype=dtype)
    theirs = torch.nn.LayerNorm(**options, dtype=getattr(torch, np.dtype(dtype).name))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():  # weights away from their ones and zeros, the same in both
        for p in theirs.parameters():
            p.copy_(torch.tensor(normal(*p.shape, dtype=dtype)))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = normal(2, 3, 4, dtype=dtype)
    x[0, 0] = 1.5  # a constant row: variance 0, eps alone in the denominator
    run(ours, theirs, [x], ["transposed"])
    for name, p in theirs.named_parameters():
        assert_same(dict(ours.named_parameters())[name].grad, p.grad, f"{name}'s gradient")


def test_layer_norm_module_errors():
    with pytest.raises(ValueError, match=r"LayerNorm: normalized_shape must be one or more "
                                         r"integers >= 1, got \(3, 0\)"):
        mg.nn.LayerNorm((3, 0))
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(5,\) does not match"):
        mg.nn.LayerNorm(5)(mg.zeros(2, 4))


def test_dropout_module_train_and_eval():
    drop = mg.nn.Dropout(0.25, rng=3)
    x = mg.tensor(positive(40, 50), requires_grad=True)
    out = drop(x)
    kept = out.data != 0
    np.testing.assert_allclose(out.data[kept], x.data[kept] / 0.75, rtol=1e-15)
    assert 0.2 < 1 - kept.mean() < 0.3  # 2,000 draws of p = 0.25
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, kept / 0.75)
    drop.eval()
    assert drop(x) is x  # the identity, as torch's in eval mode
    assert mg.nn.Dropout(1.0).forward(x).numpy().max() == 0.0
    with pytest.raises(ValueError, match=r"Dropout: p must be a probability in \[0, 1\], got 1.5"):
        mg.nn.Dropout(1.5)


def test_dropout_module_compiled_draws_as_eager():
    """The module's own Generator: a compiled step draws the masks eager would (same seed)."""
    def make():
        lin, drop = mg.nn.Linear(4, 3, rng=0, dtype=np.float64), mg.nn.Dropout(0.5, rng=7)

        def step(x):
            lin.zero_grad()
            loss = (drop(lin(x)) ** 2).sum()
            loss.backward()
            return loss

        return lin, step

    (lin_e, eager), (lin_c, step) = make(), make()
    compiled = mg.compile(step)
    for i in range(3):
        x = mg.tensor(np.random.default_rng(i).standard_normal((6, 4)))
        np.testing.assert_allclose(compiled(x).item(), eager(x).item(), rtol=1e-12)
        np.testing.assert_allclose(lin_c.weight.grad, lin_e.weight.grad, rtol=1e-12)


def test_module_load_state_dict_keys_and_requires_grad_as_torch():
    ours = mg.nn.Linear(3, 2, dtype=np.float64)
    theirs = torch.nn.Linear(3, 2, dtype=torch.float64)
    partial = {"weight": np.zeros((2, 3)), "extra": np.ones(1)}
    result = ours.load_state_dict(partial, strict=False)
    result_t = theirs.load_state_dict({k: torch.tensor(v) for k, v in partial.items()},
                                      strict=False)
    assert (result.missing_keys, result.unexpected_keys) == (
        result_t.missing_keys, result_t.unexpected_keys) == (["bias"], ["extra"])
    assert tuple(ours.load_state_dict(ours.state_dict())) == ([], [])
    assert ours.requires_grad_(False) is ours  # frozen, as torch's
    assert not any(p.requires_grad for p in ours.parameters())
    assert not ours(mg.tensor(np.ones(3))).requires_grad
    ours.requires_grad_()
    assert all(p.requires_grad for p in ours.parameters())


# ---- learning-rate schedules: torch.optim.lr_scheduler's rates ---------------------------------

SCHEDULES = {
    "StepLR": dict(step_size=3, gamma=0.5), "MultiStepLR": dict(milestones=[4, 2, 7], gamma=0.3),
    "ExponentialLR": dict(gamma=0.9), "LinearLR": dict(start_factor=0.25, total_iters=4),
    "CosineAnnealingLR": dict(T_max=5, eta_min=0.01),
    "LambdaLR": dict(lr_lambda=lambda epoch: 1.0 / (1 + epoch) ** 0.5),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_lr_schedulers_follow_torch(name):
    """Twelve epochs of the rate, and the weights of an SGD stepped at each (past CosineAnnealing's
    T_max, where it climbs back); a schedule resumed from its state dict goes on the same."""
    w, w_t = mg.tensor(np.ones(3), requires_grad=True), torch.ones(3, dtype=torch.float64,
                                                                   requires_grad=True)
    opt, opt_t = mg.optim.SGD([w], lr=0.2, momentum=0.5), torch.optim.SGD([w_t], lr=0.2,
                                                                          momentum=0.5)
    sched = getattr(mg.optim.lr_scheduler, name)(opt, **SCHEDULES[name])
    sched_t = getattr(torch.optim.lr_scheduler, name)(opt_t, **SCHEDULES[name])
    for epoch in range(12):
        np.testing.assert_allclose(sched.get_last_lr(), sched_t.get_last_lr(), rtol=1e-12,
                                   atol=1e-15, err_msg=f"epoch {epoch}")
        w.grad, w_t.grad = np.full(3, 1.0 + epoch), torch.full((3,), 1.0 + epoch,
                                                                dtype=torch.float64)
        opt.step()
        opt_t.step()
        sched.step()
        sched_t.step()
        if epoch == 5:  # a new scheduler on the same optimizer, resumed from the state dict
            state = sched.state_dict()
            sched = getattr(mg.optim.lr_scheduler, name)(opt, **SCHEDULES[name])
            sched.load_state_dict(state)
    np.testing.assert_allclose(w.data, w_t.detach().numpy(), rtol=1e-12)


def test_reduce_lr_on_plateau_follows_torch():
    for options in (dict(patience=1, factor=0.5, cooldown=1),
                    dict(mode="max", patience=0, threshold=0.1, threshold_mode="abs",
                         min_lr=0.03)):
        w, w_t = mg.tensor(np.ones(2), requires_grad=True), torch.ones(2, requires_grad=True)
        opt, opt_t = mg.optim.SGD([w], lr=0.1), torch.optim.SGD([w_t], lr=0.1)
        sched = mg.optim.lr_scheduler.ReduceLROnPlateau(opt, **options)
        sched_t = torch.optim.lr_scheduler.ReduceLROnPlateau(opt_t, **options)
        for metric in [5.0, 4.0, 4.0, 4.0, 3.99999, 3.0, 3.05, 3.2, 3.2, 3.2, 2.0, 2.0, 2.0]:
            sched.step(metric)
            sched_t.step(metric)
            np.testing.assert_allclose(sched.get_last_lr(), sched_t.get_last_lr(), rtol=1e-12)


def test_lr_scheduler_under_compile_and_errors():
    """A compiled step reads the rate the schedule set between calls (the update runs as Python):
    the weights of the eager run."""
    def make():
        w = mg.tensor(np.linspace(-1.0, 1.0, 6).reshape(3, 2), requires_grad=True)
        opt = mg.optim.Adam([w], lr=0.1)
        sched = mg.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)

        def step(x):
            opt.zero_grad()
            loss = ((x @ w) ** 2).sum()
            loss.backward()
            opt.step()
            return loss

        return w, sched, step

    (w_e, sched_e, eager), (w_c, sched_c, step) = make(), make()
    compiled = mg.compile(step)
    for i in range(4):
        x = mg.tensor(np.random.default_rng(i).standard_normal((4, 3)))
        eager(x)
        compiled(x)
        sched_e.step()
        sched_c.step()
    np.testing.assert_allclose(w_c.data, w_e.data, rtol=1e-12)
    opt = mg.optim.SGD([w_e], lr=0.1)
    with pytest.raises(ValueError, match="StepLR: step_size must be an integer >= 1, got 0"):
        mg.optim.lr_scheduler.StepLR(opt, 0)
    with pytest.raises(ValueError, match="ReduceLROnPlateau: factor must be < 1"):
        mg.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)
