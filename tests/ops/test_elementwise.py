"""Elementwise primitives: gradcheck with broadcast shapes, torch parity, dtype keeping, errors."""

from __future__ import annotations

import types

import numpy as np
import pytest

import minigrad as mg
from minigrad import backends
from minigrad.tensor import Tensor

# Broadcast pairs the issue names, plus 0-d operands on either side and a 3-d case.
BROADCAST_SHAPES = [
    ((3, 4), (4,)),
    ((3, 1), (1, 4)),
    ((), (3, 4)),
    ((2, 3), ()),
    ((), ()),
    ((2, 1, 3), (4, 1)),
]


def positive(a):
    return np.abs(a) + 0.5


def identity(a):
    return a


# name -> (function of Tensor-like operands that works on minigrad and torch alike, input maps)
BINARY = {
    "add": (lambda a, b: a + b, identity, identity),
    "sub": (lambda a, b: a - b, identity, identity),
    "mul": (lambda a, b: a * b, identity, identity),
    "div": (lambda a, b: a / b, identity, positive),
    "pow": (lambda a, b: a**b, positive, identity),
}


def clip_safe(a):
    """Values at least 0.1 away from the clip bounds used below (-0.5, -0.3, 0.5)."""
    grid = np.array([-1.3, -0.9, -0.4, -0.15, 0.1, 0.3, 0.8, 1.1])
    return grid[np.abs((a * 1000).astype(np.int64)) % grid.size] + 0.01 * np.tanh(a)


UNARY = {
    "neg": (lambda a: -a, identity),
    "exp": (lambda a: a.exp(), identity),
    "log": (lambda a: a.log(), positive),
    "tanh": (lambda a: a.tanh(), identity),
    "sigmoid": (lambda a: a.sigmoid(), identity),
    "relu": (lambda a: a.relu(), "nonzero"),
    "abs": (lambda a: a.abs(), "nonzero"),
    "clip": (lambda a: a.clip(-0.5, 0.5), clip_safe),
    "clip_lo": (lambda a: a.clip(-0.3, None), clip_safe),
    "clip_hi": (lambda a: a.clip(None, 0.5), clip_safe),
    "pow_int": (lambda a: a**3, identity),
    "pow_half": (lambda a: a**0.5, positive),
    "pow_neg": (lambda a: a**-1.5, positive),
    "rpow": (lambda a: 2.0**a, identity),
    "rsub": (lambda a: 1.0 - a, identity),
    "rdiv": (lambda a: 3.0 / a, positive),
    "scale": (lambda a: a * 0.5 + 0.25, identity),
}

UNARY_SHAPES = [(), (5,), (3, 4), (2, 3, 2)]


def _inputs(rng, shapes, maps, nonzero):
    out = []
    for shape, f in zip(shapes, maps):
        a = rng.standard_normal(shape)
        out.append(np.asarray(nonzero(a) if f == "nonzero" else f(a)))
    return out


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_gradcheck_broadcast(name, shapes, rng, nonzero):
    fn, map_a, map_b = BINARY[name]
    a, b = _inputs(rng, shapes, (map_a, map_b), nonzero)
    assert mg.gradcheck(fn, [a, b])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_matches_torch(name, shapes, dtype, rng, nonzero, compare_with_torch):
    fn, map_a, map_b = BINARY[name]
    a, b = _inputs(rng, shapes, (map_a, map_b), nonzero)
    compare_with_torch(fn, fn, [a, b], dtype)


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_gradcheck(name, shape, rng, nonzero):
    fn, f = UNARY[name]
    (a,) = _inputs(rng, [shape], [f], nonzero)
    assert mg.gradcheck(fn, [a])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_matches_torch(name, shape, dtype, rng, nonzero, compare_with_torch):
    fn, f = UNARY[name]
    (a,) = _inputs(rng, [shape], [f], nonzero)
    compare_with_torch(fn, fn, [a], dtype)


def test_tanh_sigmoid_float32_accuracy_over_wide_range(torch):
    """The float32 rational tanh must stay within a few ulp of torch's over the whole line."""
    x = np.concatenate([np.linspace(-30, 30, 20001), [0.0, -0.0, 1e-30, -1e-30]]).astype(np.float32)
    t = torch.tensor(x)
    np.testing.assert_allclose(mg.tensor(x).tanh().numpy(), t.tanh().numpy(), rtol=0, atol=5e-7)
    np.testing.assert_allclose(
        mg.tensor(x).sigmoid().numpy(), t.sigmoid().numpy(), rtol=0, atol=5e-7
    )
    assert np.all(np.abs(mg.tensor(x).tanh().numpy()) <= 1)


def test_relu_abs_clip_gradients_at_kinks_follow_torch(torch):
    """At exactly 0 (relu, abs) and at the bounds (clip), the subgradient chosen is torch's."""
    x = np.array([-0.5, 0.0, 0.5, 1.0], dtype=np.float32)
    for fn in (lambda a: a.relu(), lambda a: a.abs(), lambda a: a.clip(-0.5, 0.5)):
        ours = mg.tensor(x, requires_grad=True)
        fn(ours).sum().backward()
        theirs = torch.tensor(x, requires_grad=True)
        fn(theirs).sum().backward()
        np.testing.assert_array_equal(ours.grad, theirs.grad.numpy())


@pytest.mark.parametrize(
    "cond_shape, a_shape, b_shape",
    [
        ((3, 4), (3, 4), (3, 4)),
        ((3, 4), (4,), (3, 1)),
        ((3, 1), (3, 4), ()),
        ((2, 3, 4), (4,), (3, 4)),
    ],
    ids=str,
)
def test_where_gradcheck_and_torch(cond_shape, a_shape, b_shape, rng, compare_with_torch, torch):
    cond = rng.random(cond_shape) > 0.5
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    assert mg.gradcheck(lambda x, y: mg.where(cond, x, y), [a, b])
    for dtype in (np.float32, np.float64):
        compare_with_torch(
            lambda x, y: mg.where(cond, x, y),
            lambda x, y: torch.where(torch.tensor(cond), x, y),
            [a, b],
            dtype,
        )


def test_where_with_a_number_and_a_tensor_condition(rng):
    x = mg.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    y = mg.where(x > 0, x, 0.0)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), np.maximum(x.numpy(), 0))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, (x.numpy() > 0).astype(np.float32))


def test_astype_round_trip_gradient(rng, torch):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    # a float32 round trip rounds to 1e-7: a wide step keeps the difference quotient above that
    assert mg.gradcheck(
        lambda x: x.astype(np.float32).astype(np.float64) * 2.0, [a], eps=1e-2, atol=1e-4
    )
    x = mg.tensor(a, requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64
    u = rng.standard_normal((3, 4))
    (y * mg.tensor(u)).sum().backward()
    assert x.grad.dtype == np.float32
    t = torch.tensor(a, requires_grad=True)
    (t.double() * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-6)
    assert x.astype(np.float32) is x  # a no-op cast records nothing


# ---- dtype keeping ---------------------------------------------------------------------------

FLOAT32_OPS = {
    **{f"unary_{k}": v[0] for k, v in UNARY.items()},
    "add_array": lambda a: a + np.ones(4, a.dtype),
    "radd_array": lambda a: np.ones(4, a.dtype) + a,
    "rmul": lambda a: 0.5 * a,
    "rdiv_int": lambda a: 1 / (a.abs() + 1),
    "pow_tensor": lambda a: (a.abs() + 1) ** (a * 0.5),
    "where": lambda a: mg.where(a.numpy() > 0, a, 1.5),
    "mul_np_scalar": lambda a: a * np.float32(3.0),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FLOAT32_OPS)
def test_output_and_gradient_keep_dtype(name, dtype, rng):
    x = mg.tensor((np.abs(rng.standard_normal((3, 4))) + 0.5).astype(dtype), requires_grad=True)
    y = FLOAT32_OPS[name](x)
    assert y.dtype == dtype
    y.backward(np.ones(y.shape, dtype))
    assert x.grad.dtype == dtype


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_shape_mismatch_names_op_and_both_operands(name):
    a, b = mg.ones(3, 4), mg.ones(5)
    with pytest.raises(ValueError, match=name) as info:
        getattr(mg, name)(a, b)
    assert "(3, 4)" in str(info.value) and "(5,)" in str(info.value)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_dtype_mismatch_names_op_and_both_operands(name):
    a, b = mg.ones(3, dtype=np.float32), mg.ones(3, dtype=np.float64)
    with pytest.raises(ValueError, match=rf"{name}: dtype mismatch") as info:
        getattr(mg, name)(a, b)
    assert "float32[3]" in str(info.value) and "float64[3]" in str(info.value)


def test_numpy_float64_array_does_not_silently_promote_float32():
    with pytest.raises(ValueError, match="mul: dtype mismatch"):
        mg.ones(3) * np.ones(3)


class _FakeDeviceArray:
    """Something that looks like a device array to backend_of: enough to reach the device check."""

    __cuda_array_interface__ = {}

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, np.dtype(dtype)


def test_device_mismatch_names_op_and_both_operands(monkeypatch):
    fake_cuda = types.SimpleNamespace(name="cuda")
    monkeypatch.setattr(backends, "_cuda", fake_cuda)
    on_cpu = mg.ones(2, 3)
    on_device = Tensor._wrap(_FakeDeviceArray((2, 3), np.float32))
    with pytest.raises(ValueError, match="add: device mismatch") as info:
        on_cpu + on_device
    assert "on cpu" in str(info.value) and "on cuda" in str(info.value)


def test_where_rejects_non_bool_condition():
    with pytest.raises(ValueError, match="where: condition must be bool"):
        mg.where(np.ones(3), mg.ones(3), mg.zeros(3))


def test_where_shape_mismatch():
    with pytest.raises(ValueError, match="where: shapes"):
        mg.where(np.ones(4, bool), mg.ones(3), mg.zeros(3))


def test_clip_arguments():
    np.testing.assert_array_equal(mg.ones(3).clip(1, 0).numpy(), np.clip(np.ones(3), 1, 0))
    with pytest.raises(ValueError, match="give lo, hi or both"):
        mg.ones(3).clip()


def test_comparisons_give_bool_tensors_without_gradient(rng):
    x = mg.tensor(rng.standard_normal(5), requires_grad=True)
    for y, expected in (
        (x < 0, x.numpy() < 0),
        (x <= 0, x.numpy() <= 0),
        (x > 0.5, x.numpy() > 0.5),
        (x >= 0.5, x.numpy() >= 0.5),
    ):
        assert y.dtype == np.bool_ and not y.requires_grad
        np.testing.assert_array_equal(y.numpy(), expected)


def test_pow_gradients_at_a_zero_base_follow_torch(torch):
    """0 ** b: no slope in b (b >= 0) and none in a where b == 0, instead of 0 * inf = nan."""
    a = np.array([0.0, 0.0, 0.0, 2.0, 0.0])
    b = np.array([2.0, 0.0, 1.0, 1.5, 3.0])
    x, y = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    (x**y).sum().backward()
    s, t = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (s**t).sum().backward()
    np.testing.assert_array_equal(x.grad, s.grad.numpy())
    np.testing.assert_array_equal(y.grad, t.grad.numpy())
    z = mg.tensor(np.array([0.0, 3.0]), requires_grad=True)
    (z**0).sum().backward()
    np.testing.assert_array_equal(z.grad, [0.0, 0.0])
