"""Sequence layers: fused == composed, both == torch.nn, bad input, init options, long sequences."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm import GRU, LSTM, RNN

LAYERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


def _run(module, x, lengths=None, state=None, loss_weights=None):
    """Forward, a loss touching out, h_n (and c_n), backward; returns arrays to compare."""
    xm = mg.tensor(x, requires_grad=True)
    if isinstance(module, LSTM):
        out, (h_n, c_n) = module(xm, state, lengths=lengths)
        finals = [h_n, c_n]
    else:
        out, h_n = module(xm, None if state is None else state[0], lengths=lengths)
        finals = [h_n]
    w_out, *w_finals = loss_weights
    loss = (out * w_out).sum()
    for f, w in zip(finals, w_finals):
        loss = loss + (f * w).sum()
    module.zero_grad()
    loss.backward()
    grads = {name: p.grad.copy() for name, p in module.named_parameters()}
    return out.numpy(), [f.numpy() for f in finals], xm.grad, grads


def _pair(mode, dtype, num_layers, bidirectional, **kw):
    fused = LAYERS[mode](3, 5, num_layers=num_layers, bidirectional=bidirectional, rng=7,
                         dtype=dtype, impl="fused", **kw)
    composed = LAYERS[mode](3, 5, num_layers=num_layers, bidirectional=bidirectional, rng=0,
                            dtype=dtype, impl="composed", **kw)
    composed.load_state_dict(fused.state_dict())
    return fused, composed


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True), (3, False)])
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_fused_equals_composed(mode, num_layers, bidirectional, dtype, rtol, with_lengths,
                               with_state):
    rng = np.random.default_rng(1)
    steps, batch, hidden = 6, 4, 5
    fused, composed = _pair(mode, dtype, num_layers, bidirectional)
    x = rng.standard_normal((steps, batch, 3)).astype(dtype)
    lengths = np.array([6, 2, 5, 1]) if with_lengths else None
    n_states = num_layers * (2 if bidirectional else 1)
    state = None
    if with_state:
        state = tuple(mg.tensor(rng.standard_normal((n_states, batch, hidden)).astype(dtype))
                      for _ in range(2 if mode == "lstm" else 1))
    width = hidden * (2 if bidirectional else 1)
    weights = [rng.standard_normal((steps, batch, width)).astype(dtype)] + [
        rng.standard_normal((n_states, batch, hidden)).astype(dtype)
        for _ in range(2 if mode == "lstm" else 1)]
    a = _run(fused, x, lengths, state, weights)
    b = _run(composed, x, lengths, state, weights)
    atol = rtol
    np.testing.assert_allclose(a[0], b[0], rtol=rtol, atol=atol)
    for fa, fb in zip(a[1], b[1]):
        np.testing.assert_allclose(fa, fb, rtol=rtol, atol=atol)
    np.testing.assert_allclose(a[2], b[2], rtol=rtol, atol=atol)
    assert a[3].keys() == b[3].keys()
    for name in a[3]:
        np.testing.assert_allclose(a[3][name], b[3][name], rtol=rtol, atol=atol, err_msg=name)
    if with_lengths:
        assert np.all(a[0][2:, 1] == 0) and np.all(a[0][1:, 3] == 0)


def _torch_run(torch, tmodule, x, lengths, weights):
    xt = torch.tensor(x, requires_grad=True)
    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                         enforce_sorted=False)
        out, finals = tmodule(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])
    else:
        out, finals = tmodule(xt)
    finals = list(finals) if isinstance(finals, tuple) else [finals]
    loss = (out * torch.tensor(weights[0])).sum()
    for f, w in zip(finals, weights[1:]):
        loss = loss + (f * torch.tensor(w)).sum()
    loss.backward()
    grads = {n: p.grad.numpy() for n, p in tmodule.named_parameters()}
    return out.detach().numpy(), [f.detach().numpy() for f in finals], xt.grad.numpy(), grads


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn", "rnn-relu"])
@pytest.mark.parametrize("impl", ["fused", "composed"])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_equals_torch(mode, impl, num_layers, bidirectional, with_lengths):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    kind = mode.split("-")[0]
    extra = {"nonlinearity": "relu"} if mode == "rnn-relu" else {}
    ours = LAYERS[kind](3, 5, num_layers=num_layers, bidirectional=bidirectional, impl=impl,
                        rng=3, dtype=np.float64, **extra)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    theirs = cls(3, 5, num_layers=num_layers, bidirectional=bidirectional, **extra).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((7, 4, 3))
    lengths = np.array([3, 7, 1, 5]) if with_lengths else None
    n_states = num_layers * (2 if bidirectional else 1)
    width = 5 * (2 if bidirectional else 1)
    weights = [rng.standard_normal((7, 4, width))] + [
        rng.standard_normal((n_states, 4, 5)) for _ in range(2 if kind == "lstm" else 1)]
    a = _run(ours, x, lengths, None, weights)
    b = _torch_run(torch, theirs, x, lengths, weights)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-10, atol=1e-12)
    for fa, fb in zip(a[1], b[1]):
        np.testing.assert_allclose(fa, fb, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a[2], b[2], rtol=1e-10, atol=1e-12)
    for name, g in a[3].items():
        np.testing.assert_allclose(g, b[3][name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_state_dict_round_trip_from_torch_float32():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.LSTM(4, 8, num_layers=2, bidirectional=True, batch_first=True)
    ours = LSTM(4, 8, num_layers=2, bidirectional=True, batch_first=True)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 6, 4)).astype(np.float32)
    out, (h_n, c_n) = ours(mg.tensor(x))
    t_out, (t_h, t_c) = theirs(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_n.numpy(), t_c.detach().numpy(), rtol=1e-5, atol=1e-6)
    back = ours.state_dict()
    assert list(back) == list(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        assert back[k].shape == tuple(v.shape) and np.array_equal(back[k], v.numpy())


def test_parameter_names_and_default_init_bounds():
    m = GRU(3, 16, num_layers=2, bidirectional=True, rng=0)
    names = [n for n, _ in m.named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert "weight_ih_l1_reverse" in names and len(names) == 16
    assert m.weight_ih_l1.shape == (48, 32)
    bound = 1 / np.sqrt(16)
    values = np.concatenate([p.numpy().ravel() for p in m.parameters()])
    assert values.min() >= -bound and values.max() <= bound
    assert values.max() > 0.9 * bound and values.min() < -0.9 * bound


def test_init_options():
    lstm = LSTM(2, 4, forget_bias=1.0, rng=0)
    total = lstm.bias_ih_l0.numpy() + lstm.bias_hh_l0.numpy()
    np.testing.assert_array_equal(total[4:8], 1.0)
    chrono = LSTM(2, 64, chrono_t_max=100, rng=0)
    bf = chrono.bias_ih_l0.numpy()[64:128] + chrono.bias_hh_l0.numpy()[64:128]
    bi = chrono.bias_ih_l0.numpy()[:64] + chrono.bias_hh_l0.numpy()[:64]
    assert np.all(bf >= 0) and np.all(bf <= np.log(99) + 1e-6) and bf.max() > np.log(50)
    np.testing.assert_allclose(bi, -bf)
    irnn = RNN(2, 4, nonlinearity="relu", init_hh="identity")
    np.testing.assert_array_equal(irnn.weight_hh_l0.numpy(), np.eye(4))
    orth = GRU(2, 8, init_hh="orthogonal", rng=1)
    for block in orth.weight_hh_l0.numpy().reshape(3, 8, 8):
        np.testing.assert_allclose(block @ block.T, np.eye(8), atol=1e-6)


def test_batch_first_and_dropout():
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
    m = LSTM(3, 5, num_layers=2, batch_first=True, dropout=0.5, rng=0)
    m.eval()
    out, (h_n, _) = m(mg.tensor(x))
    assert out.shape == (4, 6, 5) and h_n.shape == (2, 4, 5)
    np.testing.assert_allclose(out.numpy()[:, -1], h_n.numpy()[1], rtol=1e-6)
    m2 = LSTM(3, 5, num_layers=2, rng=0)
    m2.load_state_dict(m.state_dict())
    out2, _ = m2(mg.tensor(x.transpose(1, 0, 2)))
    np.testing.assert_allclose(out.numpy(), out2.numpy().transpose(1, 0, 2), rtol=1e-6)
    m.train()
    out3, _ = m(mg.tensor(x))
    assert not np.allclose(out3.numpy(), out.numpy())


@pytest.mark.parametrize("call,match", [
    (lambda m: m(mg.tensor(np.zeros(5, np.float32))), "must be 3-d .* or 2-d"),
    (lambda m: m(mg.tensor(np.zeros((5, 3), np.float32)), (mg.zeros(1, 1, 4),
                                                           mg.zeros(1, 1, 4))), "h0 must be 2-d"),
    (lambda m: m(mg.tensor(np.zeros((5, 3), np.float32)), lengths=[5]), "unbatched"),
    (lambda m: m(mg.tensor(np.zeros((5, 2, 4), np.float32))), "4 features.*input_size=3"),
    (lambda m: m(mg.tensor(np.zeros((5, 2, 3)))), "dtype float64"),
    (lambda m: m(mg.tensor(np.zeros((5, 0, 3), np.float32))), "empty input"),
    (lambda m: m(mg.tensor(np.zeros((5, 2, 3), np.float32)), (mg.zeros(1, 3, 4),
                                                              mg.zeros(1, 2, 4))), "h0 must"),
    (lambda m: m(mg.tensor(np.zeros((5, 2, 3), np.float32)), lengths=[0, 5]), "1..5"),
    (lambda m: m(mg.tensor(np.zeros((5, 2, 3), np.float32)), lengths=[6, 5]), "1..5"),
    (lambda m: m(mg.tensor(np.zeros((5, 2, 3), np.float32)), lengths=[5]), r"shape \(2,\)"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call(LSTM(3, 4))


def test_non_finite_input_under_detect_anomaly():
    x = np.zeros((3, 2, 3), np.float32)
    x[1, 0, 2] = np.nan
    with mg.detect_anomaly(), pytest.raises(ValueError, match="non-finite"):
        GRU(3, 4)(mg.tensor(x))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="impl"):
        LSTM(3, 4, impl="cudnn")
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="num_layers"):
        GRU(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="dropout"):
        LSTM(3, 4, dropout=1.0)


def test_composed_backward_through_a_thousand_steps():
    rng = np.random.default_rng(0)
    m = LSTM(2, 8, impl="composed", forget_bias=1.0, rng=0)
    x = mg.tensor(rng.standard_normal((1000, 2, 2)).astype(np.float32))
    out, _ = m(x)
    out[-1].sum().backward()
    g = m.weight_hh_l0.grad
    assert g.shape == (32, 8) and np.isfinite(g).all() and np.abs(g).sum() > 0


# ---- issue 20: copies after the first forward (the compiled-step cache is not state) ---------
@pytest.mark.parametrize("copier", ["deepcopy", "pickle"])
@pytest.mark.parametrize("cls", [LSTM, GRU, RNN])
def test_a_copy_after_the_first_forward_is_equal_and_independent(cls, copier):
    import copy
    import pickle

    from minigrad import optim

    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    model = cls(3, 4, num_layers=2, rng=0)
    out, _ = model(mg.tensor(x))
    out.sum().backward()  # the cells now hold compiled steps, the parameters tape nodes
    clone = copy.deepcopy(model) if copier == "deepcopy" else pickle.loads(pickle.dumps(model))

    def run(m):
        m.zero_grad()
        out, _ = m(mg.tensor(x))
        out.backward(np.ones(out.shape, np.float32))
        return out.numpy(), {n: p.grad.copy() for n, p in m.named_parameters()}

    (y0, g0), (y1, g1) = run(model), run(clone)
    np.testing.assert_array_equal(y0, y1)
    assert g0.keys() == g1.keys()
    for name in g0:
        np.testing.assert_array_equal(g0[name], g1[name])
    optim.SGD(clone.parameters(), lr=0.5).step()  # stepping the copy leaves the original alone
    y2, _ = run(model)
    np.testing.assert_array_equal(y0, y2)
    assert not np.array_equal(run(clone)[0], y0)


def test_tensors_made_by_ops_refuse_to_be_copied(torch):
    import copy

    x = mg.tensor(np.ones(3), requires_grad=True)
    leaf = copy.deepcopy(x)
    assert leaf.requires_grad and leaf.is_leaf and leaf.data is not x.data
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        copy.deepcopy(x * 2)
    with pytest.raises(RuntimeError, match="graph leaves"):  # torch refuses the same
        copy.deepcopy(torch.ones(3, requires_grad=True) * 2)


@pytest.mark.parametrize("cls", [GRU, RNN])
def test_proj_size_outside_lstm_names_the_class_as_torch(cls, torch):
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        getattr(torch.nn, cls.__name__)(4, 6, proj_size=2)
    with pytest.raises(ValueError, match=f"^{cls.__name__}: proj_size is only supported for "
                                         "LSTM"):
        cls(4, 6, proj_size=2)


@pytest.mark.parametrize("cls,keyword,close", [
    (LSTM, "hiden_size", "hidden_size"), (GRU, "batchfirst", "batch_first"),
    (RNN, "nonlinearty", "nonlinearity"), (LSTM, "proj_sze", "proj_size"), (GRU, "zzz", None)])
def test_a_misspelt_keyword_names_the_public_class(cls, keyword, close):
    hint = f"; did you mean '{close}'\\?" if close else "$"
    with pytest.raises(TypeError, match=f"^{cls.__name__}\\(\\) got an unexpected keyword "
                                        f"argument '{keyword}'{hint}"):
        cls(4, 6, **{keyword: 1})


def test_a_generic_layer_names_its_cell_in_errors():
    from lstm import MinGRUCell, Recurrent

    layer = Recurrent(MinGRUCell, 3, 4, rng=0)
    with pytest.raises(ValueError, match=r"^Recurrent\(MinGRUCell\): input has 5 features"):
        layer(mg.tensor(np.zeros((5, 2, 5), np.float32)))
    with pytest.raises(ValueError, match=r"^Recurrent\(MinGRUCell\): h0 must have shape"):
        layer(mg.tensor(np.zeros((5, 2, 3), np.float32)), mg.zeros(2, 4))
