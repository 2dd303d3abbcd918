"""LSTM(..., proj_size=P) against torch.nn.LSTM's proj_size with the same weights: outputs,
final states, input and weight gradients, both dtypes, packed lengths, directions, layers."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm import LSTM

I, H, P, T, B = 3, 6, 4, 7, 4
IMPLS = ["fused", "composed"]


def _ours(x, layer, lengths, weights, dtype):
    xm = mg.tensor(x.astype(dtype), requires_grad=True)
    out, (h_n, c_n) = layer(xm, lengths=lengths)
    loss = (out * weights[0].astype(dtype)).sum() + (h_n * weights[1].astype(dtype)).sum() + \
        (c_n * weights[2].astype(dtype)).sum()
    layer.zero_grad()
    loss.backward()
    grads = {n: p.grad.copy() for n, p in layer.named_parameters()}
    return [out.numpy(), h_n.numpy(), c_n.numpy(), xm.grad], grads


def _theirs(torch, x, layer, lengths, weights, dtype):
    xt = torch.tensor(x.astype(dtype), requires_grad=True)
    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                         enforce_sorted=False)
        out, (h_n, c_n) = layer(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    else:
        out, (h_n, c_n) = layer(xt)
    loss = sum((v * torch.tensor(w.astype(dtype))).sum() for v, w in zip((out, h_n, c_n),
                                                                        weights))
    loss.backward()
    grads = {n: p.grad.numpy() for n, p in layer.named_parameters()}
    return [out.detach().numpy(), h_n.detach().numpy(), c_n.detach().numpy(),
            xt.grad.numpy()], grads


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-5)])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_projected_lstm_equals_torch(impl, dtype, tol, num_layers, bidirectional, with_lengths):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.LSTM(I, H, num_layers=num_layers, bidirectional=bidirectional,
                           proj_size=P)
    theirs = theirs.double() if dtype == np.float64 else theirs
    ours = LSTM(I, H, num_layers=num_layers, bidirectional=bidirectional, proj_size=P,
                impl=impl, rng=0, dtype=dtype)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        assert ours.state_dict()[name].shape == tuple(value.shape), name
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I))
    lengths = np.array([3, 7, 1, 5]) if with_lengths else None
    D = 2 if bidirectional else 1
    weights = [rng.standard_normal((T, B, D * P)), rng.standard_normal((num_layers * D, B, P)),
               rng.standard_normal((num_layers * D, B, H))]
    a, grads_a = _ours(x, ours, lengths, weights, dtype)
    b, grads_b = _theirs(torch, x, theirs, lengths, weights, dtype)
    assert a[1].shape == (num_layers * D, B, P) and a[2].shape == (num_layers * D, B, H)
    for u, v, what in zip(a, b, ("out", "h_n", "c_n", "dx")):
        np.testing.assert_allclose(u, v, rtol=tol, atol=tol, err_msg=what)
    for name, g in grads_a.items():
        np.testing.assert_allclose(g, grads_b[name], rtol=tol, atol=tol, err_msg=name)


def test_projected_lstm_initial_states_and_options():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.LSTM(I, H, proj_size=P, batch_first=True).double()
    ours = LSTM(I, H, proj_size=P, batch_first=True, dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(2)
    x, h0, c0 = (rng.standard_normal(s) for s in ((B, T, I), (1, B, P), (1, B, H)))
    out, (h_n, c_n) = ours(mg.tensor(x), (mg.tensor(h0), mg.tensor(c0)))
    t_out, (t_h, t_c) = theirs(torch.tensor(x), (torch.tensor(h0), torch.tensor(c0)))
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c_n.numpy(), t_c.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert ours.output_size == P and ours.proj_size == P
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, 4, 4\)"):
        ours(mg.tensor(x), (mg.tensor(np.zeros((1, B, H))), mg.tensor(c0)))
    with pytest.raises(ValueError, match="proj_size must be an integer >= 0, got -1"):
        LSTM(I, H, proj_size=-1)
    with pytest.raises(ValueError, match="proj_size must be an integer in 1..hidden_size-1"):
        LSTM(I, H, proj_size=H)
    with pytest.raises(ValueError, match="init_hh.*needs proj_size=0"):
        LSTM(I, H, proj_size=P, init_hh="orthogonal")
