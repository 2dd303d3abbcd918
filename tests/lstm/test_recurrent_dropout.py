"""Variational recurrent dropout: one mask per sequence on the recurrent products, drawn from the
layer's rng, off in eval mode; against hand-unrolled numpy steps; gradients; every cell."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import minigrad as mg
from lstm import GRU, LSTM, RNN, Recurrent
from lstm.cells import GRUCell, LSTMCell, RNNCell
from lstm.recurrent_dropout import draw_masks

from .test_cell_zoo import CELLS, FUSED

I, H, B, T, P_DROP = 3, 5, 4, 6, 0.4
LENGTHS = np.array([6, 2, 5, 3])


def _sig(a):
    return 1 / (1 + np.exp(-a))


def test_masks_are_scaled_bernoulli_draws():
    masks = [m.numpy() for m in draw_masks(np.random.default_rng(0), 0.25, 400, (50, 30),
                                           np.float32)]
    assert [m.shape for m in masks] == [(400, 50), (400, 30)]
    assert masks[0].dtype == np.float32
    assert set(np.unique(masks[0])) == {0.0, np.float32(1 / 0.75)}
    assert abs((masks[0] == 0).mean() - 0.25) < 0.01
    again = draw_masks(np.random.default_rng(0), 0.25, 400, (50, 30), np.float32)
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(masks, again))


@pytest.mark.parametrize("with_lengths", [False, True])
def test_rnn_masks_the_state_before_the_recurrent_product(with_lengths):
    layer = RNN(I, H, recurrent_dropout=P_DROP, impl="composed", rng=1, dtype=np.float64)
    rng = np.random.default_rng(2)
    x, h0 = rng.standard_normal((T, B, I)), rng.standard_normal((1, B, H))
    (mask,) = [m.numpy() for m in draw_masks(copy.deepcopy(layer.rng), P_DROP, B, (H,),
                                             np.float64)]
    lengths = LENGTHS if with_lengths else np.full(B, T)
    out, h_n = layer(mg.tensor(x), mg.tensor(h0), lengths=lengths if with_lengths else None)
    p = {n: v.numpy() for n, v in layer.named_parameters()}
    h, outs = h0[0], []
    for t in range(T):
        new = np.tanh(x[t] @ p["weight_ih_l0"].T + p["bias_ih_l0"] +
                      (h * mask) @ p["weight_hh_l0"].T + p["bias_hh_l0"])
        valid = (t < lengths)[:, None]
        h = np.where(valid, new, h)
        outs.append(np.where(valid, new, 0.0))
    np.testing.assert_allclose(out.numpy(), np.stack(outs), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.numpy()[0], h, rtol=1e-12)
    assert (mask == 0).any() and (mask != 0).any()


def test_gru_carries_the_unmasked_state():
    """Only the products see the mask: h' = (1 - z) n + z h uses h itself (Gal's GRU)."""
    layer = GRU(I, H, recurrent_dropout=P_DROP, impl="composed", rng=3, dtype=np.float64)
    rng = np.random.default_rng(4)
    x, h0 = rng.standard_normal((T, B, I)), rng.standard_normal((1, B, H))
    (mask,) = [m.numpy() for m in draw_masks(copy.deepcopy(layer.rng), P_DROP, B, (H,),
                                             np.float64)]
    out, h_n = layer(mg.tensor(x), mg.tensor(h0))
    p = {n: v.numpy() for n, v in layer.named_parameters()}
    h = h0[0]
    for t in range(T):
        gx = x[t] @ p["weight_ih_l0"].T + p["bias_ih_l0"]
        gh = (h * mask) @ p["weight_hh_l0"].T + p["bias_hh_l0"]
        r, z = _sig(gx[:, :H] + gh[:, :H]), _sig(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
    np.testing.assert_allclose(h_n.numpy()[0], h, rtol=1e-12)


def test_one_mask_per_layer_and_direction_in_rng_order():
    """LSTM, 2 layers, both directions: masks for h and c per (layer, direction) in that
    order; with W_hh zeroed, the output does not depend on them, with them it does."""
    layer = LSTM(I, H, num_layers=2, bidirectional=True, recurrent_dropout=P_DROP,
                 impl="composed", rng=5, dtype=np.float64)
    plain = LSTM(I, H, num_layers=2, bidirectional=True, impl="composed", rng=0,
                 dtype=np.float64)
    plain.load_state_dict(layer.state_dict())
    x = mg.tensor(np.random.default_rng(6).standard_normal((T, B, I)))
    before = copy.deepcopy(layer.rng)
    a, _ = layer(x)
    expected_state = copy.deepcopy(before)
    for _ in range(4):
        draw_masks(expected_state, P_DROP, B, (H, H), np.float64)
    assert layer.rng.bit_generator.state == expected_state.bit_generator.state
    assert not np.allclose(a.numpy(), plain(x)[0].numpy())
    layer.rng = copy.deepcopy(before)
    b, _ = layer(x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())  # reproducible from the rng
    c, _ = layer(x)
    assert not np.allclose(b.numpy(), c.numpy())  # a new mask for the next sequence batch
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0].numpy(), plain(x)[0].numpy())
    for suffix in ("_l0", "_l0_reverse", "_l1", "_l1_reverse"):
        getattr(layer, "weight_hh" + suffix).data[:] = 0.0
        getattr(plain, "weight_hh" + suffix).data[:] = 0.0
    layer.train()
    np.testing.assert_allclose(layer(x)[0].numpy(), plain(x)[0].numpy(), rtol=1e-14)


@pytest.mark.parametrize("name,impl", [(n, "composed") for n in list(CELLS) + ["lstm", "gru"]]
                         + [(n, "fused") for n in ("lstm-peephole", "gru-cho", "lstm")])
def test_gradcheck_with_recurrent_dropout(name, impl):
    if name in CELLS:
        cell, options = CELLS[name]
        layer = Recurrent(cell, I, H, recurrent_dropout=P_DROP,
                          impl=impl, rng=7, dtype=np.float64, **options)
    else:
        layer = {"lstm": LSTM, "gru": GRU}[name](I, H, bidirectional=True, impl=impl,
                                                 recurrent_dropout=P_DROP, rng=7,
                                                 dtype=np.float64)
    names = [n for n, _ in layer.named_parameters()]
    start = copy.deepcopy(layer.rng)
    x = np.random.default_rng(8).standard_normal((T, B, I))

    def run(x, *weights):
        layer.rng = copy.deepcopy(start)  # the same masks at every evaluation
        for n, value in zip(names, weights):
            object.__setattr__(layer, n, value)
        out, final = layer(x, lengths=LENGTHS)
        finals = final if isinstance(final, tuple) else (final,)
        return mg.concat([out.reshape(-1)] + [s.reshape(-1) for s in finals])

    params = [p.numpy() for _, p in layer.named_parameters()]
    assert mg.gradcheck(run, [x, *params], atol=1e-6, rtol=1e-5)


def test_recurrent_dropout_arguments():
    for bad in (-0.1, 1.0, True):
        with pytest.raises(ValueError, match=r"recurrent_dropout must be a number in \[0, 1\)"):
            LSTM(I, H, recurrent_dropout=bad)
    layer = LSTM(I, H, recurrent_dropout=0.3)
    with pytest.raises(ValueError, match="grad_norms with recurrent_dropout.*impl='composed'"):
        layer(mg.tensor(np.zeros((T, B, I), np.float32)), grad_norms={})


BUILT_IN = {"lstm": LSTMCell, "gru": GRUCell, "rnn": RNNCell}


@pytest.mark.parametrize("name", list(FUSED) + list(BUILT_IN))
def test_fused_equals_composed_with_recurrent_dropout(name):
    """Same seed, same masks: fused == composed to 1e-10 in float64 (outputs, final states,
    dx, every gradient), lengths, both directions, 2 layers; eval mode too."""
    cell, options = CELLS[name] if name in CELLS else (BUILT_IN[name], {})
    layers = [Recurrent(cell, I, H, num_layers=2, bidirectional=True, recurrent_dropout=P_DROP,
                        impl=impl, rng=9, dtype=np.float64, **options)
              for impl in ("fused", "composed")]
    x = np.random.default_rng(10).standard_normal((T, B, I))
    for training in (True, False):
        results = []
        for layer in layers:
            layer.train(training)
            xm = mg.tensor(x, requires_grad=True)
            out, final = layer(xm, lengths=LENGTHS)
            finals = final if isinstance(final, tuple) else (final,)
            loss = (out * out).sum() + sum((f * f).sum() for f in finals)
            layer.zero_grad()
            loss.backward()
            results.append([out.numpy(), *(f.numpy() for f in finals), xm.grad] +
                           [p.grad for _, p in layer.named_parameters()])
        for a, b in zip(*results, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert layers[0].rng.bit_generator.state == layers[1].rng.bit_generator.state


@pytest.mark.parametrize("impl", ["fused", "composed"])
def test_a_compiled_step_draws_new_masks_on_every_call_as_eager(impl):
    """The masks come from the backend's dropout_mask, which mg.compile records: the compiled
    step draws from the layer's rng on every call, so it matches eager call for call."""
    x = mg.tensor(np.random.default_rng(12).standard_normal((T, B, I)))
    layers = [LSTM(I, H, recurrent_dropout=P_DROP, impl=impl, rng=11, dtype=np.float64)
              for _ in range(2)]

    def step_of(layer):
        def step(x):
            out, _ = layer(x)
            loss = (out * out).sum()
            loss.backward()
            return loss
        return step

    eager, compiled = step_of(layers[0]), mg.compile(step_of(layers[1]))
    losses = []
    for _ in range(3):
        losses.append((eager(x).item(), compiled(x).item()))
        for a, b in zip(layers[0].parameters(), layers[1].parameters()):
            np.testing.assert_allclose(b.grad, a.grad, rtol=1e-12)
            a.grad = b.grad = None
    np.testing.assert_allclose([c for _, c in losses], [e for e, _ in losses], rtol=1e-12)
    assert len({e for e, _ in losses}) == 3  # new masks on every call
    assert compiled.cache_info().traces == 1
