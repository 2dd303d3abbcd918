"""lstm: recurrent cells as definitions, sequence layers for any cell, the long-range memory tasks
and their experiments, on minigrad."""

from .cell_zoo import CIFGCell, JANETCell, LayerNormLSTMCell, PeepholeLSTMCell, ProjLSTMCell
from .cell_zoo_gru import GRUChoCell, IndRNNCell, MGUCell
from .cell_zoo_min import MinGRUCell, MinLSTMCell
from .cell_zoo_xlstm import MLSTMCell, SLSTMCell
from .cells import Cell, GRUCell, LSTMCell, RNNCell, gru_cell, lstm_cell, rnn_cell
from .layers import GRU, LSTM, RNN, Recurrent, flops_per_step
from .xlstm_parallel import MLSTM, mlstm_parallel

__version__ = "0.1.0"

__all__ = ["Cell", "Recurrent", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
           "rnn_cell", "lstm_cell", "gru_cell", "flops_per_step", "PeepholeLSTMCell",
           "ProjLSTMCell", "LayerNormLSTMCell", "CIFGCell", "JANETCell", "IndRNNCell", "MGUCell",
           "GRUChoCell",
           "SLSTMCell", "MLSTMCell", "MLSTM", "mlstm_parallel", "MinGRUCell", "MinLSTMCell"]
