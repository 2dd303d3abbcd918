"""nn: registration, naming as torch.nn, state dicts, train/eval, Linear and Embedding vs torch."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import Embedding, Linear, Module, Parameter


class Inner(Module):
    def __init__(self, rng):
        super().__init__()
        self.emb = Embedding(5, 3, rng=rng)
        self.proj = Linear(3, 2, rng=rng)


class Net(Module):
    def __init__(self, rng=0):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.first = Linear(3, 4, rng=rng)
        self.inner = Inner(rng)
        self.scale = Parameter(np.ones(2, np.float32))
        self.last = Linear(2, 1, bias=False, rng=rng)

    def forward(self, idx):
        h = self.inner.proj(self.first(self.inner.emb(idx)).tanh()[..., :3]) * self.scale
        return self.last(h)


NAMES = [
    "scale",
    "first.weight",
    "first.bias",
    "inner.emb.weight",
    "inner.proj.weight",
    "inner.proj.bias",
    "last.weight",
]


def test_named_parameters_order_and_names():
    net = Net()
    assert [name for name, _ in net.named_parameters()] == NAMES
    assert [p for _, p in net.named_parameters()] == net.parameters()
    assert [name for name, _ in net.named_modules()] == [
        "",
        "first",
        "inner",
        "inner.emb",
        "inner.proj",
        "last",
    ]
    assert net.children() == [net.first, net.inner, net.last]
    assert net.num_parameters() == 2 + 12 + 4 + 15 + 6 + 2 + 2


def test_named_parameters_match_torch_for_the_same_structure(torch):
    nn = torch.nn

    class TorchInner(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 3)
            self.proj = nn.Linear(3, 2)

    class TorchNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Linear(3, 4)
            self.inner = TorchInner()
            self.scale = nn.Parameter(torch.ones(2))
            self.last = nn.Linear(2, 1, bias=False)

    reference = TorchNet()
    assert [n for n, _ in reference.named_parameters()] == NAMES
    net = Net()
    net.load_state_dict(reference.state_dict())
    for name, p in net.named_parameters():
        np.testing.assert_array_equal(p.numpy(), reference.state_dict()[name].numpy())
        assert p.shape == tuple(reference.state_dict()[name].shape)


def test_registration_follows_assignment():
    net = Net()
    net.last = None  # replacing a module unregisters it
    assert "last.weight" not in dict(net.named_parameters())
    net.extra = Parameter(np.zeros(3, np.float32))
    assert list(dict(net.named_parameters()))[:2] == ["scale", "extra"]  # own ones come first
    del net.extra
    assert "extra" not in dict(net.named_parameters())
    net.plain = mg.tensor(np.zeros(2))  # a plain Tensor is not a parameter
    assert "plain" not in dict(net.named_parameters())


def test_a_shared_parameter_is_listed_once():
    net = Net()
    net.inner.proj.weight = net.first.weight
    names = [n for n, _ in net.named_parameters()]
    assert "first.weight" in names and "inner.proj.weight" not in names


def test_assignment_before_super_init_is_a_clear_error():
    class Broken(Module):
        def __init__(self):
            self.w = Parameter(np.zeros(2, np.float32))

    with pytest.raises(RuntimeError, match=r"must call super\(\).__init__\(\)"):
        Broken()


def test_state_dict_round_trip_reproduces_outputs():
    source, target = Net(rng=1), Net(rng=2)
    idx = np.array([[0, 4], [2, 2]])
    assert not np.allclose(source(idx).numpy(), target(idx).numpy())
    state = source.state_dict()
    assert list(state) == NAMES
    target.load_state_dict(state)
    np.testing.assert_array_equal(source(idx).numpy(), target(idx).numpy())
    state["scale"][:] = 100.0  # the state dict holds copies
    assert source.scale.numpy()[0] == 1.0


def test_load_state_dict_casts_to_the_parameter_dtype():
    net = Net()
    state = {k: v.astype(np.float64) for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    assert all(p.dtype == np.float32 for p in net.parameters())


def test_load_state_dict_shape_mismatch_names_key_and_shapes():
    net = Net()
    state = net.state_dict()
    state["first.weight"] = np.zeros((3, 4), np.float32)
    with pytest.raises(
        ValueError,
        match=r"first.weight has shape \(3, 4\) in the state dict but "
        r"\(4, 3\) in the module",
    ):
        net.load_state_dict(state)


def test_load_state_dict_strict_missing_and_unexpected():
    net = Net()
    state = net.state_dict()
    del state["last.weight"]
    state["bogus"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"missing \['last.weight'\], unexpected \['bogus'\]"):
        net.load_state_dict(state)
    before = net.last.weight.numpy().copy()
    state["first.bias"] = np.full(4, 7.0, np.float32)
    net.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(net.first.bias.numpy(), 7.0)
    np.testing.assert_array_equal(net.last.weight.numpy(), before)


def test_train_eval_flags_reach_every_submodule():
    net = Net()
    assert all(m.training for _, m in net.named_modules())
    assert net.eval() is net
    assert not any(m.training for _, m in net.named_modules())
    net.train()
    assert all(m.training for _, m in net.named_modules())


def test_zero_grad_and_dtype_moves():
    net = Net()
    net(np.array([1, 2])).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.to("cpu") is net
    net.double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net(np.array([1])).dtype == np.float64
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())


def test_module_gradcheck_in_float64():
    net = Net().double()
    idx = np.array([[0, 3], [4, 4]])
    names = [n for n, _ in net.named_parameters()]
    arrays = [p.numpy() for p in net.parameters()]

    def run(*params):
        for name, p in zip(names, params):
            module, attr = net, name
            while "." in attr:
                head, attr = attr.split(".", 1)
                module = getattr(module, head)
            object.__setattr__(module, attr, p)
        return net(idx)

    assert mg.gradcheck(run, arrays)


# ---- Linear and Embedding ----------------------------------------------------------------------


def test_linear_init_bounds_and_shapes():
    layer = Linear(16, 5, rng=0)
    bound = 1 / np.sqrt(16)
    assert layer.weight.shape == (5, 16) and layer.bias.shape == (5,)
    for p in (layer.weight, layer.bias):
        assert np.all(np.abs(p.numpy()) <= bound) and p.numpy().std() > bound / 4
    assert repr(layer) == "Linear(16, 5, bias=True)"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(4, 3), (2, 5, 3), (3,)], ids=str)
def test_linear_matches_torch(shape, bias, dtype, rng, torch):
    reference = torch.nn.Linear(3, 6, bias=bias).to(getattr(torch, np.dtype(dtype).name))
    layer = Linear(3, 6, bias=bias, dtype=dtype)
    layer.load_state_dict(reference.state_dict())
    a = rng.standard_normal(shape).astype(dtype)
    x = mg.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    y, expected = layer(x), reference(t)
    assert y.dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(y.numpy(), expected.detach().numpy(), rtol=rtol, atol=rtol)
    u = rng.standard_normal(y.shape).astype(dtype)
    y.backward(u)
    expected.backward(torch.tensor(u))
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=rtol, atol=rtol)
    for name, p in layer.named_parameters():
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(
            p.grad, getattr(reference, name).grad.numpy(), rtol=rtol, atol=rtol, err_msg=name
        )


def test_linear_rejects_wrong_feature_count():
    with pytest.raises(
        ValueError,
        match=r"Linear: input has 4 features \(shape \(2, 4\)\), "
        r"expected 3",
    ):
        Linear(3, 2)(mg.ones(2, 4))
    with pytest.raises(ValueError, match="in_features and out_features must be >= 1"):
        Linear(0, 2)
    with pytest.raises(TypeError, match="in_features must be an integer >= 1, got float 3.5"):
        Linear(3.5, 2)
    with pytest.raises(TypeError, match="out_features must be an integer >= 1, got bool"):
        Linear(3, True)


def test_embedding_matches_torch_with_repeated_indices(rng, torch):
    reference = torch.nn.Embedding(6, 4)
    layer = Embedding(6, 4)
    layer.load_state_dict(reference.state_dict())
    idx = np.array([[0, 5, 5], [2, 0, 5]])
    y = layer(idx)
    expected = reference(torch.tensor(idx))
    np.testing.assert_array_equal(y.numpy(), expected.detach().numpy())
    u = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(u)
    expected.backward(torch.tensor(u))
    np.testing.assert_allclose(layer.weight.grad, reference.weight.grad.numpy(), rtol=1e-6)
    assert np.all(layer.weight.grad[[1, 3, 4]] == 0)


def test_embedding_index_errors():
    layer = Embedding(4, 2, rng=0)
    with pytest.raises(ValueError, match=r"indices must be in \[0, 4\), got min 0 max 4"):
        layer(np.array([0, 4]))
    with pytest.raises(ValueError, match="indices must be integers"):
        layer(np.array([0.0, 1.0]))
    assert layer(mg.tensor(np.array([3, 1]))).shape == (2, 2)
