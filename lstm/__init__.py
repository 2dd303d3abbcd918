"""lstm: vanilla RNN, LSTM and GRU on minigrad, the long-range memory tasks, their experiments."""

from .cells import GRUCell, LSTMCell, RNNCell, gru_cell, lstm_cell, rnn_cell
from .layers import GRU, LSTM, RNN, flops_per_step

__version__ = "0.1.0"

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "rnn_cell", "lstm_cell",
           "gru_cell", "flops_per_step"]
