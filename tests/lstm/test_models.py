"""Task models: the named inits, read-outs, input encodings, lengths, bad names."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from lstm.models import MODEL_NAMES, TaskModel, build_model
from lstm.tasks import get_task, seed_stream

SCAN_CELLS = ("mingru", "minlstm")  # no W_hh: their gates read x_t only

H = 16
HAS_FUSED = importlib.util.find_spec("minigrad.ops.recurrent") is not None


def params(model):
    return {name: p.numpy() for name, p in model.named_parameters()}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_runs_both_tasks(name):
    for task in (get_task("adding", 6), get_task("copy", 4, n_copy=2)):
        model = build_model(name, task, H, rng=0, impl="composed")
        batch = task.make_batch(3, np.random.default_rng(0))
        out, state = model(batch.x)
        expected = (3, 1) if task.name == "adding" else (task.total_length, 3, 9)
        assert out.shape == expected and out.dtype == np.float32
        h_n = state[0] if isinstance(state, tuple) else state
        assert h_n.shape == (1, 3, H // 2 if name == "lstm-proj" else H)
        # the mLSTM has no recurrent weight (its gates read x_t only); a scan cell has no W_hh
        recurrent = "weight_ih_l0" if name in SCAN_CELLS or name == "mlstm" else "weight_hh_l0"
        assert "recurrent." + recurrent in params(model) and "readout.weight" in params(model)


def test_default_init_is_torch_uniform():
    bound = 1 / np.sqrt(H)
    for name in ("rnn", "lstm", "gru"):
        p = params(build_model(name, get_task("adding", 10), H, rng=1, impl="composed"))
        for key in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            w = p["recurrent." + key]
            assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound, (name, key)


def test_named_inits():
    task = get_task("adding", 50)
    orth = params(build_model("rnn-orth", task, H, rng=2, impl="composed"))
    w = orth["recurrent.weight_hh_l0"].astype(np.float64)
    np.testing.assert_allclose(w @ w.T, np.eye(H), atol=1e-5)

    irnn = build_model("irnn", task, 200, rng=3, impl="composed")
    p = params(irnn)
    np.testing.assert_array_equal(p["recurrent.weight_hh_l0"], np.eye(200))
    assert not p["recurrent.bias_ih_l0"].any() and not p["recurrent.bias_hh_l0"].any()
    assert p["recurrent.weight_ih_l0"].std() == pytest.approx(1e-3, rel=0.1)
    assert irnn.recurrent.nonlinearity == "relu"

    fb1 = params(build_model("lstm-fb1", task, H, rng=4, impl="composed"))
    np.testing.assert_array_equal(fb1["recurrent.bias_ih_l0"][H:2 * H], 1.0)
    np.testing.assert_array_equal(fb1["recurrent.bias_hh_l0"][H:2 * H], 0.0)

    chrono = params(build_model("lstm-chrono", task, H, rng=5, impl="composed"))
    forget = chrono["recurrent.bias_ih_l0"][H:2 * H]
    assert forget.min() >= 0 and forget.max() <= np.log(49) and forget.max() > 2.0
    np.testing.assert_array_equal(chrono["recurrent.bias_ih_l0"][:H], -forget)


def test_same_rng_same_model():
    task = get_task("copy", 5)
    a = params(build_model("gru", task, H, rng=seed_stream(3, 0), impl="composed"))
    b = params(build_model("gru", task, H, rng=seed_stream(3, 0), impl="composed"))
    c = params(build_model("gru", task, H, rng=seed_stream(4, 0), impl="composed"))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["readout.weight"], c["readout.weight"])


def test_input_encodings():
    onehot = build_model("rnn", get_task("copy", 4, n_copy=2), H, rng=0, impl="composed")
    x = np.array([[1, 0], [9, 3]])
    np.testing.assert_array_equal(onehot.encode(x).numpy(), np.eye(10, dtype=np.float32)[x])
    scalar = build_model("rnn", get_task("copy", 4, "tcn", n_copy=2), H, rng=0, impl="composed")
    assert scalar.recurrent.input_size == 1
    np.testing.assert_array_equal(scalar.encode(x).numpy()[..., 0], x.astype(np.float32))


def test_adding_reads_each_sequence_at_its_own_last_step():
    task = get_task("adding", 22, "hochreiter1997")
    model = build_model("lstm", task, 8, rng=0, impl="composed")
    batch = task.make_batch(4, np.random.default_rng(1))
    assert len(set(batch.lengths.tolist())) > 1
    out, _ = model(batch.x, lengths=batch.lengths)
    for b, length in enumerate(batch.lengths):
        alone, _ = model(batch.x[:length, b:b + 1])
        np.testing.assert_allclose(out.numpy()[b], alone.numpy()[0], rtol=1e-5, atol=1e-6)


def test_state_carries_across_chunks():
    task = get_task("copy", 6, n_copy=2)
    model = build_model("lstm", task, 8, rng=0, impl="composed")
    x = task.make_batch(3, np.random.default_rng(2)).x
    whole, _ = model(x)
    first, state = model(x[:4])
    second, _ = model(x[4:], state)
    np.testing.assert_allclose(np.concatenate([first.numpy(), second.numpy()]), whole.numpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not HAS_FUSED, reason="minigrad.ops.recurrent not there yet")
def test_fused_and_composed_agree():
    task = get_task("copy", 5, n_copy=2)
    x = task.make_batch(3, np.random.default_rng(2)).x
    for name in ("lstm", "gru", "irnn"):
        fused = build_model(name, task, 8, rng=0, impl="fused")
        composed = build_model(name, task, 8, rng=0, impl="composed")
        np.testing.assert_allclose(fused(x)[0].numpy(), composed(x)[0].numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_bad_model_arguments():
    task = get_task("adding", 10)
    with pytest.raises(ValueError, match="model must be one of.*'transformer'"):
        build_model("transformer", task, H)
    with pytest.raises(ValueError, match="hidden_size.*got 0"):
        build_model("lstm", task, 0)
    with pytest.raises(ValueError, match="task must be a lstm.tasks.Task"):
        build_model("lstm", "adding", H)
    from lstm import RNN
    with pytest.raises(ValueError, match="input_size 3 does not match.*input_size 2"):
        TaskModel(RNN(3, 4, impl="composed"), task)
