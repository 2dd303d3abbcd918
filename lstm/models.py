"""Task models: one recurrent layer and a linear read-out, and the model names all commands share.

Adding: the final hidden state (at each sequence's last valid step) -> Linear(H, 1).
Copy: one-hot inputs (n_symbols + 2 classes; TCN's variant: the raw value as one channel) ->
recurrent layer -> Linear(H, n_symbols + 1) at every step.
"""

from __future__ import annotations

import warnings

import numpy as np

import minigrad as mg
from minigrad import init
from minigrad.compiler import CellCompileError
from minigrad.nn import Linear, Module
from minigrad.tensor import Tensor

from . import zoo
from .fused import compiled_step
from .tasks import Task

# the names every command shares, read from the registry (lstm.zoo)
VARIANT_NAMES = zoo.names(variant=True)
MODEL_NAMES = zoo.names()
GLOROT_MODELS = tuple(s.name for s in zoo.registered() if s.glorot)
INITS = ("default", "glorot")


class TaskModel(Module):
    """recurrent layer + read-out; forward(x, state, lengths) -> (output, final state).

    The state is the layer's (h_n, or (h_n, c_n) for the LSTM) so truncated BPTT can carry it
    from one chunk of steps to the next.
    """

    def __init__(self, recurrent: Module, task: Task, rng=None):
        super().__init__()
        if recurrent.input_size != task.input_size:
            raise ValueError(f"TaskModel: the layer's input_size {recurrent.input_size} does not "
                             f"match task {task.name!r}'s input_size {task.input_size}")
        self.recurrent = recurrent
        width = getattr(recurrent, "output_size",
                        recurrent.hidden_size * getattr(recurrent, "num_directions", 1))
        self.readout = Linear(width, task.output_size, rng=rng, dtype=recurrent.weight_ih_l0.dtype)
        self.task = task

    def encode(self, x) -> Tensor:
        """Task inputs (numpy) -> a float tensor (T, B, input_size) in the parameters' dtype."""
        x = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
        dtype = self.readout.weight.dtype
        encoding = self.task.input_encoding
        if encoding == "onehot":
            x = np.eye(self.task.input_size, dtype=dtype)[x]
        elif encoding == "scalar":
            x = x.astype(dtype)[..., None]
        else:
            x = x.astype(dtype, copy=False)
        return mg.tensor(x, device=self.readout.weight.device)

    def forward(self, x, state=None, lengths=None):
        """Adding: (B, 1) predictions from the final state; copy: (T', B, C) logits."""
        return self.forward_encoded(self.encode(x), state, lengths)

    def forward_encoded(self, x: Tensor, state=None, lengths=None):
        """forward() of inputs already encoded (encode(x)): a function of tensors only."""
        out, state = self.recurrent(x, state, lengths=lengths)
        if self.task.is_copy:
            return self.readout(out), state
        h_n = state[0] if isinstance(state, tuple) else state
        return self.readout(h_n[-1]), state

    def extra_repr(self):
        return f"task={self.task.name!r}"


def build_recurrent(name: str, input_size: int, hidden_size: int, seq_len: int, rng=None,
                    impl: str = "fused", dtype=np.float32) -> Module:
    """The recurrent layer a model name (or a user's `module:Class` / `file.py:Class` cell)
    stands for (lstm.zoo); default init is torch's U(+-1/sqrt(H)) unless the model says
    otherwise. A cell whose step the cell compiler cannot fuse yet runs composed, with a
    warning naming what it cannot fuse."""
    layer = zoo.build_layer(name, input_size, hidden_size, seq_len, rng, impl, dtype)
    model = zoo.spec(name)
    if impl == "fused" and (model.variant or model.cell is not None):
        try:
            compiled_step(layer.cell("_l0"), dtype)
        except CellCompileError as error:
            warnings.warn(f"model {name!r} runs impl='composed': {error}", stacklevel=2)
            layer.impl = "composed"
    return layer


def glorot_init(model: TaskModel, name: str, rng=None) -> TaskModel:
    """Arjovsky et al. 2016's initialisation, in place: every weight matrix Glorot-uniform, each
    gate's block on its own ((H, I) and (H, H) blocks of the stacked matrices), biases 0, and for
    lstm-fb1 the forget-gate bias 1 (in bias_ih; bias_hh stays 0). For rnn, lstm, lstm-fb1, gru:
    the other models' inits (orthogonal, identity, chrono, the variants') are what they are."""
    if name not in GLOROT_MODELS:
        raise ValueError(f"init 'glorot' is defined for models {GLOROT_MODELS}, got {name!r}")
    rng = np.random.default_rng(rng)
    layer = model.recurrent
    hidden = layer.hidden_size
    for pname, param in layer.named_parameters():
        values = np.zeros(param.shape, dtype=param.dtype)
        if pname.startswith("weight"):
            for start in range(0, param.shape[0], hidden):
                rows, cols = values[start:start + hidden].shape
                bound = np.sqrt(6.0 / (rows + cols))
                values[start:start + hidden] = rng.uniform(-bound, bound, (rows, cols))
        elif name == "lstm-fb1" and pname.startswith("bias_ih"):
            values[hidden:2 * hidden] = 1.0  # gate order i, f, g, o (torch's)
        param.data = mg.tensor(values, device=param.device).data
    init.xavier_uniform_(model.readout.weight, rng=rng)
    init.zeros_(model.readout.bias)
    return model


def build_model(name: str, task: Task, hidden_size: int, seq_len: int | None = None, rng=None,
                impl: str = "fused", dtype=np.float32) -> TaskModel:
    """Model `name` for `task`; chrono's T_max is `seq_len` (default: the task's seq_len)."""
    if not isinstance(task, Task):
        raise ValueError(f"task must be a lstm.tasks.Task, got {type(task).__name__}")
    rng = np.random.default_rng(rng)
    seq_len = task.seq_len if seq_len is None else seq_len
    recurrent = build_recurrent(name, task.input_size, hidden_size, seq_len, rng, impl, dtype)
    return TaskModel(recurrent, task, rng)
