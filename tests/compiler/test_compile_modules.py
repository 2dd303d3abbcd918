"""mg.compile and the modules a function reads (fn's closure, globals, arguments, a bound
method's self): their mode (train/eval), their Python settings and which Parameter objects they
hold are part of the signature, so a switch to eval() or a replaced parameter traces again
instead of replaying the old program."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import minigrad as mg


class Net(mg.nn.Module):
    """Linear, dropout in training mode, tanh: the mode and p change what the program computes."""

    def __init__(self, p=0.5):
        super().__init__()
        self.fc = mg.nn.Linear(3, 4, rng=0, dtype=np.float64)
        self.p = p
        self.rng = np.random.default_rng(0)

    def forward(self, x):
        return mg.dropout(self.fc(x), self.p, self.rng, training=self.training).tanh()


def _x():
    return mg.tensor(np.random.default_rng(1).standard_normal((5, 3)))


def _held_by(how, net):
    """A compiled function reading net through its closure, an argument, a bound method, the
    module itself or a partial's argument; returns (compiled, call)."""
    if how == "closure":
        step = mg.compile(lambda x: net(x))
        return step, step
    if how == "argument":
        step = mg.compile(lambda m, x: m(x))
        return step, functools.partial(step, net)
    if how == "method":
        step = mg.compile(net.forward)
        return step, step
    if how == "module":
        step = mg.compile(net)
        return step, step
    step = mg.compile(functools.partial(lambda m, x: m(x), net))
    return step, step


@pytest.mark.parametrize("how", ["closure", "argument", "method", "module", "partial"])
def test_eval_after_train_traces_again_and_drops_no_unit(how):
    net, x = Net(), _x()
    step, call = _held_by(how, net)
    call(x)
    call(x)
    net.eval()
    out = call(x).numpy()
    np.testing.assert_allclose(out, np.tanh(net.fc(x).numpy()), rtol=1e-12, atol=1e-12)
    assert step.cache_info().traces == 2
    net.train()  # back to the first program: a hit, dropping units again
    dropped = call(x).numpy()
    assert step.cache_info().traces == 2
    assert not np.allclose(dropped, out)


def test_a_changed_dropout_probability_traces_again():
    net, x = Net(p=0.5), _x()
    step = mg.compile(lambda x: net(x))
    step(x)
    net.p = 0.0
    np.testing.assert_allclose(step(x).numpy(), np.tanh(net.fc(x).numpy()), rtol=1e-12,
                               atol=1e-12)
    assert step.cache_info().traces == 2


def test_a_replaced_parameter_object_is_read_by_the_next_call():
    net, x = Net(p=0.0), _x()
    step = mg.compile(lambda x: net(x))
    step(x)
    step(x)
    net.fc.weight = mg.nn.Parameter(net.fc.weight.data * 3.0)
    expected = np.tanh(x.numpy() @ net.fc.weight.numpy().T + net.fc.bias.numpy())
    np.testing.assert_allclose(step(x).numpy(), expected, rtol=1e-12, atol=1e-12)
    assert step.cache_info().traces == 2


def test_an_unchanged_module_keeps_its_program():
    """Module attribute writes elsewhere (another module built) reread the structure but find
    it the same: no new trace."""
    net, x = Net(p=0.0), _x()
    step = mg.compile(lambda x: net(x))
    for _ in range(3):
        step(x)
        mg.nn.Linear(2, 2)
    assert step.cache_info()[:3] == (1, 2, 1)


def _train_switching_modes(compiled):
    net, x = Net(p=0.3), _x()
    opt = mg.optim.SGD(net.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (net(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    run = mg.compile(step) if compiled else step
    losses = []
    for mode in (True, True, False, True, False):
        net.train(mode)
        losses.append(run(x).numpy())
    return net.fc.weight.numpy(), losses


def test_a_training_step_follows_eval_and_train_as_eager():
    """The same steps (train, train, eval, train, eval), eager and compiled, give the same
    losses and end with the same weights."""
    (w_eager, l_eager), (w_compiled, l_compiled) = (_train_switching_modes(False),
                                                    _train_switching_modes(True))
    np.testing.assert_allclose(w_compiled, w_eager, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(l_compiled, l_eager, rtol=1e-10, atol=1e-12)
