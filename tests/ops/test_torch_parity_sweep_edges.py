"""Session 12's audit of the engine's edges against torch (the sweep's harness, per-case seeds):
losses with nothing counted, element weights and target slopes of the binary cross-entropies,
empty and integer-target mse, integer division by zero, float()/int() of a tensor, dropout of
integers, the grad modes as decorators (tests/ops/test_torch_parity_sweep_edges_nn.py: clipping,
optimizers, modules and schedules)."""

from __future__ import annotations

import math
import warnings

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


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_tensor_of_a_list_of_tensors(dtype):
    """torch.tensor([t0, t1]) of one-element tensors keeps their dtype (it was refused as an
    object array)."""
    values = np.array([1.5, -2.0, 3.0]).astype(dtype)
    ours = mg.tensor([mg.tensor(v) for v in values])
    theirs = torch.tensor([torch.tensor(v) for v in values])
    assert_same(ours, theirs, "a list of 0-d tensors")
    nested = mg.tensor([[mg.tensor(values[0]), values[1]], [values[2], values[0]]])
    assert nested.shape == (2, 2) and nested.dtype == np.dtype(dtype)


@pytest.mark.parametrize("correction", [0, 1, 4])
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_and_std_past_their_degrees_of_freedom(name, correction):
    """At the degrees of freedom (4 elements, correction 4) var's slope is torch's
    2 g (x - mean) / 0: +-inf, NaN at the mean (it was NaN everywhere: the mean's path added
    inf - inf); below them the same values as before. Past them (correction 5) the value divides
    by max(0, n - correction) as torch's, and so does the slope here (torch's slope divides by
    -1: finite, the derivative of no value it computed)."""
    x = normal(3, 4)
    x[1] = 2.5  # a constant row: NaN values and slopes in both
    x[2, 0] = x[2, 1:].mean()  # one element at its row's mean
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run(lambda a: getattr(mg, name)(a, axis=-1, correction=correction),
            lambda a: getattr(torch, name)(a, dim=-1, correction=correction), [x])
        if correction == 4:
            grads = []
            for c in (4, 5):
                leaf = mg.tensor(x, requires_grad=True)
                out = getattr(mg, name)(leaf, axis=-1, correction=c)
                assert_same(out, getattr(torch, name)(torch.tensor(x), dim=-1, correction=c),
                            f"{name} past the degrees of freedom")
                out.sum().backward()
                grads.append(leaf.grad)
            np.testing.assert_array_equal(grads[0], grads[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("beta,threshold", [(-2.0, 20.0), (-0.5, 1.0), (3.0, 2.0)])
def test_softplus_with_a_negative_beta(beta, threshold, dtype):
    """torch takes beta < 0 (log(1 + exp(beta x)) / beta, x past the threshold); it was refused."""
    x = np.array([-30.0, -3.0, -0.5, 0.0, 0.4, 2.0, 25.0, np.inf, -np.inf], dtype)
    run(lambda a: mg.softplus(a, beta, threshold),
        lambda a: F.softplus(a, beta=beta, threshold=threshold), [x])


def test_tensor_of_python_objects_says_what_they_may_be():
    """mg.tensor(2 ** 70) said only 'unsupported dtype object' (torch: an overflow)."""
    for data in (2 ** 70, [1.0, None]):
        with pytest.raises(TypeError, match=r"tensor: unsupported dtype object \(Python objects: "
                                            r"an integer beyond 64 bits"):
            mg.tensor(data)
    with pytest.raises((RuntimeError, ValueError), match="Overflow"):
        torch.tensor(2 ** 70)


@pytest.mark.parametrize("axis", [0, -1])
def test_index_select_with_a_0d_index(axis):
    """torch keeps the axis with size 1 (it was refused: 'index must be 1-d')."""
    run(lambda a: mg.index_select(a, axis, np.array(2)),
        lambda a: torch.index_select(a, axis, torch.tensor(2)), [normal(3, 4)])
