"""The ops added for issue 11 on CUDA equal the same ops on the CPU, forward and backward, on the
same float32 inputs with the same random upstream gradient (rtol 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import get

pytestmark = pytest.mark.cuda


def same(a):
    return a


def positive(a):
    return np.abs(a) + 0.3


def unit(a):
    return np.clip(a, -0.9, 0.9)


def off_kinks(a):
    v = 3 * a
    for kink in (0.0, 1.0, -1.0, 3.0, -3.0, 6.0):
        v = np.where(np.abs(v - kink) < 0.05, v + 0.1, v)
    return v


UNARY = {"sqrt": positive, "rsqrt": positive, "square": same, "sin": same, "cos": same,
         "tan": unit, "asin": unit, "acos": unit, "atan": same, "sinh": same, "cosh": same,
         "asinh": same, "acosh": lambda a: positive(a) + 1.0, "atanh": unit, "log1p": positive,
         "expm1": same, "log2": positive, "log10": positive, "exp2": same, "erf": same,
         "floor": off_kinks, "ceil": off_kinks, "round": off_kinks, "trunc": off_kinks,
         "sign": off_kinks, "gelu": off_kinks, "silu": off_kinks, "mish": off_kinks,
         "leaky_relu": off_kinks, "elu": off_kinks, "selu": off_kinks, "softplus": off_kinks,
         "softsign": off_kinks, "logsigmoid": off_kinks, "hardtanh": off_kinks,
         "hardsigmoid": off_kinks, "relu6": off_kinks}

CASES = {name: (getattr(mg, name), [((2, 5), m)]) for name, m in UNARY.items()}
CASES.update({
    "gelu_tanh": (lambda a: mg.gelu(a, approximate="tanh"), [((2, 5), off_kinks)]),
    "leaky_relu_param": (lambda a: mg.leaky_relu(a, 0.3), [((2, 5), off_kinks)]),
    "softplus_param": (lambda a: mg.softplus(a, 2.0, 3.0), [((2, 5), off_kinks)]),
    "maximum_broadcast": (mg.maximum, [((3, 4), same), ((4,), same)]),
    "minimum_scalar": (lambda a: mg.minimum(a, 0.25), [((3, 4), same)]),
    "logaddexp": (mg.logaddexp, [((3, 1), same), ((1, 4), same)]),
    "fmod": (lambda a: mg.fmod(a * 3, 0.7), [((2, 5), same)]),
    "remainder": (lambda a, b: a * 3 % b, [((2, 5), same), ((5,), positive)]),
    "floor_divide": (lambda a: (a * 5) // 0.7, [((2, 5), same)]),
})


@pytest.mark.parametrize("name", sorted(CASES))
def test_cuda_equals_cpu_forward_and_backward(name, assert_cuda_equals_cpu):
    assert_cuda_equals_cpu(CASES, name)


INDEX = np.array([[0, 3, 3], [1, 1, 0], [2, 0, 1]])
FAMILIES = {
    "min": (lambda a: a.min(axis=1), [((3, 4), same)]),
    "prod_cumprod": (lambda a: a.prod(axis=0) + a.cumprod(axis=1).sum(axis=1)[:1],
                     [((3, 4), same)]),
    "cumsum": (lambda a: a.cumsum(axis=0), [((3, 4), same)]),
    "var_std_lse": (lambda a: a.var(axis=1) + a.std(axis=1) + a.logsumexp(axis=1),
                    [((3, 4), same)]),
    "norm": (lambda a: a.norm(axis=1), [((3, 4), same)]),
    "shape": (lambda a: mg.pad(mg.roll(a.flip(1).tile((1, 2)), 1, 0), ((1, 0), (0, 2)),
                               mode="reflect") * 2, [((3, 4), same)]),
    "pad_constant_tril": (lambda a: mg.tril(mg.pad(a, 1, value=2.0)), [((3, 4), same)]),
    "diagonal_expand": (lambda a: mg.diagonal(a, 1) + a[:1, :3].expand(2, 3),
                        [((3, 4), same)]),
    "gather_scatter": (lambda a: mg.scatter_add(a, 1, INDEX, a.gather(1, INDEX) * 2.0),
                       [((3, 4), same)]),
    "sort_topk": (lambda a: a.sort(axis=1)[0] + a.topk(4, axis=1, largest=False)[0],
                  [((3, 4), same)]),
    "einsum": (lambda a, b: mg.einsum("bij,bkj->bik", a, b), [((2, 3, 4), same),
                                                             ((2, 5, 4), same)]),
    "cross_entropy_smoothing": (lambda a: mg.cross_entropy(a, np.array([1, -100, 3]),
                                                           label_smoothing=0.1,
                                                           reduction="sum"),
                                [((3, 4), same)]),
    "bce_logits": (lambda a: mg.binary_cross_entropy_with_logits(a, (a.numpy() > 0) * 1.0),
                   [((3, 4), same)]),
    "attention": (lambda q, k: mg.functional.scaled_dot_product_attention(q, k, k * 2.0,
                                                                          is_causal=True),
                  [((3, 4), same), ((3, 4), same)]),
    "layer_norm": (lambda a: mg.functional.layer_norm(a, 4), [((3, 4), same)]),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_families_cuda_equals_cpu(name, assert_cuda_equals_cpu):
    assert_cuda_equals_cpu(FAMILIES, name, atol=1e-5)


def test_argmax_argsort_on_cuda():
    x = np.array([[3.0, 1.0, 3.0, 2.0], [0.5, 4.0, -1.0, 4.0]], np.float32)
    t = mg.tensor(x, device="cuda")
    assert t.argmax(axis=1).numpy().tolist() == [0, 1]
    assert t.argmin(axis=0).numpy().tolist() == [1, 0, 1, 0]
    assert t.argsort(axis=1).numpy().tolist() == [[1, 3, 0, 2], [2, 0, 1, 3]]
    assert t.argsort(axis=1, descending=True).numpy().tolist() == [[0, 2, 3, 1], [1, 3, 0, 2]]


def test_scalars_integers_creation_and_losses_on_cuda():
    t = mg.tensor(np.array([1.0, -2.0, 3.0], np.float32), device="cuda")
    picked = mg.where(t > 0, 1.0, 0.0)
    assert picked.device == "cuda" and picked.numpy().tolist() == [1.0, 0.0, 1.0]
    i = mg.tensor(np.array([3, -1, 7], np.int64), device="cuda")
    assert mg.maximum(i, 0).numpy().tolist() == [3, 0, 7]
    assert mg.minimum(i, 2).numpy().tolist() == [2, -1, 2]
    with pytest.raises(ValueError, match="fmod: integer tensors are not supported on cuda"):
        mg.fmod(i, 2)
    hot = mg.one_hot(mg.tensor(np.array([2, 0]), device="cuda"), 3)
    assert hot.device == "cuda" and hot.numpy().tolist() == [[0, 0, 1], [1, 0, 0]]
    assert mg.arange(4, device="cuda").numpy().tolist() == [0, 1, 2, 3]
    assert mg.zeros_like(t).device == "cuda" and mg.rand(2, rng=0, device="cuda").shape == (2,)
    assert t.argmax(keepdims=True).numpy().tolist() == [2]
    p = np.array([0.0, 1.0, 0.3], np.float32)
    y = np.array([0.0, 1.0, 1.0], np.float32)
    for device in ("cpu", "cuda"):
        q = mg.tensor(p, requires_grad=True, device=device)
        loss = mg.binary_cross_entropy(q, mg.tensor(y, device=device), reduction="sum")
        loss.backward()
        grads = get(device).to_host(q.grad)
        if device == "cpu":
            expected_loss, expected_grad = loss.item(), grads
        else:
            np.testing.assert_allclose(loss.item(), expected_loss, rtol=1e-6)
            np.testing.assert_allclose(grads, expected_grad, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_on_cuda_is_monotone_and_saturates(dtype):
    x = np.linspace(-30, 30, 2001).astype(dtype)
    s = mg.tensor(x, device="cuda").sigmoid().numpy()
    assert np.count_nonzero(np.diff(s) < 0) == 0
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-x.astype(np.float64))), rtol=1e-6, atol=0)
