"""LSTM, GRU, RNN on an unbatched input (seq_len, input_size), as torch.nn takes it: outputs
and final states without the batch axis, the gradients of every weight, the input and the
given states equal to torch's in float64, eager and under mg.compile."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm import GRU, LSTM, RNN

LAYERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


def _ours(kind, layers, bidirectional, batch_first, proj, compiled, x, states, weights):
    kw = {"proj_size": proj} if proj else {}
    module = LAYERS[kind](3, 5, num_layers=layers, bidirectional=bidirectional,
                          batch_first=batch_first, rng=3, dtype=np.float64, **kw)
    inputs = [mg.tensor(a, requires_grad=True) for a in (x, *states)]

    def loss_of(x, *states):
        out, finals = module(x, (states if kind == "lstm" else states[0]) if states else None)
        finals = finals if kind == "lstm" else (finals,)
        return sum(((t * mg.tensor(w)).sum() for t, w in zip((out, *finals), weights)),
                   mg.zeros((), dtype=np.float64))

    run = mg.compile(loss_of) if compiled else loss_of
    for _ in range(2 if compiled else 1):  # the compiled one: the trace, then the program
        for t in (*inputs, *module.parameters()):
            t.grad = None
        loss = run(*inputs)
        loss.backward()
    grads = {name: p.grad for name, p in module.named_parameters()}
    return module, loss.item(), [t.grad for t in inputs], grads


@pytest.mark.parametrize("kind,layers,bidirectional,batch_first,proj", [
    ("lstm", 1, False, False, 0), ("lstm", 2, True, True, 0), ("lstm", 2, True, False, 2),
    ("gru", 2, True, False, 0), ("rnn", 1, False, True, 0)])
@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_unbatched_equals_torch(kind, layers, bidirectional, batch_first, proj, compiled,
                                with_state):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    directions = 2 if bidirectional else 1
    steps, out_size = 6, proj or 5
    x = rng.standard_normal((steps, 3))
    sizes = [out_size, 5] if kind == "lstm" else [out_size]
    states = [rng.standard_normal((layers * directions, n)) for n in sizes] if with_state else []
    weights = [rng.standard_normal((steps, directions * out_size))] + [
        rng.standard_normal((layers * directions, n)) for n in sizes]
    module, loss, grads, weight_grads = _ours(kind, layers, bidirectional, batch_first, proj,
                                              compiled, x, states, weights)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    kw = {"proj_size": proj} if proj else {}
    theirs = cls(3, 5, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first,
                 **kw).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in module.state_dict().items()})
    inputs = [torch.tensor(a, requires_grad=True) for a in (x, *states)]
    given = (tuple(inputs[1:]) if kind == "lstm" else inputs[1]) if states else None
    out, finals = theirs(inputs[0], given)
    finals = finals if kind == "lstm" else (finals,)
    expected = sum((t * torch.tensor(w)).sum() for t, w in zip((out, *finals), weights))
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-10)
    for ours, t in zip(grads, inputs):
        np.testing.assert_allclose(ours, t.grad.numpy(), rtol=1e-9, atol=1e-12)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(weight_grads[name], p.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def test_unbatched_shapes():
    module = LSTM(3, 4, num_layers=2, bidirectional=True, dtype=np.float64)
    out, (h, c) = module(mg.tensor(np.ones((7, 3))))
    assert out.shape == (7, 8) and h.shape == (4, 4) and c.shape == (4, 4)
