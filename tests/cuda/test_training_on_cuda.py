"""Devices end to end: moves, device-mismatch errors, optimizer state and updates, dropout, a
training step on CUDA against the same step on the CPU, and counting host <-> device copies."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda as numba_cuda

import minigrad as mg
from minigrad import nn, optim
from minigrad.backends import cpu, get

pytestmark = pytest.mark.cuda
CUDA = get("cuda")


class TwoLayer(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.hidden = nn.Linear(3, 5, rng=rng)
        self.out = nn.Linear(5, 2, rng=rng)

    def forward(self, x):
        return self.out(self.hidden(x).tanh())


def train(device, make_optimizer, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = rng.standard_normal((4, 2)).astype(np.float32)
    model = TwoLayer(np.random.default_rng(7)).to(device)
    opt = make_optimizer(model.parameters())
    xs, ys = mg.tensor(x, device=device), mg.tensor(y, device=device)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = mg.mse_loss(model(xs), ys)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, model.state_dict(), opt.state_dict()


OPTIMIZERS = {
    "adam": lambda ps: optim.Adam(ps, lr=0.05, weight_decay=0.01),
    "sgd_nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                         weight_decay=0.01),
    "sgd_dampening": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5, dampening=0.3),
    "rmsprop_centered": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, weight_decay=0.1),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_steps_on_cuda_match_cpu(name):
    losses_cpu, params_cpu, state_cpu = train("cpu", OPTIMIZERS[name])
    losses_cuda, params_cuda, state_cuda = train("cuda", OPTIMIZERS[name])
    assert losses_cpu[-1] < losses_cpu[0]  # the step does something
    np.testing.assert_allclose(losses_cuda, losses_cpu, rtol=1e-5)
    for key in params_cpu:
        np.testing.assert_allclose(params_cuda[key], params_cpu[key], rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    assert sorted(state_cuda) == sorted(state_cpu)
    for key in state_cpu:
        np.testing.assert_allclose(state_cuda[key], state_cpu[key], rtol=1e-4, atol=1e-6,
                                   err_msg=key)


def test_module_to_moves_parameters_and_gradients():
    model = TwoLayer(np.random.default_rng(0))
    before = model.state_dict()
    x = mg.tensor(np.ones((2, 3), np.float32))
    model(x).sum().backward()
    model.to("cuda")
    for name, p in model.named_parameters():
        assert p.device == "cuda" and CUDA.is_device_array(p.grad), name
        np.testing.assert_array_equal(p.numpy(), before[name])
    out = model(x.to("cuda"))
    assert out.device == "cuda"
    model.to("cpu")
    assert all(isinstance(p.data, np.ndarray) for p in model.parameters())


def test_optimizer_state_is_created_on_and_follows_the_parameters_device():
    model = TwoLayer(np.random.default_rng(0))
    opt = optim.Adam(model.parameters(), lr=0.1)
    x = mg.tensor(np.ones((2, 3), np.float32))
    model(x).sum().backward()
    opt.step()
    exp_avg = cpu.copy(opt.state[0]["exp_avg"])
    model.to("cuda")
    opt.zero_grad()
    model(x.to("cuda")).sum().backward()
    opt.step()
    for s in opt.state:
        assert all(CUDA.is_device_array(s[n]) for n in opt.state_names)
    moved = CUDA.to_host(opt.state[0]["exp_avg"])
    assert not np.allclose(moved, exp_avg)  # updated on the device from the moved state
    np.testing.assert_allclose(moved, 0.9 * exp_avg + 0.1 * CUDA.to_host(model.hidden.weight.grad),
                               rtol=1e-5)


def test_tensor_moves_round_trip_and_gradients_flow_back():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = mg.tensor(a, requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda" and y.to("cuda") is y
    np.testing.assert_array_equal(y.numpy(), a)
    (y * y).sum().to("cpu").backward()
    np.testing.assert_array_equal(x.grad, 2 * a)
    assert isinstance(x.grad, np.ndarray)
    assert mg.tensor(a, device="cuda").cpu().device == "cpu"


MIXED = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "matmul": lambda a, b: a @ b.T,
    "where": lambda a, b: mg.where(np.ones((2, 2), bool), a, b),
    "compare": lambda a, b: a < b,
    "mse_loss": lambda a, b: mg.mse_loss(a, b),
    "concat": lambda a, b: mg.concat([a, b]),
    "stack": lambda a, b: mg.stack([a, b]),
}


@pytest.mark.parametrize("name", sorted(MIXED))
@pytest.mark.parametrize("cuda_first", [True, False])
def test_operands_on_different_devices_raise(name, cuda_first):
    a = mg.tensor(np.ones((2, 2), np.float32), device="cuda")
    b = mg.tensor(np.ones((2, 2), np.float32))
    a, b = (a, b) if cuda_first else (b, a)
    with pytest.raises(ValueError, match=r"(?i)device|cuda"):
        MIXED[name](a, b)


def test_backend_rejects_host_arrays():
    with pytest.raises(ValueError, match="device array"):
        CUDA.add(np.ones(3, np.float32), CUDA.ones((3,), np.float32))


def test_dropout_on_cuda_masks_at_rate_p_and_reuses_the_mask_backwards():
    x = mg.tensor(np.ones((40, 25), np.float32), requires_grad=True, device="cuda")
    y = mg.dropout(x, 0.3, rng=np.random.default_rng(5))
    out = y.numpy()
    kept = out != 0
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.7)}
    assert abs(kept.mean() - 0.7) < 0.05  # 1000 draws: 4 standard deviations
    y.sum().backward()
    np.testing.assert_array_equal(CUDA.to_host(x.grad), out)  # d/dx = mask
    again = mg.dropout(x, 0.3, rng=np.random.default_rng(5)).numpy()
    other = mg.dropout(x, 0.3, rng=np.random.default_rng(6)).numpy()
    np.testing.assert_array_equal(again, out)
    assert (other != out).any()


# ---- counting host <-> device copies -----------------------------------------------------------


@pytest.fixture
def transfers(monkeypatch):
    """Counts of host-to-device (cuda.to_device) and device-to-host (copy_to_host) copies."""
    counts = {"to_device": 0, "to_host": 0}
    to_device, to_host = numba_cuda.to_device, CUDA.ndarray.copy_to_host

    def counting_to_device(*args, **kwargs):
        counts["to_device"] += 1
        return to_device(*args, **kwargs)

    def counting_to_host(self, *args, **kwargs):
        counts["to_host"] += 1
        return to_host(self, *args, **kwargs)

    monkeypatch.setattr(numba_cuda, "to_device", counting_to_device)
    monkeypatch.setattr(CUDA.ndarray, "copy_to_host", counting_to_host)
    return counts


def test_transfer_counter_sees_copies(transfers):
    x = mg.tensor(np.ones(3, np.float32), device="cuda")
    x.numpy()
    assert transfers == {"to_device": 1, "to_host": 1}


def test_a_training_step_on_cuda_makes_no_host_copies(transfers):
    rng = np.random.default_rng(0)
    model = TwoLayer(rng).to("cuda")
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = mg.tensor(rng.standard_normal((4, 3)).astype(np.float32), device="cuda")
    y = mg.tensor(rng.standard_normal((4, 2)).astype(np.float32), device="cuda")
    targets = np.array([0, 1, 1, -100])
    counted = dict(transfers)
    for _ in range(2):
        opt.zero_grad()
        out = model(x)
        loss = mg.mse_loss(out, y) + mg.cross_entropy(out, targets) * 0.5
        loss = loss + mg.dropout(out, 0.5, rng=rng).relu().max() + out.softmax().sum()
        loss.backward()
        opt.step()
    # only the integer targets go up (once per cross_entropy call); nothing comes back
    assert transfers == {"to_device": counted["to_device"] + 2, "to_host": counted["to_host"]}
    loss.item()
    assert transfers["to_host"] == counted["to_host"] + 1
