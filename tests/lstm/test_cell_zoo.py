"""The cell variants: float64 gradcheck of the composed path, known answers from the papers'
special cases, fused == composed for the cells the compiler fuses."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import minigrad as mg
from lstm import (
    GRU,
    LSTM,
    RNN,
    CIFGCell,
    GRUChoCell,
    IndRNNCell,
    JANETCell,
    LayerNormLSTMCell,
    MGUCell,
    PeepholeLSTMCell,
    ProjLSTMCell,
    Recurrent,
)
from lstm.cells import TorchCell
from lstm.cli import main
from lstm.experiments.gradient_flow import run_gradient_flow
from lstm.models import VARIANT_NAMES

CELLS = {"lstm-peephole": (PeepholeLSTMCell, {}), "lstm-proj": (ProjLSTMCell, {"proj_size": 3}),
         "lstm-ln": (LayerNormLSTMCell, {}), "cifg": (CIFGCell, {}),
         "janet": (JANETCell, {"chrono_t_max": 8}), "indrnn": (IndRNNCell, {}),
         "mgu": (MGUCell, {}), "gru-cho": (GRUChoCell, {})}
# what the cell compiler fuses today; the others fail with the pattern it names
FUSED = ("lstm-peephole", "lstm-proj", "lstm-ln", "cifg", "janet", "indrnn", "mgu", "gru-cho")
NOT_FUSED: dict = {}
I, H, B, T = 3, 4, 3, 5
LENGTHS = np.array([5, 2, 4])


def layer_of(name, impl="composed", dtype=np.float64, rng=0, **kw):
    cell, options = CELLS[name]
    return Recurrent(cell, I, H, impl=impl, rng=rng, dtype=dtype, **options, **kw)


def state_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def random_states(layer, rng, dtype=np.float64):
    cell = layer.cells["_l0"]
    n = layer.num_layers * layer.num_directions
    return tuple(mg.tensor(rng.standard_normal((n, B, cell.state_size(s))).astype(dtype))
                 for s in cell.states)


def call(layer, x, states, lengths=None):
    given = states if len(states) > 1 else states[0]
    return layer(x, given, lengths=lengths)


@pytest.mark.parametrize("name,impl", [(n, "composed") for n in CELLS] +
                         [(n, "fused") for n in FUSED])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradcheck_float64(name, impl, bidirectional):
    layer = layer_of(name, impl=impl, bidirectional=bidirectional)
    names = [n for n, _ in layer.named_parameters()]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((T, B, I))
    states = random_states(layer, rng)

    def run(x, *rest):
        for n, value in zip(names, rest[len(states):]):
            object.__setattr__(layer, n, value)  # the cells read the layer's attributes
        out, final = call(layer, x, rest[:len(states)], LENGTHS)
        return mg.concat([out.reshape(-1)] + [s.reshape(-1) for s in state_tuple(final)])

    inputs = [x, *(s.numpy() for s in states), *(p.numpy() for _, p in
                                                 layer.named_parameters())]
    assert mg.gradcheck(run, inputs, atol=1e-6, rtol=1e-5)


def _copy_weights(source, target, mapping):
    state = {}
    for name, value in source.state_dict().items():
        state[name] = mapping(name, value.numpy() if hasattr(value, "numpy") else value)
    target.load_state_dict(state)


def _outputs(layer, x, states, lengths, reverse=False):
    out, final = call(layer, mg.tensor(x), states, lengths)
    return [out.numpy()] + [s.numpy() for s in state_tuple(final)]


def _assert_same(a, b, rtol=1e-12):
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_peephole_with_zero_peepholes_is_torch_lstm(bidirectional):
    peep = layer_of("lstm-peephole", bidirectional=bidirectional, num_layers=2)
    lstm = LSTM(I, H, num_layers=2, bidirectional=bidirectional, impl="composed", rng=1,
                dtype=np.float64)
    for name, p in peep.named_parameters():
        if name.startswith("weight_ch"):
            p.data[:] = 0.0
    lstm.load_state_dict({k: v for k, v in peep.state_dict().items() if "weight_ch" not in k})
    rng = np.random.default_rng(0)
    x, states = rng.standard_normal((T, B, I)), random_states(peep, rng)
    _assert_same(_outputs(peep, x, states, LENGTHS), _outputs(lstm, x, states, LENGTHS))
    peep.weight_ch_l0.data[:] = 0.5  # and the peepholes do change it
    assert not np.allclose(_outputs(peep, x, states, LENGTHS)[0],
                           _outputs(lstm, x, states, LENGTHS)[0])


def test_cifg_is_lstm_with_input_gate_minus_forget_gate():
    cifg = layer_of("cifg", bidirectional=True)
    lstm = LSTM(I, H, bidirectional=True, impl="composed", rng=1, dtype=np.float64)

    def to_lstm(name, value):  # [f|g|o] -> [i|f|g|o] with i's rows = -f's rows
        f = value[:H]
        return np.concatenate([-f, value])

    _copy_weights(cifg, lstm, to_lstm)
    rng = np.random.default_rng(1)
    x, states = rng.standard_normal((T, B, I)), random_states(cifg, rng)
    _assert_same(_outputs(cifg, x, states, LENGTHS), _outputs(lstm, x, states, LENGTHS))


def test_indrnn_is_relu_rnn_with_diagonal_recurrent_matrix():
    ind = layer_of("indrnn", bidirectional=True, num_layers=2)
    rnn = RNN(I, H, num_layers=2, bidirectional=True, nonlinearity="relu", impl="composed",
              rng=1, dtype=np.float64)
    state = {}
    for name, value in ind.state_dict().items():
        value = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
        if name.startswith("weight_hh"):
            value = np.diag(value)
        state[name] = value
        if name.startswith("bias_ih"):
            state[name.replace("bias_ih", "bias_hh")] = np.zeros(H)
    rnn.load_state_dict(state)
    rng = np.random.default_rng(2)
    x, states = rng.standard_normal((T, B, I)), random_states(ind, rng)
    _assert_same(_outputs(ind, x, states, LENGTHS), _outputs(rnn, x, states, LENGTHS))
    assert np.all(ind.weight_hh_l0.numpy() >= 0) and np.all(ind.weight_hh_l0.numpy() <= 1)


def test_mgu_is_cho_gru_with_r_equal_f_and_z_one_minus_f():
    mgu = layer_of("mgu", bidirectional=True)
    cho = layer_of("gru-cho", bidirectional=True, rng=5)

    def tie(name, value):  # MGU [f|n] -> Cho [r|z|n] = [f|-f|n]; weight_hh [f] -> [f|-f]
        if name.startswith("weight_hn"):
            return value
        f = value[:H]
        return np.concatenate([f, -f, value[H:]])

    _copy_weights(mgu, cho, tie)
    rng = np.random.default_rng(3)
    x, states = rng.standard_normal((T, B, I)), random_states(mgu, rng)
    _assert_same(_outputs(mgu, x, states, LENGTHS), _outputs(cho, x, states, LENGTHS))


def test_gru_cho_applies_reset_before_the_product():
    """One step against Cho et al.'s eqs. 5-8 in numpy; with W_hn = 0 it is torch's GRU."""
    cho = layer_of("gru-cho")
    rng = np.random.default_rng(4)
    x, h = rng.standard_normal((1, B, I)), rng.standard_normal((1, B, H))
    p = {n: v.numpy() for n, v in cho.named_parameters()}
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    gx = x[0] @ p["weight_ih_l0"].T + p["bias_ih_l0"]
    gh = h[0] @ p["weight_hh_l0"].T + p["bias_hh_l0"]
    r, z = sig(gx[:, :H] + gh[:, :H]), sig(gx[:, H:2 * H] + gh[:, H:])
    n = np.tanh(gx[:, 2 * H:] + (r * h[0]) @ p["weight_hn_l0"].T)
    expected = z * h[0] + (1 - z) * n
    out, h_n = cho(mg.tensor(x), mg.tensor(h))
    np.testing.assert_allclose(h_n.numpy()[0], expected, rtol=1e-12)
    gru = GRU(I, H, impl="composed", rng=1, dtype=np.float64)
    cho.weight_hn_l0.data[:] = 0.0
    gru.load_state_dict({"weight_ih_l0": p["weight_ih_l0"],
                         "weight_hh_l0": np.concatenate([p["weight_hh_l0"], np.zeros((H, H))]),
                         "bias_ih_l0": p["bias_ih_l0"],
                         "bias_hh_l0": np.concatenate([p["bias_hh_l0"], np.zeros(H)])})
    x5, h5 = rng.standard_normal((T, B, I)), mg.tensor(rng.standard_normal((1, B, H)))
    _assert_same(_outputs(cho, x5, (h5,), LENGTHS), _outputs(gru, x5, (h5,), LENGTHS))


def test_janet_known_answer_and_chrono_init():
    """Zero weights: h_t = a h_{t-1} + k with a = sigmoid(b_f), k = (1 - sigmoid(b_f - 1))
    tanh(b_g): a geometric series with a closed form."""
    layer = layer_of("janet")
    bf = layer.bias_ih_l0.numpy()[:H]
    assert np.all(bf >= 0) and np.all(bf <= np.log(8 - 1))  # log U[1, T_max - 1]
    assert np.all(layer.bias_ih_l0.numpy()[H:] == 0) and np.all(layer.bias_hh_l0.numpy() == 0)
    for name, p in layer.named_parameters():
        if name.startswith("weight"):
            p.data[:] = 0.0
    layer.bias_ih_l0.data[H:] = bg = np.linspace(-1, 1, H)
    h0 = np.random.default_rng(5).standard_normal((1, B, H))
    out, h_n = layer(mg.tensor(np.ones((T, B, I))), mg.tensor(h0))
    a = 1 / (1 + np.exp(-bf))
    k = (1 - 1 / (1 + np.exp(-(bf - 1)))) * np.tanh(bg)
    expected = a ** T * h0[0] + k * (1 - a ** T) / (1 - a)
    np.testing.assert_allclose(h_n.numpy()[0], expected, rtol=1e-12)


def test_layer_norm_lstm_is_invariant_to_rescaling_its_weight_matrices():
    """Ba et al.'s weight-rescaling invariance: LN(a z) = LN(z) for a > 0, up to the eps in
    sqrt(var + eps): measured at weights 10x torch's init, where eps is < 1e-5 of the variance."""
    layer = layer_of("lstm-ln", bidirectional=True)
    rng = np.random.default_rng(6)
    x, states = rng.standard_normal((T, B, I)), random_states(layer, rng)
    names = ("weight_ih_l0", "weight_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse")
    for name in names:
        getattr(layer, name).data *= 10.0
    before = _outputs(layer, x, states, LENGTHS)
    for name, scale in zip(names, (7.0, 3.0, 0.5, 40.0)):
        getattr(layer, name).data *= scale
    _assert_same(before, _outputs(layer, x, states, LENGTHS), rtol=1e-5)
    layer.ln_c_weight_l0.data[:] = 2.0  # the gains do act
    assert not np.allclose(before[0], _outputs(layer, x, states, LENGTHS)[0])


def test_layer_norm_lstm_against_torch_layer_norm():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    layer = layer_of("lstm-ln")
    p = {n: torch.tensor(v.numpy()) for n, v in layer.named_parameters()}
    for name in ("ln_ih_weight_l0", "ln_hh_weight_l0", "ln_c_weight_l0", "ln_c_bias_l0"):
        p[name] = p[name] + torch.linspace(-0.3, 0.3, p[name].shape[0], dtype=torch.float64)
        getattr(layer, name).data[:] = p[name].numpy()
    rng = np.random.default_rng(7)
    x, (h, c) = rng.standard_normal((T, B, I)), random_states(layer, rng)
    th, tc = torch.tensor(h.numpy()[0]), torch.tensor(c.numpy()[0])
    for t in range(T):
        gates = F.layer_norm(th @ p["weight_hh_l0"].T, (4 * H,), p["ln_hh_weight_l0"]) + \
            F.layer_norm(torch.tensor(x[t]) @ p["weight_ih_l0"].T, (4 * H,),
                         p["ln_ih_weight_l0"]) + p["bias_gates_l0"]
        i, f, g, o = gates.chunk(4, 1)
        tc = f.sigmoid() * tc + i.sigmoid() * g.tanh()
        th = o.sigmoid() * F.layer_norm(tc, (H,), p["ln_c_weight_l0"], p["ln_c_bias_l0"]).tanh()
    out, (h_n, c_n) = layer(mg.tensor(x), (h, c))
    np.testing.assert_allclose(h_n.numpy()[0], th.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c_n.numpy()[0], tc.numpy(), rtol=1e-10, atol=1e-12)


def test_bad_cell_options():
    with pytest.raises(ValueError, match=r"in 1..hidden_size-1 \(3\), got 4"):
        Recurrent(ProjLSTMCell, I, H, proj_size=4)
    with pytest.raises(ValueError, match="chrono_t_max must be an integer >= 3.*got 2"):
        Recurrent(JANETCell, I, H, chrono_t_max=2)
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        Recurrent(IndRNNCell, I, H, nonlinearity="sigmoid")


@pytest.mark.parametrize("layer_class", [LSTM, GRU])
def test_composed_grad_norms_equal_the_fused_ones(layer_class):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((T, B, I))
    fused = layer_class(I, H, impl="fused", rng=2, dtype=np.float64)
    composed = layer_class(I, H, impl="composed", rng=2, dtype=np.float64)
    upstream = rng.standard_normal((T, B, H))
    norms = []
    for layer in (fused, composed):
        sink = {}
        out, _ = layer(mg.tensor(x), lengths=LENGTHS, grad_norms=sink)
        (out * upstream).sum().backward()
        norms.append({k: np.asarray(v) for k, v in sink["l0"].items()})
    assert norms[0].keys() == norms[1].keys() == set(fused.state_names)
    for key in norms[0]:
        assert norms[1][key].shape == (T, B)
        np.testing.assert_allclose(norms[1][key], norms[0][key], rtol=1e-10, err_msg=key)


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_every_variant_trains_from_the_command_line_and_shows_its_gradient_flow(name, tmp_path,
                                                                               capsys):
    """The default impl is fused; a variant the compiler cannot fuse runs composed, saying so."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["train", "--task", "adding", "--model", name, "--seq-len", "6",
                     "--hidden-size", "6", "--batch-size", "4", "--steps", "3", "--eval-every",
                     "3", "--test-size", "8", "--out", str(tmp_path), "--quiet"])
        records = run_gradient_flow(name, seq_len=8, hidden_size=6, batch_size=3, steps=(0, 2),
                                    progress=False)
    fallback = [w for w in caught if "runs impl='composed'" in str(w.message)]
    assert bool(fallback) == (name in NOT_FUSED)
    assert code == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["model"] == name and row["steps"] == 3 and np.isfinite(row["mse"])
    assert [r["step"] for r in records] == [0, 2]
    curve = np.array(records[0]["curve_h"])
    assert curve.shape == (8,) and curve[-1] > 0 and np.all(curve >= 0)
    assert ("curve_c" in records[0]) == (name in ("lstm-peephole", "lstm-proj", "lstm-ln",
                                                   "cifg"))


def _run_all(layer, x, states, upstream):
    """out, final states, dx, d(initial states) and every parameter gradient of a random
    linear loss."""
    xm = mg.tensor(x, requires_grad=True)
    given = tuple(mg.tensor(s.numpy(), requires_grad=True) for s in states)
    out, final = call(layer, xm, given, LENGTHS)
    finals = state_tuple(final)
    loss = (out * upstream[0]).sum()
    for f, u in zip(finals, upstream[1:]):
        loss = loss + (f * u).sum()
    layer.zero_grad()
    loss.backward()
    return ([out.numpy(), *(f.numpy() for f in finals), xm.grad, *(g.grad for g in given)],
            {n: p.grad.copy() for n, p in layer.named_parameters()})


@pytest.mark.parametrize("name", FUSED)
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True)])
def test_fused_equals_composed_float64(name, num_layers, bidirectional):
    fused = layer_of(name, "fused", num_layers=num_layers, bidirectional=bidirectional)
    composed = layer_of(name, "composed", num_layers=num_layers, bidirectional=bidirectional,
                        rng=1)
    composed.load_state_dict(fused.state_dict())
    rng = np.random.default_rng(10)
    x, states = rng.standard_normal((T, B, I)), random_states(fused, rng)
    upstream = [rng.standard_normal((T, B, fused.output_size))] + [rng.standard_normal(s.shape)
                                                        for s in states]
    a, grads_a = _run_all(fused, x, states, upstream)
    b, grads_b = _run_all(composed, x, states, upstream)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-12)
    assert grads_a.keys() == grads_b.keys()
    for n in grads_a:
        np.testing.assert_allclose(grads_a[n], grads_b[n], rtol=1e-10, atol=1e-12, err_msg=n)


class _MaxNormRNNCell(TorchCell):
    """A tanh RNN whose state is divided by its row maximum: max over the hidden axis does not
    fuse (sum and mean do)."""

    gates = 1

    def step(self, x, state):
        (h,) = state
        new = (x @ self.weight_ih.T + h @ self.weight_hh.T + self.bias_ih).tanh()
        return (new / (new.abs().max(axis=-1, keepdims=True) + 1.0),)


def test_a_cell_the_compiler_cannot_fuse_names_the_primitive_and_runs_composed():
    from minigrad.compiler import CellCompileError

    fused = Recurrent(_MaxNormRNNCell, I, H, impl="fused", rng=0, dtype=np.float64)
    x = mg.tensor(np.random.default_rng(0).standard_normal((T, B, I)))
    with pytest.raises(CellCompileError, match=r"max.*impl='composed'"):
        fused(x)
    composed = Recurrent(_MaxNormRNNCell, I, H, impl="composed", rng=0, dtype=np.float64)
    out, _ = composed(x)
    assert out.shape == (T, B, H) and np.all(np.abs(out.numpy()) < 1.0)


def test_readme_user_cell_runs_fused_and_equals_composed():
    """The README's own-cell example, run as written, then held to its composed path."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "README.md").read_text()
    block = text.split("<!-- readme-user-cell -->\n```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 - our own README
    layer, x, out = scope["layer"], scope["x"], scope["out"]
    assert layer.impl == "fused" and out.shape == (100, 32, 128)
    composed = Recurrent(scope["LeakyRNNCell"], 8, 64, num_layers=2, bidirectional=True,
                         impl="composed", rng=1)
    composed.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(composed(x)[0].numpy(), out.numpy(), rtol=1e-4, atol=1e-5)
    grads = {n: p.grad for n, p in layer.named_parameters()}
    assert all(g is not None and np.isfinite(g).all() for g in grads.values())


def test_gradient_flow_figure_has_every_model_name(tmp_path):
    """A panel, a legend line and a table row per model, the variants included."""
    from lstm import zoo
    from lstm.models import MODEL_NAMES
    from lstm.reporting.gradient_figure import gradient_flow

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = [r for name in MODEL_NAMES
                   for r in run_gradient_flow(name, seq_len=6, hidden_size=4, batch_size=2,
                                              steps=(0,), progress=False)]
    section = gradient_flow(records, str(tmp_path))
    assert section.images == ["gradient_flow.png"] and (tmp_path / "gradient_flow.png").exists()
    labelled = {row[0] for row in section.tables[0].rows}
    assert labelled == {zoo.label(name) for name in MODEL_NAMES}
    # + c of the 8 with a cell state (the sLSTM's included) and C of the mLSTM
    assert len(section.tables[0].rows) == len(MODEL_NAMES) + 9
