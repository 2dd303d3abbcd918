"""The torch sweep's second half (tests/ops/test_torch_parity_sweep.py has the harness and the
ops): every loss's options, the fmod/remainder slopes, the optimizers and clipping, attention,
the Linear and Embedding modules, and the subgradients at kinks, ties and infinities; each
against torch with the same inputs (values, dtypes, shapes and the gradient of <out, u>)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import minigrad as mg  # noqa: E402
from minigrad import functional as MF  # noqa: E402

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


# ---- losses: every reduction and option ------------------------------------------------------

REDUCTION = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTION)
@pytest.mark.parametrize("name,t_fn", [("mse_loss", F.mse_loss), ("l1_loss", F.l1_loss),
                                       ("huber_loss", F.huber_loss)])
@pytest.mark.parametrize("layout", ["plain", "transposed"])
def test_regression_losses(name, t_fn, reduction, layout):
    p, y = normal(3, 4), normal(3, 4)
    y[0, 0] = p[0, 0]  # a zero residual: l1's and huber's slope there is torch's 0
    run(lambda a, b: getattr(mg, name)(a, b, reduction=reduction),
        lambda a, b: t_fn(a, b, reduction=reduction), [p, y], [layout, "plain"])


@pytest.mark.parametrize("reduction", REDUCTION)
def test_binary_cross_entropies(reduction):
    p, y = RNG.uniform(0.05, 0.95, (3, 4)), RNG.uniform(0, 1, (3, 4))
    run(lambda a, b: mg.binary_cross_entropy(a, b, reduction=reduction),
        lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), [p, y])
    logits, w = normal(3, 4), positive(4)
    run(lambda a, b: mg.binary_cross_entropy_with_logits(a, b, reduction, pos_weight=w),
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction,
                                                        pos_weight=torch.tensor(w)), [logits, y])


@pytest.mark.parametrize("reduction", REDUCTION)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy_options(reduction, smoothing, weighted, ignore):
    logits = normal(5, 4)
    targets = idx(0, 3, 2, 3, 1)
    if ignore:
        targets[2] = -100
    weight = positive(4) if weighted else None
    kwargs = dict(reduction=reduction, label_smoothing=smoothing)

    w_t = None if weight is None else torch.tensor(weight)

    def ours(x):
        return mg.cross_entropy(x, targets, weight=weight, **kwargs)

    def theirs(x):
        return F.cross_entropy(x, torch.tensor(targets), weight=w_t, **kwargs)

    run(ours, theirs, [logits], ["transposed"])
    if smoothing == 0.0:
        run(lambda x: mg.nll_loss(mg.log_softmax(x), targets, weight=weight, reduction=reduction),
            lambda x: F.nll_loss(F.log_softmax(x, -1), torch.tensor(targets), weight=w_t,
                                 reduction=reduction), [logits])


def test_cross_entropy_classes_on_the_last_axis():
    """Documented difference: classes on the last axis (torch: axis 1); axis=1 gives torch's."""
    logits = normal(2, 3, 4)  # (N, T, C) for us; torch gets (N, C, T)
    targets = RNG.integers(0, 4, (2, 3))
    run(lambda x: mg.cross_entropy(x, targets, reduction="none"),
        lambda x: F.cross_entropy(x.permute(0, 2, 1), torch.tensor(targets), reduction="none"),
        [logits])
    run(lambda x: mg.cross_entropy(x, targets.T.copy(), axis=1, reduction="sum"),
        lambda x: F.cross_entropy(x, torch.tensor(targets.T.copy()), reduction="sum"),
        [normal(3, 4, 2)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["fmod", "remainder"])
def test_fmod_and_remainder_slopes_in_the_divisor_are_whole_numbers(name, dtype):
    """-trunc(a / b) (fmod) and -floor(a / b) (remainder) exactly: the rule's (a - y) / b is a
    whole number rounded (float32 fmod(0.9, 0.234886): -2.9999998, torch -3)."""
    a = np.float32(0.9).astype(dtype)
    b = np.concatenate([RNG.uniform(0.01, 1, 4000), -RNG.uniform(0.01, 1, 1000)]).astype(dtype)
    x = mg.tensor(b, requires_grad=True)
    getattr(mg, name)(mg.tensor(a), x).sum().backward()
    quotient = np.float64(a) / b.astype(np.float64)
    exact = -(np.trunc(quotient) if name == "fmod" else np.floor(quotient))
    np.testing.assert_array_equal(x.grad, exact.astype(dtype))


# ---- optimizers, clipping, attention, modules -------------------------------------------------

OPTIMIZERS = [
    ("SGD", dict(lr=0.05)), ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.5)),
    ("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01)), ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=0.05, eps=1e-6)),
    # session 12: maximize, amsgrad, AdamW, Adagrad
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01)), ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.9), maximize=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, maximize=True)),
    ("Adagrad", dict(lr=0.05)),
    ("Adagrad", dict(lr=0.05, lr_decay=0.1, weight_decay=0.05, initial_accumulator_value=0.3,
                     eps=1e-6, maximize=True)),
]


@pytest.mark.parametrize("foreach", [None, False])
@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_optimizer_steps(name, kwargs, dtype, foreach):
    """Five steps on a quadratic with a transposed and a 0-d parameter: the same weights."""
    if foreach is False and name == "RMSprop":
        pytest.skip("RMSprop has no foreach option")
    extra = {} if foreach is None else {"foreach": foreach}
    start = [normal(3, 4, dtype=dtype), normal(dtype=dtype)]
    ours = [mg.tensor(a.copy(), requires_grad=True) for a in start]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    opt = getattr(mg.optim, name)(ours, **kwargs, **extra)
    opt_t = getattr(torch.optim, name)(theirs, **kwargs)
    target = normal(4, 3, dtype=dtype)
    for _ in range(5):
        opt.zero_grad()
        loss = ((mg.transpose(ours[0]) * ours[1] - target) ** 2).sum()
        loss.backward()
        opt.step()
        opt_t.zero_grad()
        loss_t = ((theirs[0].T * theirs[1] - torch.tensor(target)) ** 2).sum()
        loss_t.backward()
        opt_t.step()
    for o, t in zip(ours, theirs):
        # a step that diverged would compare inf with inf (and atol inf below): not a test
        assert np.isfinite(t.detach().numpy()).all(), f"torch's {name} {kwargs} diverged"
        if dtype == np.float32:  # five steps' rounding is relative to the weights' scale: an
            # element near 0 that cancels (w - lr g) keeps the error of the largest ones
            o, t = o.data, t.detach().numpy()
            assert o.dtype == t.dtype and o.shape == t.shape
            np.testing.assert_allclose(o, t, rtol=2e-5, atol=2e-5 * max(np.abs(t).max(), 1.0),
                                       err_msg=f"{name} {kwargs}")
        else:
            assert_same(o, t, f"{name} {kwargs}")


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 3.0])
def test_clip_grad_norm(norm_type):
    ours = [mg.tensor(normal(3, 4), requires_grad=True), mg.tensor(normal(5), requires_grad=True)]
    theirs = [torch.tensor(o.data.copy(), requires_grad=True) for o in ours]
    ((ours[0] * ours[0] * 3.0).sum() + (ours[1] * ours[1] * 3.0).sum()).backward()
    sum((t * t * 3.0).sum() for t in theirs).backward()
    total = mg.optim.clip_grad_norm_(ours, 1.5, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, 1.5, norm_type)
    np.testing.assert_allclose(float(np.asarray(getattr(total, "data", total))), float(total_t),
                               rtol=1e-12)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=1e-12)
    mg.optim.clip_grad_value_(ours, 0.1)
    torch.nn.utils.clip_grad_value_(theirs, 0.1)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=1e-12)
        assert np.abs(o.grad).max() <= 0.1


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("layout", ["plain", "transposed"])
def test_scaled_dot_product_attention(causal, masked, layout):
    q, k, v = normal(2, 3, 4), normal(2, 5, 4), normal(2, 5, 4)
    mask = RNG.random((3, 5)) > 0.3
    mask[:, 0] = True
    if causal and masked:
        pytest.skip("torch refuses a mask with is_causal")
    m = mask if masked else None
    run(lambda a, b, c: MF.scaled_dot_product_attention(a, b, c, attn_mask=m, is_causal=causal),
        lambda a, b, c: F.scaled_dot_product_attention(
            a, b, c, attn_mask=None if m is None else torch.tensor(m), is_causal=causal),
        [q, k, v], [layout, "plain", layout])


def test_linear_and_embedding_modules():
    lin = mg.nn.Linear(4, 3, dtype=np.float64)
    ref = torch.nn.Linear(4, 3, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(lin.weight.data))
        ref.bias.copy_(torch.tensor(lin.bias.data))
    x = normal(2, 5, 4)
    xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    u = normal(2, 5, 3)
    (lin(xm) * mg.tensor(u)).sum().backward()
    (ref(xt) * torch.tensor(u)).sum().backward()
    assert_same(xm.grad, xt.grad, "input gradient")
    assert_same(lin.weight.grad, ref.weight.grad, "weight gradient")
    assert_same(lin.bias.grad, ref.bias.grad, "bias gradient")
    emb = mg.nn.Embedding(6, 3, dtype=np.float64)
    ref_e = torch.nn.Embedding(6, 3, dtype=torch.float64)
    with torch.no_grad():
        ref_e.weight.copy_(torch.tensor(emb.weight.data))
    index = idx(0, 5, 5, 2)
    u = normal(4, 3)
    (emb(index) * mg.tensor(u)).sum().backward()
    (ref_e(torch.tensor(index)) * torch.tensor(u)).sum().backward()
    assert_same(emb.weight.grad, ref_e.weight.grad, "embedding gradient (repeated index)")


# ---- subgradients at kinks, ties and infinities: torch's choice --------------------------------

KINKS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 6.0, np.inf, -np.inf])
KINK_CASES = {
    "clip": (lambda a: mg.clip(a, -0.5, 0.5), lambda a: torch.clamp(a, -0.5, 0.5)),
    "clip_lo": (lambda a: mg.clip(a, 0.0, None), lambda a: torch.clamp(a, min=0.0)),
    "relu": (mg.relu, torch.relu), "abs": (mg.abs, torch.abs), "sign": (mg.sign, torch.sign),
    "hardtanh": (mg.hardtanh, F.hardtanh), "relu6": (mg.relu6, F.relu6),
    "leaky_relu": (mg.leaky_relu, F.leaky_relu), "elu": (mg.elu, F.elu),
    "maximum_0": (lambda a: mg.maximum(a, 0.0),
                  lambda a: torch.maximum(a, torch.zeros((), dtype=a.dtype))),
    "minimum_1": (lambda a: mg.minimum(a, 1.0),
                  lambda a: torch.minimum(a, torch.ones((), dtype=a.dtype))),
    "where": (lambda a: mg.where(a.data > 0, a * 2.0, a * 3.0),
              lambda a: torch.where(a > 0, a * 2.0, a * 3.0)),
    "sqrt_abs": (lambda a: mg.sqrt(mg.abs(a)), lambda a: torch.sqrt(torch.abs(a))),
    "softmax": (mg.softmax, lambda a: torch.softmax(a, -1)),
    "norm_at_0": (lambda a: mg.norm(a * 0.0), lambda a: torch.linalg.vector_norm(a * 0.0)),
    "max_ties": (lambda a: mg.max(mg.maximum(a, 0.5)),
                 lambda a: torch.amax(torch.maximum(a, torch.tensor(0.5, dtype=a.dtype)))),
    "pow_half": (lambda a: mg.abs(a) ** 0.5, lambda a: torch.abs(a) ** 0.5),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(KINK_CASES))
def test_subgradients_at_kinks_ties_and_infinities(name, dtype):
    ours, theirs = KINK_CASES[name]
    x = KINKS.astype(dtype)
    if name in ("softmax", "norm_at_0", "max_ties"):
        x = x[np.isfinite(x)]
    run(ours, theirs, [x])


NORM_VALUES = {"zeros": [0.0, 0.0, 0.0], "a_zero": [0.0, 3.0, -4.0], "ties": [3.0, -3.0, 1.0],
               "inf": [np.inf, 1.0, -2.0], "nan": [np.nan, 1.0, 2.0]}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ord_", [2, 1, np.inf, -np.inf, 0, 3.0, 0.5, 1.5])
@pytest.mark.parametrize("values", sorted(NORM_VALUES))
def test_norm_orders_at_zeros_ties_and_infinities(values, ord_, dtype):
    """ord 0 had no graph (backward() raised; NaN was not counted), a p-norm's slope was NaN
    where an element or the whole norm is 0 (torch: 0)."""
    x = np.array(NORM_VALUES[values], dtype)
    run(lambda a: mg.norm(a, ord=ord_), lambda a: torch.linalg.vector_norm(a, ord=ord_), [x])


@pytest.mark.parametrize("ord_", [3.0, 0.5, 1.5])
def test_p_norm_gradcheck_and_axes(ord_):
    a = mg.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    assert mg.gradcheck(lambda x: mg.norm(x, ord=ord_, axis=-1), [a])
    run(lambda x: mg.norm(x, ord=ord_, axis=0, keepdims=True),
        lambda x: torch.linalg.vector_norm(x, ord=ord_, dim=0, keepdim=True),
        [normal(3, 4)], ["transposed"])
