"""lstm.Recurrent with a user's cell: parameter names, states, lengths, composed step semantics."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm import LSTM, LSTMCell, Recurrent


def test_user_cell_parameters_are_named_like_torch_layers(peephole_cell):
    m = Recurrent(peephole_cell, 3, 4, num_layers=2, bidirectional=True, rng=0)
    names = [n for n, _ in m.named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_l0", "peephole_l0"]
    assert "peephole_l1_reverse" in names and len(names) == 16
    assert m.weight_ih_l1.shape == (16, 8)
    assert list(m.state_dict()) == names


def test_user_cell_composed_matches_a_manual_unroll_with_lengths(peephole_cell):
    rng = np.random.default_rng(0)
    m = Recurrent(peephole_cell, 3, 4, impl="composed", rng=1, dtype=np.float64)
    x = rng.standard_normal((5, 2, 3))
    h0, c0 = rng.standard_normal((1, 2, 4)), rng.standard_normal((1, 2, 4))
    out, (h_n, c_n) = m(mg.tensor(x), (mg.tensor(h0), mg.tensor(c0)), lengths=[5, 3])
    cell = m.cell("_l0")
    h, c = mg.tensor(h0[0]), mg.tensor(c0[0])
    for t in range(5):
        h_new, c_new = cell(mg.tensor(x[t]), (h, c))
        keep = np.array([[True], [t < 3]])
        expected_out = np.where(keep, h_new.numpy(), 0.0)
        np.testing.assert_allclose(out.numpy()[t], expected_out, rtol=1e-12)
        h = mg.tensor(np.where(keep, h_new.numpy(), h.numpy()))
        c = mg.tensor(np.where(keep, c_new.numpy(), c.numpy()))
    np.testing.assert_allclose(h_n.numpy()[0], h.numpy(), rtol=1e-12)
    np.testing.assert_allclose(c_n.numpy()[0], c.numpy(), rtol=1e-12)


def test_builtin_layer_is_a_recurrent_of_its_cell():
    m = LSTM(3, 4, rng=0)
    assert isinstance(m, Recurrent) and m.cell_type is LSTMCell
    assert m.cell("_l0").weight_hh is m.weight_hh_l0
    cell = LSTMCell(3, 4, rng=0)
    h, c = cell(mg.tensor(np.ones((2, 3), np.float32)))
    assert h.shape == c.shape == (2, 4)


def test_bad_state_and_cell_arguments(peephole_cell):
    m = Recurrent(peephole_cell, 3, 4, impl="composed")
    x = mg.tensor(np.zeros((2, 1, 3), np.float32))
    with pytest.raises(ValueError, match="tuple of 2 tensors"):
        m(x, (mg.zeros(1, 1, 4),))
    with pytest.raises(ValueError, match="c0 must have shape"):
        m(x, (mg.zeros(1, 1, 4), mg.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match="must return a lstm.cells.Cell"):
        Recurrent(lambda *a, **k: object(), 3, 4)
