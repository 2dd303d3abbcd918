"""Bad arguments to the Python API fail at once, naming the argument, expected and actual."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell])
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"hidden_size": 4.5}, r"hidden_size must be an integer >= 1, got 4.5 \(float\)"),
    ({"hidden_size": "4"}, r"hidden_size must be an integer >= 1, got '4' \(str\)"),
    ({"hidden_size": True}, r"hidden_size must be an integer >= 1, got True"),
    ({"hidden_size": 0}, r"hidden_size must be an integer >= 1, got 0"),
    ({"input_size": -2}, r"input_size must be an integer >= 1, got -2"),
    ({"input_size": 3.0}, r"input_size must be an integer >= 1, got 3.0"),
])
def test_sizes_must_be_positive_integers(cls, kwargs, message):
    with pytest.raises(ValueError, match=f"{cls.__name__}: {message}"):
        cls(**{"input_size": 3, "hidden_size": 4, **kwargs})


def test_numpy_integers_are_sizes_and_num_layers_is_checked():
    layer = LSTM(np.int64(3), np.int32(4), num_layers=np.int64(2))
    assert layer.hidden_size == 4 and type(layer.hidden_size) is int
    with pytest.raises(ValueError, match="num_layers must be an integer >= 1, got 1.5"):
        GRU(3, 4, num_layers=1.5)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell])
@pytest.mark.parametrize("dtype", [np.float16, np.int32, "complex64"])
def test_unsupported_dtypes_fail_at_construction(cls, dtype):
    with pytest.raises(ValueError, match=f"{cls.__name__}: dtype .* is not supported.*float32"):
        cls(3, 4, dtype=dtype)


def test_an_lstm_state_given_as_one_tensor_is_named():
    x = mg.tensor(np.zeros((5, 2, 3), np.float32))
    h0 = mg.zeros(1, 2, 4)
    with pytest.raises(ValueError, match=r"LSTM: state must be a pair \(h0, c0\).*one Tensor "
                                         r"of shape \(1, 2, 4\)"):
        LSTM(3, 4)(x, h0)
    with pytest.raises(ValueError, match=r"LSTMCell: state must be a pair \(h0, c0\)"):
        LSTMCell(3, 4)(x[0], mg.zeros(2, 4))
    with pytest.raises(ValueError, match="tuple of length 3"):
        LSTM(3, 4)(x, (h0, h0, h0))
    out, (h_n, c_n) = LSTM(3, 4)(x, [h0, h0])  # a list pair is fine, as in torch
    assert h_n.shape == (1, 2, 4)


def test_load_state_dict_names_the_key_that_overflows_or_is_not_numeric():
    layer = LSTM(3, 4)
    state = {k: v.copy() for k, v in layer.state_dict().items()}
    big = {**state, "weight_hh_l0": np.full((16, 4), 1e300)}
    with pytest.raises(ValueError, match="weight_hh_l0.*1e\\+300.*float32"):
        layer.load_state_dict(big)
    with pytest.raises(ValueError, match="bias_ih_l0.*not numeric"):
        layer.load_state_dict({**state, "bias_ih_l0": np.array(["a"] * 16)})
    with pytest.raises(ValueError, match="bias_hh_l0.*not numeric"):
        layer.load_state_dict({**state, "bias_hh_l0": [None] * 16})
    np.testing.assert_array_equal(layer.weight_hh_l0.numpy(), state["weight_hh_l0"])  # untouched
    inf = {**state, "bias_hh_l0": np.full(16, np.inf)}  # an inf that is already there loads
    layer.load_state_dict(inf)
    assert np.isinf(layer.bias_hh_l0.numpy()).all()


def test_rnn_and_gru_states_are_one_tensor_and_flags_are_booleans():
    x = mg.tensor(np.zeros((5, 2, 3), np.float32))
    h0 = mg.zeros(1, 2, 4)
    for cls in (RNN, GRU):
        with pytest.raises(ValueError, match=f"{cls.__name__}: h0 must be one tensor.*tuple of "
                                             "length 2; only the LSTM"):
            cls(3, 4)(x, (h0, h0))
    with pytest.raises(ValueError, match="GRUCell: h0 must be one tensor"):
        GRUCell(3, 4)(x[0], (h0[0], h0[0]))
    with pytest.raises(ValueError, match="LSTM: bidirectional must be True or False, got 'no'"):
        LSTM(3, 4, bidirectional="no")
    with pytest.raises(ValueError, match="RNNCell: bias must be True or False"):
        RNNCell(3, 4, bias=None)
    with pytest.raises(ValueError, match=r"GRU: dropout must be a number in \[0, 1\), got '0.5'"):
        GRU(3, 4, num_layers=2, dropout="0.5")
    with pytest.raises(ValueError, match="state must be a dict of arrays.*NoneType"):
        LSTM(3, 4).load_state_dict(None)
