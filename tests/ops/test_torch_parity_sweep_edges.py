"""Session 12's audit of the engine's edges against torch (the sweep's harness, per-case seeds):
losses with nothing counted, element weights and target slopes of the binary cross-entropies,
empty and integer-target mse, integer division by zero, clipping a single tensor and the -inf
norm, optimizers given what torch refuses, zero_grad(set_to_none=False), float()/int() of a
tensor, dropout of integers."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import minigrad as mg  # noqa: E402

from .test_torch_parity_sweep import (  # noqa: E402
    RNG,
    assert_same,
    idx,
    normal,
    positive,
    run,
    seeded_inputs,  # noqa: F401 (autouse: per-case inputs)
)

F = torch.nn.functional


# ---- losses over nothing counted: NaN, and a zero gradient (it was NaN everywhere) ------------

@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_mean_of_no_counted_targets(name, smoothing, weighted):
    if name == "nll_loss" and smoothing:
        pytest.skip("nll_loss has no label smoothing")
    targets = idx(-100, -100, -100)
    weight = positive(4) if weighted else None
    w_t = None if weight is None else torch.tensor(weight)
    extra = {"label_smoothing": smoothing} if name == "cross_entropy" else {}
    with np.errstate(invalid="ignore"):
        run(lambda x: getattr(mg, name)(x, targets, weight=weight, **extra),
            lambda x: getattr(F, name)(x, torch.tensor(targets), weight=w_t, **extra),
            [normal(3, 4)])


# ---- binary cross-entropies: torch's weight=, and the slope in the target ----------------------

@pytest.mark.parametrize("weight_shape", [(3, 4), (4,), (1, 4)], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_weight(reduction, weight_shape):
    p, y, w = RNG.uniform(0.05, 0.95, (3, 4)), RNG.uniform(0, 1, (3, 4)), positive(*weight_shape)
    run(lambda a, b: mg.binary_cross_entropy(a, b, reduction, weight=w),
        lambda a, b: F.binary_cross_entropy(a, b, torch.tensor(w), reduction=reduction), [p, y])
    pos = positive(4)
    run(lambda a, b: mg.binary_cross_entropy_with_logits(a, b, reduction, pos_weight=pos,
                                                         weight=w),
        lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, torch.tensor(w), reduction=reduction, pos_weight=torch.tensor(pos)),
        [normal(3, 4), y])


def test_binary_cross_entropy_weight_must_broadcast_to_the_input():
    p = mg.tensor(np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: weight of shape \(4,\) does "
                                         r"not broadcast to the input's shape \(2, 3\)"):
        mg.binary_cross_entropy(p, np.ones((2, 3)), weight=np.ones(4))
    with pytest.raises(ValueError, match="reduction must be .*weight= goes by keyword"):
        mg.binary_cross_entropy(p, np.ones((2, 3)), np.ones(3))  # torch's positional weight


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_cross_entropy_slopes_at_0_and_1(dtype, reduction):
    """The target's slope is torch's -logit(p): +-inf at p = 0 and 1 (the clamped logs gave
    +-100 there; it does not depend on the target)."""
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 0.25], dtype)
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.3, 1.0], dtype)
    run(lambda a, b: mg.binary_cross_entropy(a, b, reduction),
        lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), [p, y])


# ---- mse: no elements, integer targets ---------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mse_of_no_elements_and_integer_targets(dtype, reduction):
    """The mean over no elements is NaN (it was refused: 'empty prediction'); an integer target
    is cast to the prediction's dtype (the mean refused it, 'sum' and 'none' took it)."""
    targets = RNG.integers(-3, 3, (3, 4))
    run(lambda a: mg.mse_loss(a, targets, reduction),
        lambda a: F.mse_loss(a, torch.tensor(targets), reduction=reduction),
        [normal(3, 4, dtype=dtype)])
    with np.errstate(invalid="ignore"):
        run(lambda a: mg.mse_loss(a, np.zeros(0, dtype), reduction),
            lambda a: F.mse_loss(a, torch.zeros(0, dtype=a.dtype), reduction=reduction),
            [np.zeros(0, dtype)])


# ---- integer division by zero: torch's refusal (numpy's 0 with a warning was silent) -----------

INTEGER_DIVISIONS = {
    "floor_divide": (mg.floor_divide, torch.floor_divide), "fmod": (mg.fmod, torch.fmod),
    "remainder": (mg.remainder, torch.remainder),
    "//": (lambda a, b: a // b, lambda a, b: a // b), "%": (lambda a, b: a % b,
                                                            lambda a, b: a % b),
}


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
@pytest.mark.parametrize("name", sorted(INTEGER_DIVISIONS))
def test_integer_division_by_zero_raises(name, dtype):
    ours, theirs = INTEGER_DIVISIONS[name]
    signed = np.dtype(dtype).kind == "i"
    a = np.array([7, -7, 3, -3, 0] if signed else [7, 9, 3, 1, 0], dtype)
    b = np.array([2, 2, -2, -2, 5] if signed else [2, 2, 4, 5, 5], dtype)
    run(ours, theirs, [a, b])  # values where no divisor is 0: torch's
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        theirs(torch.tensor(a), torch.tensor(np.zeros_like(b)))
    for divisor in (mg.tensor(np.where(np.arange(5) == 3, 0, b).astype(dtype)), 0):
        with pytest.raises(ZeroDivisionError, match="integer division by zero"):
            ours(mg.tensor(a), divisor)
    with pytest.raises(ZeroDivisionError):
        ours(5, mg.tensor(np.zeros(3, dtype)))
    # an empty operand divides nothing
    assert ours(mg.tensor(a[:0]), mg.tensor(np.zeros(1, dtype))).shape == (0,)


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


# ---- conversions and dropout ---------------------------------------------------------------

@pytest.mark.parametrize("value", [-2.7, 3.5, 0.0, -0.0, np.inf, 7], ids=repr)
def test_float_and_int_of_a_tensor(value):
    for shape in ((), (1,), (1, 1)):
        ours, theirs = mg.tensor(np.full(shape, value)), torch.tensor(np.full(shape, value))
        assert float(ours) == float(theirs)
        assert math.copysign(1.0, float(ours)) == math.copysign(1.0, float(theirs))
        if np.isfinite(value):
            assert int(ours) == int(theirs)
        else:
            with pytest.raises(OverflowError):
                int(ours)
    with pytest.raises(ValueError, match=r"item\(\) needs a tensor of one element"):
        float(mg.tensor(np.ones(2)))


def test_dropout_refuses_integers():
    """1 / (1 - p) was truncated into the integers (p = 0.3 kept each element as itself)."""
    x = mg.tensor(np.arange(6))
    with pytest.raises(TypeError, match="dropout: input must be floating point, got dtype int64"):
        mg.dropout(x, 0.3, np.random.default_rng(0))
    assert mg.dropout(x, 0.3, training=False) is x


# ---- maximize, amsgrad, AdamW: compiled == eager, the clip folded into the step, state dicts ---

OPTIONS = [("SGD", dict(lr=0.05, momentum=0.9, maximize=True)),
           ("Adam", dict(lr=0.05, amsgrad=True)), ("Adam", dict(lr=0.05, maximize=True)),
           ("AdamW", dict(lr=0.05, weight_decay=0.2)),
           ("AdamW", dict(lr=0.05, amsgrad=True, maximize=True)),
           ("RMSprop", dict(lr=0.05, maximize=True))]


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


# ---- grad modes: decorators with or without parentheses, set_grad_enabled ----------------------

def test_grad_modes_as_torch():
    """`@mg.no_grad` without parentheses raised a TypeError at the decoration (torch takes it);
    set_grad_enabled was missing."""
    x, xt = mg.tensor(np.ones(2), requires_grad=True), torch.ones(2, requires_grad=True)

    @mg.no_grad
    def bare(a):
        return a * 2.0

    @torch.no_grad
    def bare_t(a):
        return a * 2.0

    @mg.no_grad()
    def called(a):
        return a * 2.0

    assert bare(x).requires_grad is bare_t(xt).requires_grad is called(x).requires_grad is False
    assert bare.__name__ == "bare"
    with mg.no_grad():
        assert mg.enable_grad(lambda a: a * 2.0)(x).requires_grad
        assert not (x * 2.0).requires_grad
    for mode in (False, True):
        with mg.set_grad_enabled(mode), torch.set_grad_enabled(mode):
            assert (x * 2.0).requires_grad is (xt * 2.0).requires_grad is mode
        assert mg.is_grad_enabled() and torch.is_grad_enabled()
    mg.set_grad_enabled(False)
    try:
        assert not mg.is_grad_enabled() and not (x * 2.0).requires_grad
    finally:
        mg.set_grad_enabled(True)
    with pytest.raises(TypeError, match="set_grad_enabled: mode must be True or False"):
        mg.set_grad_enabled("no")
    with pytest.raises(TypeError, match="no_grad: decorates a function"):
        mg.no_grad(3)


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
