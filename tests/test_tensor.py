"""Tensor: construction and dtypes, properties, conversion, operator sugar."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg


def test_python_floats_default_to_float32_and_numpy_keeps_its_dtype():
    assert mg.tensor(1.5).dtype == np.float32
    assert mg.tensor([1.0, 2.0]).dtype == np.float32
    assert mg.tensor([1, 2]).dtype == np.int64
    assert mg.tensor(np.ones(2)).dtype == np.float64
    assert mg.tensor(np.ones(2, np.float32)).dtype == np.float32
    assert mg.tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert mg.tensor(np.float64(2.0)).dtype == np.float64


def test_tensor_copies_its_source():
    a = np.ones(3, np.float32)
    x = mg.tensor(a)
    a[0] = 5
    assert x.numpy()[0] == 1
    y = mg.tensor(x)
    assert y.data is not x.data and y.dtype == x.dtype


def test_factories(rng):
    assert mg.zeros(2, 3).shape == (2, 3) == mg.zeros((2, 3)).shape
    assert mg.ones(4, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(mg.ones(2, 2).numpy(), np.ones((2, 2)))
    np.testing.assert_array_equal(mg.zeros(3).numpy(), np.zeros(3))
    a, b = mg.randn(3, 4, rng=7), mg.randn((3, 4), rng=7)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == np.float32
    np.testing.assert_allclose(
        a.numpy(), np.random.default_rng(7).standard_normal((3, 4)), rtol=1e-6
    )
    assert mg.randn(2, rng=rng, requires_grad=True).requires_grad


def test_properties():
    x = mg.ones(2, 3, 4, requires_grad=True)
    assert x.shape == (2, 3, 4) and isinstance(x.shape, tuple)
    assert x.ndim == 3 and x.size == 24 and len(x) == 2
    assert x.dtype == np.dtype(np.float32) and x.device == "cpu"
    assert x.is_leaf and x.grad_fn is None
    y = x * 2
    assert not y.is_leaf and y.grad_fn.name == "mul"
    with pytest.raises(TypeError, match="0-d"):
        len(mg.tensor(1.0))


def test_conversions():
    x = mg.tensor([[1.5, 2.5]])
    assert isinstance(x.numpy(), np.ndarray)
    assert x.tolist() == [[1.5, 2.5]]
    assert mg.tensor([3.25]).item() == 3.25
    with pytest.raises(ValueError, match=r"item\(\) needs a tensor of one element"):
        x.item()
    assert x.double().dtype == np.float64 and x.double().float().dtype == np.float32
    assert x.to("cpu") is x and x.cpu() is x
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        x.to("tpu")


def test_truth_value():
    assert bool(mg.tensor([1.0]))
    assert not bool(mg.tensor(0.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(mg.ones(2))


def test_repr_shows_values_node_and_requires_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert "grad_fn=<mul>" in repr(x * 2)
    assert repr(mg.tensor([1.0])) == "tensor([1.])"


def test_operators_with_python_numbers_on_both_sides(rng):
    a = (np.abs(rng.standard_normal(4)) + 0.5).astype(np.float32)
    x = mg.tensor(a)
    cases = {
        "add": (x + 2, a + 2),
        "radd": (2 + x, 2 + a),
        "sub": (x - 2, a - 2),
        "rsub": (2 - x, 2 - a),
        "mul": (x * 2, a * 2),
        "rmul": (2 * x, 2 * a),
        "div": (x / 2, a / 2),
        "rdiv": (2 / x, 2 / a),
        "pow": (x**2, a**2),
        "rpow": (2**x, 2**a),
        "neg": (-x, -a),
    }
    for name, (ours, expected) in cases.items():
        assert ours.dtype == np.float32, name
        np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6, err_msg=name)


def test_numpy_array_on_the_left_defers_to_the_tensor(rng):
    a = rng.standard_normal(3).astype(np.float32)
    x = mg.tensor(a, requires_grad=True)
    for y in (np.ones(3, np.float32) * x, np.ones(3, np.float32) + x, np.ones(3, np.float32) - x):
        assert isinstance(y, mg.Tensor) and y.requires_grad


def test_tensors_hash_by_identity():
    x, y = mg.ones(2), mg.ones(2)
    assert len({x: 1, y: 2}) == 2


def test_method_and_function_forms_agree(rng):
    a = rng.standard_normal((3, 4))
    x = mg.tensor(a)
    pairs = [
        (x.exp(), mg.exp(x)),
        (x.tanh(), mg.tanh(x)),
        (x.sigmoid(), mg.sigmoid(x)),
        (x.relu(), mg.relu(x)),
        (x.abs(), mg.abs(x)),
        (x.clip(-1, 1), mg.clip(x, -1, 1)),
        (x.sum(1), mg.sum(x, 1)),
        (x.mean(0), mg.mean(x, 0)),
        (x.max(), mg.max(x)),
        (x.softmax(0), mg.softmax(x, 0)),
        (x.log_softmax(), mg.log_softmax(x)),
        (x.reshape(4, 3), mg.reshape(x, (4, 3))),
        (x.T, mg.transpose(x)),
        (x[1:], mg.getitem(x, np.s_[1:])),
        (x + x, mg.add(x, x)),
        (x - x, mg.sub(x, x)),
        (x * x, mg.mul(x, x)),
        (x / 2, mg.div(x, 2)),
        (x**2, mg.pow(x, 2)),
        (-x, mg.neg(x)),
        (x @ x.T, mg.matmul(x, x.T)),
    ]
    for method, function in pairs:
        np.testing.assert_array_equal(method.numpy(), function.numpy())


def test_grad_takes_a_tensor_and_refuses_what_an_optimizer_would_fail_on():
    """torch users assign tensors to .grad: the array is stored; a wrong shape, dtype or type is
    refused at the assignment with both shapes/dtypes named, not inside a later optimizer step."""
    p = mg.nn.Parameter(mg.zeros(3))
    p.grad = mg.tensor(np.array([1.0, 2.0, 3.0], np.float32))
    assert isinstance(p.grad, np.ndarray) and p.grad.tolist() == [1.0, 2.0, 3.0]
    mg.optim.SGD([p], lr=0.5, momentum=0.9).step()
    assert p.numpy().tolist() == [-0.5, -1.0, -1.5]
    with pytest.raises(ValueError, match=r"shape \(4,\), expected the tensor's shape \(3,\)"):
        p.grad = mg.zeros(4)
    with pytest.raises(TypeError, match="dtype float64, expected the tensor's dtype float32"):
        p.grad = np.zeros(3)
    with pytest.raises(TypeError, match="must be None, a Tensor or an array .* got list"):
        p.grad = [0.0, 0.0, 0.0]
    assert p.grad.tolist() == [1.0, 2.0, 3.0]  # a refused assignment leaves .grad as it was
    p.grad = None
    assert p.grad is None


def test_a_compiled_function_may_assign_a_tensor_to_grad():
    p = mg.nn.Parameter(mg.tensor(np.array([1.0, -2.0])))

    def step(x):
        loss = (p * x).sum()
        loss.backward()
        p.grad = mg.tensor(p.grad) * 2.0  # a user's own gradient scaling
        return loss

    x = mg.tensor(np.array([3.0, 4.0]))
    compiled = mg.compile(step)
    for _ in range(2):
        p.grad = None
        compiled(x)
        assert p.grad.tolist() == [6.0, 8.0]
