"""Every primitive, forward and backward, on CUDA equals the same primitive on the CPU.

Each case runs once per device on the same float32 inputs with the same random upstream gradient;
outputs and input gradients must agree to float32 rounding (rtol 1e-5). A few ops are also
gradchecked on CUDA in float64 (the kernels are dtype-generic).
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import cpu, get

pytestmark = pytest.mark.cuda


def positive(a):
    return np.abs(a) + 0.5


def away_from_kinks(a):
    """|v| >= 0.2 and away from the clip bounds (+-0.5), so CPU and CUDA pick the same branch."""
    v = np.where(a >= 0, a + 0.2, a - 0.2)
    return np.where(np.abs(np.abs(v) - 0.5) < 0.05, v + 0.2, v)


def same(a):
    return a


TARGETS = np.array([[0, 3, 1], [2, -100, 4]])

# name -> (function of tensors, [(shape, input map)]): each op with broadcast or batched shapes.
CASES = {
    "add_broadcast": (lambda a, b: a + b, [((3, 4), same), ((4,), same)]),
    "sub_outer": (lambda a, b: a - b, [((3, 1), same), ((1, 4), same)]),
    "mul_0d": (lambda a, b: a * b, [((), same), ((2, 3), same)]),
    "div_3d": (lambda a, b: a / b, [((2, 1, 3), same), ((4, 1), positive)]),
    "pow_tensor": (lambda a, b: a**b, [((2, 3), positive), ((3,), same)]),
    "pow_scalar": (lambda a: a**3, [((2, 5), same)]),
    "rsub_rdiv": (lambda a: (1.0 - a) + 3.0 / a, [((7,), positive)]),
    "neg": (lambda a: -a, [((3, 4), same)]),
    "exp": (lambda a: a.exp(), [((3, 4), same)]),
    "log": (lambda a: a.log(), [((3, 4), positive)]),
    "tanh": (lambda a: a.tanh(), [((4, 6), lambda a: 3 * a)]),
    "sigmoid": (lambda a: a.sigmoid(), [((4, 6), lambda a: 3 * a)]),
    "relu": (lambda a: a.relu(), [((3, 7), away_from_kinks)]),
    "abs": (lambda a: a.abs(), [((3, 7), away_from_kinks)]),
    "clip": (lambda a: a.clip(-0.5, 0.5), [((3, 7), away_from_kinks)]),
    "clip_lo": (lambda a: a.clip(-0.5, None), [((3, 7), away_from_kinks)]),
    "where": (lambda a, b: mg.where(a > 0, a, b), [((3, 4), away_from_kinks), ((4,), same)]),
    "astype": (lambda a: a.astype(np.float64).tanh().astype(np.float32), [((2, 3), same)]),
    "sum_all": (lambda a: a.sum(), [((5, 7), same)]),
    "sum_axis": (lambda a: a.sum(axis=1, keepdims=True), [((3, 5, 2), same)]),
    "sum_axes": (lambda a: a.sum(axis=(0, 2)), [((3, 5, 2), same)]),
    "mean": (lambda a: a.mean(axis=0), [((6, 3), same)]),
    "max_axis": (lambda a: a.max(axis=1), [((4, 9), same)]),
    "max_all": (lambda a: a.max(), [((3, 5), same)]),
    "matmul": (lambda a, b: a @ b, [((5, 7), same), ((7, 6), same)]),
    "matmul_batched": (lambda a, b: a @ b, [((2, 1, 3, 5), same), ((3, 5, 4), same)]),
    "matmul_vector": (lambda a, b: a @ b, [((3, 5), same), ((5,), same)]),
    "reshape": (lambda a: a.reshape(4, -1) * 2, [((2, 3, 4), same)]),
    "transpose": (lambda a: a.transpose(2, 0, 1) * 2, [((2, 3, 4), same)]),
    "T": (lambda a: a.T @ a, [((3, 5), same)]),
    "getitem_basic": (lambda a: a[1:, ::-2, None] * 2, [((3, 5), same)]),
    "getitem_step": (lambda a: a[1] + a[-1, 1:3].sum(), [((3, 5), same)]),
    "getitem_rows": (lambda a: a[np.array([2, 0, 2, 2])] * 1.5, [((3, 4), same)]),
    "getitem_mixed": (lambda a: a[np.array([1, 0, 1]), :, np.array([3, 0, 3])],
                      [((2, 3, 4), same)]),
    "getitem_bool": (lambda a: a[np.array([True, False, True])], [((3, 2), same)]),
    "concat": (lambda a, b: mg.concat([a, b, a], axis=1), [((2, 3), same), ((2, 1), same)]),
    "stack": (lambda a, b: mg.stack([a, b], axis=1), [((2, 3), same), ((2, 3), same)]),
    "split": (lambda a: [p * (i + 1) for i, p in enumerate(a.split([1, 3, 1], axis=1))][1],
              [((2, 5), same)]),
    "softmax": (lambda a: a.softmax(axis=-1), [((3, 11), same)]),
    "softmax_axis0": (lambda a: a.softmax(axis=0), [((4, 3), same)]),
    "log_softmax": (lambda a: a.log_softmax(axis=-1), [((2, 3, 10), same)]),
    "cross_entropy": (lambda a: mg.cross_entropy(a, TARGETS), [((2, 3, 5), same)]),
    "mse_loss": (lambda a, b: mg.mse_loss(a, b), [((4, 3), same), ((4, 3), same)]),
    "dropout_p1": (lambda a: mg.dropout(a, 1.0, rng=0) + a, [((3, 4), same)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cuda_equals_cpu_forward_and_backward(name, assert_cuda_equals_cpu):
    assert_cuda_equals_cpu(CASES, name)


def test_gradients_stay_on_the_device():
    x = mg.tensor(np.ones((2, 3), np.float32), requires_grad=True, device="cuda")
    (x * x).sum().backward()
    assert get("cuda").is_device_array(x.grad)
    assert not isinstance(x.grad, np.ndarray)


def on_cuda(fn):
    """fn run on CUDA for CPU float64 inputs: gradcheck perturbs on the host, the op runs on the
    device and the result (and, backwards, the gradient) crosses through the differentiable move."""
    return lambda *xs: fn(*[x.to("cuda") for x in xs]).to("cpu")


GRADCHECK = {
    "tanh_mul_broadcast": (lambda a, b: (a * b).tanh(), [(3, 4), (4,)]),
    "sigmoid_div": (lambda a, b: a.sigmoid() / (b * b + 1.0), [(2, 3), (2, 3)]),
    "matmul_transposed": (lambda a, b: a.T @ b, [(4, 3), (4, 2)]),
    "log_softmax_sum": (lambda a: a.log_softmax(axis=0).sum(axis=1), [(5, 3)]),
    "cross_entropy": (lambda a: mg.cross_entropy(a, np.array([1, -100, 0])), [(3, 4)]),
    "getitem_concat": (lambda a: mg.concat([a[np.array([1, 1])], a[:, ::-1]], 0), [(2, 3)]),
    "max_mean": (lambda a: a.max(axis=1) + a.mean(), [(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK))
def test_gradcheck_float64_on_cuda(name, rng):
    fn, shapes = GRADCHECK[name]
    arrays = [rng.standard_normal(s) for s in shapes]
    assert mg.gradcheck(on_cuda(fn), arrays)


def test_gradcheck_catches_a_wrong_cuda_gradient(rng, monkeypatch):
    """The CUDA gradchecks can fail: break the device's rule backward (tanh's) and the check must
    raise."""
    cuda = get("cuda")
    monkeypatch.setattr(cuda, "rule_unary_backward", lambda name, x, y, g, params=():
                        cuda.mul(g, 0.5))
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(on_cuda(lambda a: a.tanh()), [rng.standard_normal((2, 2))])


def test_cross_entropy_all_ignored_is_nan_on_both(rng):
    logits = rng.standard_normal((2, 3)).astype(np.float32)
    targets = np.array([-100, -100])
    expected = mg.cross_entropy(mg.tensor(logits), targets).numpy()
    got = mg.cross_entropy(mg.tensor(logits, device="cuda"), targets).numpy()
    assert np.isnan(expected) and np.isnan(got)


def test_reductions_over_many_blocks_and_chunks():
    """Long rows are cut into chunks reduced by separate blocks, then combined."""
    cuda = get("cuda")
    from minigrad.backends import cuda_kernels

    long = np.random.default_rng(3).standard_normal(40 * cuda_kernels.THREADS).astype(np.float32)
    np.testing.assert_allclose(cuda.to_host(cuda.sum(cuda.from_host(long))), cpu.sum(long),
                               rtol=1e-5)
    long[123] = 50.0
    assert cuda.to_host(cuda.amax(cuda.from_host(long))) == 50.0
    wide = long.reshape(4, -1)
    np.testing.assert_allclose(cuda.to_host(cuda.sum(cuda.from_host(wide), axis=1)),
                               cpu.sum(wide, axis=1), rtol=1e-5)
