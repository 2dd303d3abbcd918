"""The ops of issue 20: forward and gradient against torch, float64 gradchecks with a random
upstream gradient, the integer and edge semantics (NaN, empty, 0-d) and the clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8]


# ---- bitwise ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", INTS)
def test_bitwise_ops_match_torch(torch, dtype):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, (4, 5), endpoint=True, dtype=dtype)
    b = rng.integers(info.min, info.max, (5,), endpoint=True, dtype=dtype)
    bits = np.iinfo(dtype).bits
    shift = rng.integers(0, bits + 3, (5,)).astype(dtype)  # past the width too
    ta, tb, ts = torch.tensor(a), torch.tensor(b), torch.tensor(shift)
    x, y, s = mg.tensor(a), mg.tensor(b), mg.tensor(shift)
    cases = [(x & y, ta & tb), (x | y, ta | tb), (x ^ y, ta ^ tb), (~x, ~ta),
             (x << s, ta << ts), (x >> s, ta >> ts), (x & 5, ta & 5), (3 | y, 3 | tb),
             (mg.bitwise_left_shift(x, 2), torch.bitwise_left_shift(ta, 2)),
             (x.bitwise_right_shift(1), ta.bitwise_right_shift(1))]
    for ours, theirs in cases:
        assert ours.dtype == dtype
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_bitwise_on_bools_is_logical_and_floats_are_refused(torch):
    p, q = np.array([True, True, False, False]), np.array([True, False, True, False])
    for ours, op in [(mg.tensor(p) & mg.tensor(q), np.logical_and),
                     (mg.tensor(p) | mg.tensor(q), np.logical_or),
                     (mg.tensor(p) ^ mg.tensor(q), np.logical_xor)]:
        assert ours.dtype == np.bool_
        np.testing.assert_array_equal(ours.numpy(), op(p, q))
    np.testing.assert_array_equal((~mg.tensor(p)).numpy(), ~p)
    with pytest.raises(TypeError, match=r"bitwise_and \(&\): needs integer or bool.*float32"):
        mg.tensor([1.0]) & mg.tensor([1.0])
    with pytest.raises(TypeError, match=r"bitwise_not \(~\).*float64"):
        ~mg.tensor(np.float64([1.0]))
    with pytest.raises(TypeError, match=r"bitwise_left_shift \(<<\): needs integer.*bool"):
        mg.tensor([True]) << mg.tensor([True])
    with pytest.raises(TypeError, match="float64"):
        mg.tensor(np.int32([1])) | 0.5  # the float scalar promotes to float64: refused
    # an int tensor with a bool tensor promotes to the int, as torch
    out = mg.tensor(np.int16([6, 7])) & mg.tensor([True, False])
    assert out.dtype == np.int16 and out.tolist() == [0, 0]


# ---- div(rounding_mode) and copysign -------------------------------------------------------------


SPECIAL = np.array([5.0, -5.0, 5.0, -5.0, np.inf, 1.0, 0.0, -0.0, 7.0, -7.5, 7.5, 1e300])
DIVISOR = np.array([np.inf, np.inf, 0.0, 0.0, 2.0, np.nan, 0.0, 3.0, -0.0, 2.0, -2.0, 1e-300])


@pytest.mark.parametrize("mode", [None, "trunc", "floor"])
def test_div_rounding_mode_matches_torch_on_floats(torch, mode):
    with np.errstate(all="ignore"):
        ours = mg.div(mg.tensor(SPECIAL), mg.tensor(DIVISOR), rounding_mode=mode).numpy()
    theirs = torch.div(torch.tensor(SPECIAL), torch.tensor(DIVISOR), rounding_mode=mode).numpy()
    np.testing.assert_array_equal(ours, theirs)
    signed = ~np.isnan(theirs)  # -0.0 against 0.0 (a NaN's sign bit means nothing)
    np.testing.assert_array_equal(np.signbit(ours[signed]), np.signbit(theirs[signed]))


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_div_rounding_mode_keeps_integers(torch, dtype, mode):
    rng = np.random.default_rng(1)
    a = rng.integers(-50 if dtype != np.uint8 else 0, 50, (20,)).astype(dtype)
    b = rng.integers(1, 9, (20,)).astype(dtype)
    if dtype != np.uint8:
        b = b * np.where(rng.random(20) < 0.5, -1, 1).astype(dtype)
    ours = mg.tensor(a).div(mg.tensor(b), rounding_mode=mode)
    theirs = torch.div(torch.tensor(a), torch.tensor(b), rounding_mode=mode)
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(ZeroDivisionError, match="integer division by zero"):
        mg.div(mg.tensor(a), 0, rounding_mode=mode)


def test_div_gradients():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,)) + 3.0
    assert mg.gradcheck(lambda x, y: mg.div(x, y), [a, b])
    x = mg.tensor(a, requires_grad=True)
    mg.div(x, 2.0, rounding_mode="floor").sum().backward()
    np.testing.assert_array_equal(x.grad, 0.0)  # torch's: a rounded quotient has no slope
    with pytest.raises(ValueError, match="rounding_mode must be None, 'trunc' or 'floor'"):
        mg.div(x, 2.0, rounding_mode="round")


def test_copysign_matches_torch(compare_with_torch, torch):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4))
    a[0, 0] = 0.0
    b = rng.standard_normal((4,))
    b[1] = -0.0
    for dtype in (np.float32, np.float64):
        compare_with_torch(mg.copysign, torch.copysign, [a, b], dtype=dtype)
    signed = mg.copysign(mg.tensor([1.0, 2.0]), mg.tensor([-0.0, 0.0]))
    np.testing.assert_array_equal(signed.numpy(), [-1.0, 2.0])
    ints = mg.copysign(mg.tensor(np.int32([3, -4])), -1)
    assert ints.dtype == np.float64 and ints.tolist() == [-3.0, -4.0]  # numpy's floats for ints
    assert mg.gradcheck(lambda x: x.copysign(mg.tensor(np.sign(b) + 0.0)), [a])


# ---- scans --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_cummin_match_torch(torch, name):
    x = np.array([[1.0, 3.0, 3.0, 2.0, np.nan, 5.0, np.nan, 0.0],
                  [2.0, 2.0, 1.0, 1.0, 4.0, -np.inf, np.inf, 4.0]])
    for axis in (0, 1, -1):
        values, indices = getattr(mg, name)(mg.tensor(x), axis)
        expected = getattr(torch, name)(torch.tensor(x), axis)
        np.testing.assert_array_equal(values.numpy(), expected.values.numpy())
        np.testing.assert_array_equal(indices.numpy(), expected.indices.numpy())
        assert indices.dtype == np.int64
    ints = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.int16)
    values, indices = getattr(mg.tensor(ints), name)(0)
    expected = getattr(torch.tensor(ints), name)(0)
    assert values.dtype == np.int16
    np.testing.assert_array_equal(values.numpy(), expected.values.numpy())
    np.testing.assert_array_equal(indices.numpy(), expected.indices.numpy())


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_cummin_gradients(compare_with_torch, torch, name):
    rng = np.random.default_rng(4)
    x = np.round(rng.standard_normal((3, 6)) * 2) / 2  # ties: the gradient goes to the index
    compare_with_torch(lambda t: getattr(mg, name)(t, 1)[0],
                       lambda t: getattr(torch, name)(t, 1).values, [x], dtype=np.float64)
    assert mg.gradcheck(lambda t: getattr(t, name)(0)[0], [rng.standard_normal((4, 3))])


def test_cummax_edges():
    v, i = mg.cummax(mg.tensor(2.5), 0)  # 0-d: itself, index 0
    assert v.shape == () and i.shape == () and float(v.numpy()) == 2.5 and int(i.numpy()) == 0
    v, i = mg.cummax(mg.zeros(0, 3), 0)
    assert v.shape == (0, 3) and i.shape == (0, 3)
    with pytest.raises(TypeError, match="axis is required"):
        mg.cummax(mg.zeros(3), None)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        mg.cummin(mg.zeros(3, 3), 2)


def test_logcumsumexp_matches_torch(compare_with_torch, torch):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7)) * 3
    for dtype in (np.float32, np.float64):
        for axis in (0, 1):
            compare_with_torch(lambda t, a=axis: mg.logcumsumexp(t, a),
                               lambda t, a=axis: torch.logcumsumexp(t, a), [x], dtype=dtype,
                               rtol=1e-5 if dtype == np.float32 else None)
    edges = np.array([-1000.0, 0.0, -np.inf, 1.0, np.inf, 2.0, np.nan, 1.0])
    np.testing.assert_array_equal(mg.logcumsumexp(mg.tensor(edges), 0).numpy(),
                                  torch.logcumsumexp(torch.tensor(edges), 0).numpy())
    far = np.array([-1000.0, 0.0, -900.0])  # no underflow far below the running maximum
    compare_with_torch(lambda t: mg.logcumsumexp(t, 0), lambda t: torch.logcumsumexp(t, 0),
                       [far], dtype=np.float64)
    assert mg.gradcheck(lambda t: t.logcumsumexp(1), [x])
    with pytest.raises(TypeError, match="logcumsumexp: needs a float32 or float64"):
        mg.logcumsumexp(mg.tensor([1, 2]), 0)


def test_std_mean_and_var_mean(torch):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 5))
    s, m = mg.std_mean(mg.tensor(x), axis=1, correction=1)
    ts, tm = torch.std_mean(torch.tensor(x), dim=1, correction=1)
    np.testing.assert_allclose(s.numpy(), ts.numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.numpy(), tm.numpy(), rtol=1e-12)
    v, m = mg.var_mean(mg.tensor(x), axis=0)  # correction=0 by default, as mg.var
    np.testing.assert_allclose(v.numpy(), x.var(axis=0), rtol=1e-12)
    assert mg.gradcheck(lambda t: mg.std_mean(t, 1)[0] * 2 + mg.std_mean(t, 1)[1], [x])


# ---- selection, grids and windows ---------------------------------------------------------------


def test_masked_select(compare_with_torch, torch):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4))
    mask = rng.random((4,)) < 0.5
    mask[0] = True
    compare_with_torch(lambda t: mg.masked_select(t, mask),
                       lambda t: torch.masked_select(t, torch.tensor(mask)), [x],
                       dtype=np.float64)
    small = rng.standard_normal((4,))
    full = rng.random((3, 4)) < 0.5  # the tensor broadcasts to the mask: gradients sum back
    compare_with_torch(lambda t: t.masked_select(mg.tensor(full)),
                       lambda t: t.masked_select(torch.tensor(full)), [small], dtype=np.float64)
    assert mg.masked_select(mg.tensor(x), np.zeros((3, 4), bool)).shape == (0,)
    with pytest.raises(TypeError, match="mask must be bool"):
        mg.masked_select(mg.tensor(x), np.ones((3, 4)))


def test_nonzero_follows_torch_and_as_tuple_numpy(torch):
    x = np.array([[0, 1, 0], [2, 0, 3]])
    out = mg.nonzero(mg.tensor(x))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), torch.nonzero(torch.tensor(x)).numpy())
    for ours, theirs in zip(mg.tensor(x).nonzero(as_tuple=True), np.nonzero(x)):
        np.testing.assert_array_equal(ours.numpy(), theirs)
    for value in (0, 5):
        assert mg.nonzero(mg.tensor(value)).shape == tuple(torch.nonzero(torch.tensor(value)).shape)
        assert mg.nonzero(mg.tensor(value), as_tuple=True)[0].tolist() == torch.nonzero(
            torch.tensor(value), as_tuple=True)[0].tolist()
    assert mg.nonzero(mg.zeros(0, 2)).shape == (0, 2)
    np.testing.assert_array_equal(mg.nonzero(mg.tensor([np.nan, 0.0, -0.0])).numpy(), [[0]])


@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3])
def test_diag(compare_with_torch, torch, k):
    rng = np.random.default_rng(8)
    compare_with_torch(lambda t: mg.diag(t, k), lambda t: torch.diag(t, k),
                       [rng.standard_normal(4)], dtype=np.float64)
    compare_with_torch(lambda t: t.diag(k), lambda t: torch.diag(t, k),
                       [rng.standard_normal((4, 5))], dtype=np.float64)
    ints = mg.diag(mg.tensor(np.int32([1, 2])), k)
    assert ints.dtype == np.int32
    np.testing.assert_array_equal(ints.numpy(), np.diag(np.int32([1, 2]), k))
    nan = mg.diag(mg.tensor([np.nan, 1.0]), k).numpy()  # NaN stays on its diagonal place
    assert np.isnan(nan).sum() == 1
    assert mg.diag(mg.zeros(0), k).shape == (abs(k), abs(k))
    with pytest.raises(ValueError, match="1-d or 2-d"):
        mg.diag(mg.zeros(2, 2, 2))


@pytest.mark.parametrize("indexing", ["xy", "ij"])
def test_meshgrid(torch, indexing):
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal(n) for n in (2, 3, 4)]
    ours = mg.meshgrid(*[mg.tensor(a, requires_grad=True) for a in arrays], indexing=indexing)
    theirs = torch.meshgrid(*[torch.tensor(a) for a in arrays], indexing=indexing)
    expected = np.meshgrid(*arrays, indexing=indexing)
    for o, t, e in zip(ours, theirs, expected):
        np.testing.assert_array_equal(o.numpy(), t.numpy())
        np.testing.assert_array_equal(o.numpy(), e)
    assert mg.meshgrid(mg.tensor([1, 2]), mg.tensor([1.0, 2.0, 3.0]))[0].dtype == np.int64
    assert mg.gradcheck(lambda a, b: mg.meshgrid(a, b, indexing=indexing)[0]
                        * mg.meshgrid(a, b, indexing=indexing)[1], arrays[:2])
    with pytest.raises(ValueError, match="indexing must be 'xy' or 'ij'"):
        mg.meshgrid(mg.zeros(2), indexing="yx")


@pytest.mark.parametrize("shape,axis,size,step", [((7,), 0, 3, 2), ((4, 6), 1, 2, 1),
                                                  ((5, 3, 2), 0, 5, 3), ((4, 5), -1, 0, 2)])
def test_unfold(compare_with_torch, torch, shape, axis, size, step):
    x = np.random.default_rng(10).standard_normal(shape)
    compare_with_torch(lambda t: t.unfold(axis, size, step),
                       lambda t: t.unfold(axis, size, step), [x], dtype=np.float64)
    if size:
        assert mg.gradcheck(lambda t: mg.unfold(t, axis, size, step), [x])


def test_unfold_edges_and_errors(torch):
    assert mg.tensor(5.0).unfold(0, 1, 1).tolist() == torch.tensor(5.0).unfold(0, 1, 1).tolist()
    with pytest.raises(ValueError, match="size 4 is larger than axis 0 of length 3"):
        mg.zeros(3).unfold(0, 4, 1)
    with pytest.raises(ValueError, match="step must be an integer > 0"):
        mg.zeros(3).unfold(0, 1, 0)


# ---- activations --------------------------------------------------------------------------------


EDGES = np.array([-5.0, -3.0, -2.999, -1.0, -0.0, 0.0, 0.5, 2.999, 3.0, 3.001, 6.0, np.inf,
                  -np.inf, np.nan])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hardswish_celu_softmin_match_torch(compare_with_torch, torch, dtype):
    F = torch.nn.functional
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 5)) * 3
    compare_with_torch(mg.hardswish, F.hardswish, [x], dtype=dtype)
    compare_with_torch(mg.celu, F.celu, [x], dtype=dtype)
    compare_with_torch(lambda t: mg.celu(t, 0.5), lambda t: F.celu(t, 0.5), [x], dtype=dtype)
    compare_with_torch(lambda t: mg.softmin(t, 0), lambda t: F.softmin(t, 0), [x], dtype=dtype)
    for ours, theirs in [(mg.hardswish, F.hardswish), (mg.celu, F.celu)]:
        t = torch.tensor(EDGES.astype(dtype), requires_grad=True)
        theirs(t).backward(torch.ones_like(t))
        m = mg.tensor(EDGES.astype(dtype), requires_grad=True)
        ours(m).backward(np.ones_like(EDGES, dtype=dtype))
        np.testing.assert_allclose(ours(mg.tensor(EDGES.astype(dtype))).numpy(),
                                   theirs(torch.tensor(EDGES.astype(dtype))).numpy(), rtol=1e-6)
        np.testing.assert_allclose(m.grad, t.grad.numpy(), rtol=1e-6)


def test_activation_gradchecks():
    x = np.random.default_rng(12).standard_normal((4, 3)) * 2
    x = np.where(np.abs(np.abs(x) - 3) < 0.05, x + 0.2, x)
    assert mg.gradcheck(mg.hardswish, [x])
    assert mg.gradcheck(lambda t: mg.celu(t, 0.7), [x])
    assert mg.gradcheck(lambda t: mg.softmin(t, -1), [x])
    with pytest.raises(ValueError, match="alpha must not be 0"):
        mg.celu(mg.zeros(2), 0.0)


# ---- creation -----------------------------------------------------------------------------------


def test_empty():
    t = mg.empty(2, 3)
    assert t.shape == (2, 3) and t.dtype == np.float32 and not t.requires_grad
    assert mg.empty((4,), dtype=np.int8).dtype == np.int8
    assert mg.empty(0, 5, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="only float tensors can require gradients"):
        mg.empty(2, dtype=np.int64, requires_grad=True)
    with pytest.raises(TypeError, match="unsupported dtype"):
        mg.empty(2, dtype=np.complex64)


# ---- losses: weight= and torch's (N, C, d1, ...) layout -----------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_weight_and_ignore_index(compare_with_torch, torch, reduction):
    rng = np.random.default_rng(13)
    logp = np.log(rng.dirichlet(np.ones(5), size=6))
    targets = rng.integers(0, 5, 6)
    targets[2] = -100
    weight = rng.random(5) + 0.2
    F = torch.nn.functional
    compare_with_torch(
        lambda t: mg.nll_loss(t, targets, weight=weight, reduction=reduction),
        lambda t: F.nll_loss(t, torch.tensor(targets), weight=torch.tensor(weight),
                             reduction=reduction), [logp], dtype=np.float64)
    with pytest.raises(ValueError, match=r"weight must have one value per class, shape \(5,\)"):
        mg.nll_loss(mg.tensor(logp), targets, weight=np.ones(4))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_classes_on_axis_1(compare_with_torch, torch, reduction, smoothing,
                                         weighted):
    rng = np.random.default_rng(14)
    logits = rng.standard_normal((3, 4, 2, 5))  # (N, C, d1, d2): torch's layout
    targets = rng.integers(0, 4, (3, 2, 5))
    targets[0, 1, 2] = -100
    weight = rng.random(4) + 0.3 if weighted else None
    tw = None if weight is None else torch.tensor(weight)
    compare_with_torch(
        lambda t: mg.cross_entropy(t, targets, reduction=reduction, label_smoothing=smoothing,
                                   weight=weight, axis=1),
        lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(targets), weight=tw,
                                                    reduction=reduction,
                                                    label_smoothing=smoothing),
        [logits], dtype=np.float64)
    probabilities = rng.dirichlet(np.ones(4), size=(3, 2, 5)).transpose(0, 3, 1, 2)
    compare_with_torch(
        lambda t: mg.cross_entropy(t, probabilities, reduction=reduction, weight=weight, axis=1,
                                   label_smoothing=smoothing),
        lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(probabilities), weight=tw,
                                                    reduction=reduction,
                                                    label_smoothing=smoothing),
        [logits], dtype=np.float64)
    assert mg.gradcheck(lambda t: mg.cross_entropy(t, targets, reduction=reduction,
                                                   weight=weight, axis=1), [logits])


def test_a_weight_passed_in_torchs_position_is_refused():
    with pytest.raises(TypeError, match="ignore_index must be an int.*pass weight= by keyword"):
        mg.nll_loss(mg.zeros(2, 3), [0, 1], np.ones(3))
    with pytest.raises(TypeError, match="ignore_index must be an int"):
        mg.cross_entropy(mg.zeros(2, 3), [0, 1], np.ones(3), reduction="sum")
    with pytest.raises(TypeError, match="ignore_index must be an int"):
        mg.cross_entropy(mg.zeros(2, 3), [0, 1], np.ones(3))  # the fused mean path


def test_cross_entropy_layout_error_names_axis():
    with pytest.raises(ValueError, match="pass axis=1 for torch's"):
        mg.cross_entropy(mg.zeros(3, 4, 5), np.zeros((3, 5), np.int64), reduction="sum")
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        mg.cross_entropy(mg.zeros(3, 4, 5), np.zeros((3, 5), np.int64), axis=3)


# ---- wrong answers of existing ops the property test found (fixed here) --------------------------


def test_norm_neither_overflows_nor_underflows(torch):
    big = mg.tensor(np.float32([3e38, 4e38 / 4, 0.0]), requires_grad=True)
    out = big.norm()
    assert np.isfinite(out.numpy()) and abs(out.numpy() / np.hypot(3e38, 1e38) - 1) < 1e-6
    out.backward()
    np.testing.assert_allclose(big.grad, np.array([3e38, 1e38, 0.0]) / np.hypot(3e38, 1e38),
                               rtol=1e-6)
    tiny = mg.tensor(np.float32([1e-45, 0.0]))
    assert tiny.norm().numpy() == np.float32(1e-45)
    x = np.random.default_rng(15).standard_normal((3, 4))
    ours = mg.norm(mg.tensor(x), axis=1).numpy()
    np.testing.assert_allclose(ours, torch.linalg.vector_norm(torch.tensor(x), dim=1).numpy(),
                               rtol=1e-12)
    assert mg.gradcheck(lambda t: mg.norm(t, axis=0), [x])


@pytest.mark.parametrize("name", ["elu", "selu", "hardtanh", "relu6", "leaky_relu",
                                  "hardsigmoid", "celu", "hardswish"])
def test_activation_slopes_at_nan_and_kinks(torch, name):
    """At the kinks torch's slopes; at NaN the slope of the branch a NaN falls to (torch's scalar
    path: its vectorised loops give 0 or NaN there, by dtype and length)."""
    x = np.array([np.nan, 0.0, 6.0, -1.0, 1.0, -3.0, 3.0], np.float32)
    ours = mg.tensor(x, requires_grad=True)
    getattr(mg, name)(ours).backward(np.ones(7, np.float32))
    theirs = torch.tensor(x[1:], requires_grad=True)
    getattr(torch.nn.functional, name)(theirs).backward(torch.ones(6))
    np.testing.assert_allclose(ours.grad[1:], theirs.grad.numpy(), rtol=2e-6)  # float32 exp
    at_nan = {"elu": 1.0, "selu": 1.0507009873554805, "hardtanh": 1.0, "relu6": 1.0,
              "leaky_relu": 0.01, "hardsigmoid": 0.0, "celu": 1.0, "hardswish": 1.0}[name]
    np.testing.assert_allclose(ours.grad[0], at_nan, rtol=1e-6)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_gradient_with_nan_is_torchs(torch, name):
    a = np.array([0.0, np.nan, 1.0, 2.0, np.nan])
    b = np.array([np.nan, 0.0, 1.0, 1.0, np.nan])
    x, y = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    getattr(mg, name)(x, y).backward(np.ones(5))
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    getattr(torch, name)(tx, ty).backward(torch.ones(5, dtype=torch.float64))
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    np.testing.assert_array_equal(y.grad, ty.grad.numpy())


def test_pow_slope_at_zero_to_a_tiny_power_is_inf(torch):
    x = mg.tensor(np.float32([0.0]), requires_grad=True)
    y = mg.tensor(np.float32([1e-45]))
    (x ** y).backward(np.float32([0.5]))
    t = torch.tensor([0.0], requires_grad=True)
    (t ** torch.tensor([1e-45])).backward(torch.tensor([0.5]))
    assert x.grad[0] == t.grad.numpy()[0] == np.inf


def test_scans_and_prod_of_narrow_integers_accumulate_in_int64():
    x = np.array([100, 100, 3], np.int8)
    assert mg.tensor(x).cumsum(0).tolist() == np.cumsum(x).tolist() == [100, 200, 203]
    assert mg.tensor(x).prod().dtype == np.prod(x).dtype == np.int64
    assert mg.tensor(x).cumprod(0).dtype == np.int64
    assert mg.tensor(np.uint8([200, 2])).cumprod(0).tolist() == [200, 400]
    assert mg.tensor(np.uint8([200, 2])).cumsum(0).dtype == np.uint64  # numpy's
    assert mg.tensor([True, True]).cumsum(0).tolist() == [1, 2]


def test_empty_sort_and_scans_backward():
    for fn in (lambda t: t.sort()[0], lambda t: t.cummax(0)[0], lambda t: t.topk(0)[0]):
        x = mg.tensor(np.zeros(0, np.float32), requires_grad=True)
        fn(x).sum().backward()
        assert x.grad.shape == (0,)


def test_logaddexp_nan_and_fmod_remainder_slopes_at_zero_divisor(torch):
    a = np.float32([np.nan, -np.inf, 1.0, -2.0, np.inf, 0.0, 3.0, np.inf, -np.inf])
    b = np.float32([-np.inf, np.nan, 0.0, 0.0, 2.0, 0.0, np.inf, np.inf, -np.inf])
    np.testing.assert_array_equal(mg.logaddexp(mg.tensor(a), mg.tensor(b)).numpy(),
                                  torch.logaddexp(torch.tensor(a), torch.tensor(b)).numpy())
    a = np.float32([1.0, -2.0, np.inf, 0.0, 3.0, 1.0, -1.0])
    b = np.float32([0.0, 0.0, 2.0, 0.0, np.inf, -np.inf, np.inf])
    for name in ("fmod", "remainder"):
        x, y = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
        with np.errstate(all="ignore"):
            getattr(mg, name)(x, y).backward(np.ones(7, np.float32))
        tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        getattr(torch, name)(tx, ty).backward(torch.ones(7))
        np.testing.assert_array_equal(y.grad, ty.grad.numpy())
        np.testing.assert_array_equal(x.grad, tx.grad.numpy())


def test_div_slope_in_b_at_a_zero_numerator_and_tiny_b(torch):
    a, b = np.float32([0.0, 1.0, 2.0]), np.float32([1e-45, 1e-45, 4.0])
    x, y = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    with np.errstate(all="ignore"):
        (x / y).backward(np.float32([0.5, 0.5, 0.5]))
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (tx / ty).backward(torch.tensor([0.5, 0.5, 0.5]))
    np.testing.assert_array_equal(y.grad, ty.grad.numpy())  # -0, -inf, -0.0625
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
