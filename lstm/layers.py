"""Sequence layers for any cell, and RNN / LSTM / GRU with torch.nn's signature and state_dict.

``Recurrent(cell, input_size, hidden_size, ...)`` runs a ``lstm.cells.Cell`` over a sequence with
layers, directions, ``lengths`` (PackedSequence semantics), initial states, inter-layer dropout and
the per-step gradient norms of the gradient-flow experiments. ``impl="fused"`` (default) runs each
layer and direction as one fused whole-sequence primitive compiled from the cell's step;
``impl="composed"`` unrolls the step op by op (the readable reference the fused path is held to).
A cell with ``parallel_sequence`` (minGRU, minLSTM: a linear recurrence) runs that for "fused"
instead (unless its ``scan`` is False: then its step, compiled), and its step for grad_norms and
recurrent dropout.
Parameters are the cells' own, registered as ``<name>_l{layer}[_reverse]`` as torch.nn names them.
"""

from __future__ import annotations

import difflib
import inspect

import numpy as np

import minigrad as mg
from minigrad import init
from minigrad.nn import Module
from minigrad.tensor import Tensor

from . import recurrent_dropout as rd
from .cell_zoo import ProjLSTMCell
from .cells import Cell, GRUCell, LSTMCell, RNNCell, check_nonlinearity
from .checks import (
    check_dtype,
    check_flag,
    check_fraction,
    check_length_range,
    check_size,
    check_states,
)

IMPLS = ("fused", "composed")
INIT_HH = ("default", "orthogonal", "identity")


class Recurrent(Module):
    """Any cell over a sequence: x (T, B, I) -> out (T, B, D*H_out), final states.

    `cell` is a Cell subclass (or a factory with its signature) built once per layer and
    direction as ``cell(layer_input, hidden_size, bias=bias, rng=rng, dtype=dtype,
    **cell_options)``. forward(x, state=None, lengths=None, grad_norms=None) returns
    (out, state_n): state_n a tensor for one-state cells, else a tuple, each (L*D, B, size).
    ``recurrent_dropout=p``: variational dropout on the states' recurrent products, one mask
    per sequence (lstm.recurrent_dropout), in training mode only.
    """

    def __init__(self, cell, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, impl: str = "fused", rng=None, dtype=np.float32,
                 recurrent_dropout: float = 0.0, **cell_options):
        super().__init__()
        owner = type(self).__name__
        input_size, hidden_size = (check_size(owner, "input_size", input_size),
                                   check_size(owner, "hidden_size", hidden_size))
        num_layers, dtype = check_size(owner, "num_layers", num_layers), check_dtype(owner, dtype)
        dropout = check_fraction(owner, "dropout", dropout)
        bias, batch_first, bidirectional = (check_flag(owner, "bias", bias),
                                            check_flag(owner, "batch_first", batch_first),
                                            check_flag(owner, "bidirectional", bidirectional))
        self.recurrent_dropout = check_fraction(owner, "recurrent_dropout", recurrent_dropout)
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        if not callable(cell):
            raise ValueError(f"cell must be a Cell subclass or a factory, got {cell!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional, self.impl = bidirectional, impl
        self.num_directions = 2 if bidirectional else 1
        self.rng = np.random.default_rng(rng)
        cells = {}
        for layer in range(num_layers):
            for suffix in self._suffixes(layer):
                layer_input = input_size if layer == 0 else self.output_size
                made = cell(layer_input, hidden_size, bias=bias, rng=self.rng, dtype=dtype,
                            **cell_options)
                if not isinstance(made, Cell):
                    raise ValueError(f"cell factory must return a lstm.cells.Cell, got "
                                     f"{type(made).__name__}")
                cells[suffix] = made
                for name, value in made._parameters.items():
                    setattr(self, name + suffix, value)
                for name in ("bias_ih", "bias_hh"):
                    if name in vars(made) and getattr(made, name) is None:
                        setattr(self, name + suffix, None)  # torch's layers show them as None
                if suffix == "_l0":
                    self.output_size = made.state_size(made.states[0]) * self.num_directions
        object.__setattr__(self, "cells", cells)
        self.cell_type = type(cells["_l0"])
        self.state_names = cells["_l0"].states

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    def cell(self, suffix: str) -> Cell:
        """The cell of one layer and direction ('_l0', '_l1_reverse'), bound to this layer's
        current parameter objects."""
        cell = self.cells[suffix]
        for name in list(cell._parameters):
            value = getattr(self, name + suffix)
            object.__setattr__(cell, name, value)
            cell._parameters[name] = value  # the fused path reads cell._parameters
        return cell

    # ---- input checks --------------------------------------------------------------------------
    @property
    def _label(self) -> str:
        """The layer as its errors name it: LSTM, GRU, ... or Recurrent(MinGRUCell)."""
        name = type(self).__name__
        cell_type = vars(self).get("cell_type")
        return f"{name}({cell_type.__name__})" if name == "Recurrent" and cell_type else name

    def _check_input(self, x):
        x = x if isinstance(x, Tensor) else mg.tensor(x)
        name = self._label
        if x.ndim != 3:
            layout = "(batch, seq_len, input_size)" if self.batch_first else \
                "(seq_len, batch, input_size)"
            raise ValueError(f"{name}: input must be 3-d {layout} or 2-d unbatched (seq_len, "
                             f"input_size), got shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has {x.shape[-1]} features (shape {x.shape}), "
                             f"expected input_size={self.input_size}")
        dtype = self.weight_ih_l0.dtype
        if x.dtype != dtype:
            raise ValueError(f"{name}: input dtype {x.dtype} does not match the parameters' "
                             f"{dtype} (use module.astype or x.astype)")
        if x.device != self.weight_ih_l0.device:
            raise ValueError(f"{name}: input is on {x.device}, parameters on "
                             f"{self.weight_ih_l0.device}")
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        steps, batch = x.shape[0], x.shape[1]
        if batch < 1 or steps < 1:
            raise ValueError(f"{name}: empty input: seq_len={steps}, batch={batch}")
        if mg.is_anomaly_enabled() and not np.isfinite(x.numpy()).all():
            raise ValueError(f"{name}: input contains non-finite values (detect_anomaly is on)")
        return x

    def _check_state(self, state, name: str, batch: int, size: int):
        expected = (self.num_layers * self.num_directions, batch, size)
        if state is None:  # zeros, or the cell's initial value of this state
            return mg.full(expected, self.cells["_l0"].initial_values.get(name, 0.0),
                           dtype=self.weight_ih_l0.dtype, device=self.weight_ih_l0.device)
        state = state if isinstance(state, Tensor) else mg.tensor(state)
        if state.shape != expected:
            raise ValueError(f"{self._label}: {name}0 must have shape {expected} "
                             "(num_layers * num_directions, batch, state size), got "
                             f"{state.shape}")
        if state.dtype != self.weight_ih_l0.dtype:
            raise ValueError(f"{self._label}: {name}0 dtype {state.dtype} does not "
                             f"match the parameters' {self.weight_ih_l0.dtype}")
        return state

    def _check_lengths(self, lengths, steps: int, batch: int):
        """lengths as numpy int64, or a Tensor kept as one (the fused kernels read it: under
        mg.compile a value of the program, its range checked on every call, host_check)."""
        if lengths is None:
            return None
        tensor = isinstance(lengths, Tensor)
        array = lengths if tensor else np.asarray(lengths)
        if array.shape != (batch,):
            raise ValueError(f"{self._label}: lengths must have shape ({batch},), got "
                             f"{array.shape}")
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{self._label}: lengths must be integers, got dtype "
                             f"{array.dtype}")

        check_length_range(array, steps, f"{self._label}: ", " (seq_len)")
        return lengths.astype(np.int64) if tensor else array.astype(np.int64)

    # ---- the stack of layers -------------------------------------------------------------------
    def forward(self, x, state=None, lengths=None, grad_norms=None):
        """x (T, B, I) -> out (T, B, D*H_out), final state(s) each (L*D, B, size). An unbatched
        x (T, I), as torch's: out (T, D*H_out), states each (L*D, size), given ones too."""
        given = check_states(self._label, self.state_names, state)
        x = x if isinstance(x, Tensor) else mg.tensor(x)
        unbatched = x.ndim == 2
        if unbatched:
            x, given = self._batch_of_one(x, given, lengths)
        out, finals = self._run(x, given, lengths, grad_norms)
        if unbatched:
            out = out.reshape(out.shape[0 if not self.batch_first else 1], out.shape[2])
            finals = [f.reshape(f.shape[0], f.shape[2]) for f in finals]
        return out, (finals[0] if len(self.state_names) == 1 else tuple(finals))

    def _batch_of_one(self, x, given, lengths):
        """An unbatched x (T, I) and its 2-d states as a batch of one (batch_first or not)."""
        if lengths is not None:
            raise ValueError(f"{self._label}: lengths need a batch: the input is unbatched "
                             f"(2-d, shape {x.shape})")
        states = []
        for s, name in zip(given, self.state_names):
            if s is not None:
                s = s if isinstance(s, Tensor) else mg.tensor(s)
                if s.ndim != 2:
                    raise ValueError(f"{self._label}: for an unbatched (2-d) input, {name}0 must "
                                     f"be 2-d (num_layers * num_directions, state size), got "
                                     f"shape {s.shape}")
                s = s.reshape(s.shape[0], 1, s.shape[1])
            states.append(s)
        shape = (1, *x.shape) if self.batch_first else (x.shape[0], 1, x.shape[1])
        return x.reshape(*shape), tuple(states)

    def _run(self, x, given, lengths, grad_norms):
        x = self._check_input(x)
        steps, batch = x.shape[0], x.shape[1]
        lengths = self._check_lengths(lengths, steps, batch)
        first = self.cells["_l0"]
        initial = [self._check_state(s, name, batch, first.state_size(name))
                   for s, name in zip(given, self.state_names)]
        n = self.num_layers * self.num_directions
        per_k = [s.unstack(0) if n > 1 else [s[0]] for s in initial]
        finals = [[] for _ in self.state_names]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                k = layer * self.num_directions + direction
                sink = None
                if grad_norms is not None:
                    sink = grad_norms.setdefault(suffix.lstrip("_"), {})
                masks = None
                if self.recurrent_dropout and self.training:
                    sizes = [self.cells[suffix].state_size(name) for name in self.state_names]
                    masks = rd.draw_masks(self.rng, self.recurrent_dropout, batch, sizes,
                                          x.dtype, x.device)
                out, last = self._sequence(layer_input, tuple(s[k] for s in per_k), suffix,
                                           lengths, direction == 1, sink, masks)
                outputs.append(out)
                for collected, s in zip(finals, last):
                    collected.append(s)
            layer_input = outputs[0] if len(outputs) == 1 else mg.concat(outputs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = mg.dropout(layer_input, self.dropout, self.rng)
        out = layer_input.transpose(1, 0, 2) if self.batch_first else layer_input
        return out, [mg.stack(f, 0) for f in finals]

    def _sequence(self, x, states, suffix, lengths, reverse, sink, masks=None):
        cell = self.cell(suffix)
        parallel = getattr(cell, "parallel_sequence", None)  # a linear-scan cell (minGRU)
        if parallel is not None and not getattr(cell, "scan", True):
            parallel = None  # the cell asks for its compiled step instead
        if parallel is None and self.impl == "fused":
            return self._fused(cell, x, states, lengths, reverse, sink, masks)
        lengths = host_lengths(lengths)
        if parallel is not None and self.impl == "fused" and sink is None and masks is None:
            return parallel(x, states, lengths, reverse)
        return composed_sequence(cell, x, states, lengths, reverse, masks, sink)

    def _fused(self, cell, x, states, lengths, reverse, sink, masks=None):
        from .fused import fused_sequence

        if masks is None:
            return fused_sequence(cell, x, states, lengths, reverse, sink)
        if sink is not None:  # dL/dh_t is split between h_t and the carried mask * h_t
            raise ValueError(f"{type(self).__name__}: grad_norms with recurrent_dropout in "
                             "training mode needs impl='composed'")
        carried = tuple(states) + masks + tuple(s * m for s, m in zip(states, masks))
        out, finals = fused_sequence(rd.masked_cell(cell), x, carried, lengths, reverse, sink)
        return out, tuple(finals[:len(states)])

    def extra_repr(self):
        extra = "" if self.num_layers == 1 else f", num_layers={self.num_layers}"
        extra += ", bidirectional=True" if self.bidirectional else ""
        return f"{self.input_size}, {self.hidden_size}{extra}, impl={self.impl!r}"


def host_lengths(lengths):
    """lengths as numpy for the paths that index with it on the host (composed, parallel
    scans); a Tensor's values are read here (inside mg.compile: the CompileError naming it)."""
    return lengths.numpy() if isinstance(lengths, Tensor) else lengths


def composed_sequence(cell: Cell, x, states, lengths, reverse, masks=None, grad_norms=None):
    """The cell's step unrolled over x (T, B, I); past a sequence's length the state holds and
    the output is 0. Returns out (T, B, H_out) and the final states. `masks` (one array per
    state) apply recurrent dropout; a `grad_norms` dict receives each state's per-step
    ||dL/ds_t|| (readable as a (T, B) array once backward has run)."""
    steps = x.shape[0]
    xs = x.unstack(0)
    valid = None
    if lengths is not None:
        valid = np.arange(steps)[:, None, None] < lengths[None, :, None]  # (T, B, 1)
    outputs = [None] * steps
    retained = [[None] * steps for _ in states]
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        if masks is None:
            new = tuple(cell.step(xs[t], states))
        else:
            wrapped = rd.masked_states(states, masks)
            new = rd.unwrap(tuple(cell.step(xs[t], wrapped)), wrapped, states)
        if grad_norms is not None:
            for k, n in enumerate(new):
                n.retain_grad()
                retained[k][t] = n
        if valid is None or valid[t].all():
            states, outputs[t] = new, new[0]
        else:
            states = tuple(mg.where(valid[t], n, s) for n, s in zip(new, states))
            outputs[t] = mg.where(valid[t], new[0], 0.0)
    if grad_norms is not None:
        for name, tensors in zip(cell.states, retained):
            grad_norms[name] = rd.RetainedNorms(tensors)
    return mg.stack(outputs, 0), states


class _TorchLayer(Recurrent):
    """RNN / LSTM / GRU: torch.nn's signature; init_hh "orthogonal" or "identity" sets each
    (H, H) block of weight_hh."""

    cell_class = RNNCell

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 impl: str = "fused", nonlinearity: str = "tanh", init_hh: str = "default",
                 rng=None, dtype=np.float32, recurrent_dropout: float = 0.0, **unexpected):
        if unexpected:
            raise self._unexpected(unexpected)
        if init_hh not in INIT_HH:
            raise ValueError(f"init_hh must be one of {INIT_HH}, got {init_hh!r}")
        check_nonlinearity(nonlinearity)
        options = {"nonlinearity": nonlinearity} if self.cell_class is RNNCell else {}
        if self.cell_class is not RNNCell and nonlinearity != "tanh":
            raise ValueError(f"{type(self).__name__} has no nonlinearity option")
        cell, options = self._cell_spec(options)
        super().__init__(cell, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, impl, rng, dtype, recurrent_dropout, **options)
        if init_hh != "default":
            for layer in range(num_layers):
                for suffix in self._suffixes(layer):
                    self._init_blocks(getattr(self, "weight_hh" + suffix), init_hh, dtype)

    def _cell_spec(self, options: dict):
        """The cell class and its options (LSTM: the projected cell when proj_size > 0)."""
        return self.cell_class, options

    def _unexpected(self, unexpected: dict) -> Exception:
        """The error for keywords this class does not take, naming the class (not this base),
        the argument and the closest accepted name."""
        owner = type(self).__name__
        if "proj_size" in unexpected:  # torch's message: only LSTM projects its output
            return ValueError(f"{owner}: proj_size is only supported for LSTM, not RNN or GRU "
                              f"(got proj_size={unexpected['proj_size']!r})")
        accepted = [name for cls in type(self).__mro__ if "__init__" in vars(cls)
                    for name in inspect.signature(vars(cls)["__init__"]).parameters
                    if name not in ("self", "args", "kwargs", "unexpected")]
        name = next(iter(unexpected))
        close = difflib.get_close_matches(name, accepted, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return TypeError(f"{owner}() got an unexpected keyword argument {name!r}{hint}")

    @property
    def nonlinearity(self) -> str:
        """The RNN cells' activation ("tanh" for LSTM and GRU); settable on RNN."""
        return getattr(self.cells["_l0"], "nonlinearity", "tanh")

    @nonlinearity.setter
    def nonlinearity(self, value: str) -> None:
        check_nonlinearity(value)
        if self.cell_class is not RNNCell and value != "tanh":
            raise ValueError(f"{type(self).__name__} has no nonlinearity option")
        for cell in self.cells.values():
            if isinstance(cell, RNNCell):
                cell.nonlinearity = value

    def _init_blocks(self, w_hh, init_hh, dtype):
        size = self.hidden_size
        for block in range(w_hh.shape[0] // size):
            piece = mg.tensor(np.empty((size, size), dtype))
            if init_hh == "orthogonal":
                init.orthogonal_(piece, rng=self.rng)
            else:
                init.identity_(piece)
            w_hh.data[block * size:(block + 1) * size] = piece.data


class RNN(_TorchLayer):
    """Elman RNN, tanh or relu (relu with init_hh="identity" is the IRNN of Le et al. 2015)."""

    cell_class = RNNCell


class GRU(_TorchLayer):
    """Gated recurrent unit (Cho et al. 2014), torch's equations."""

    cell_class = GRUCell


class LSTM(_TorchLayer):
    """LSTM with forget gate; options: forget_bias (Gers et al. 2000), chrono init (Tallec &
    Ollivier 2018: forget biases log U[1, chrono_t_max - 1], input biases their negation),
    proj_size (Sak et al. 2014, torch's: h and the output have proj_size columns, weight_hr)."""

    cell_class = LSTMCell

    def _cell_spec(self, options):
        if self._proj_size:
            return ProjLSTMCell, {**options, "proj_size": self._proj_size}
        return LSTMCell, options

    def __init__(self, *args, proj_size: int = 0, forget_bias: float | None = None,
                 chrono_t_max: int | None = None, **kwargs):
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError(f"proj_size must be an integer >= 0, got {proj_size!r}")
        if proj_size and kwargs.get("init_hh", "default") != "default":
            raise ValueError("init_hh sets (H, H) blocks of weight_hh: it needs proj_size=0")
        object.__setattr__(self, "_proj_size", proj_size)  # read by _cell_spec during init
        super().__init__(*args, **kwargs)
        self.proj_size = proj_size
        if forget_bias is not None and chrono_t_max is not None:
            raise ValueError("give forget_bias or chrono_t_max, not both")
        if (forget_bias is not None or chrono_t_max is not None) and not self.bias:
            raise ValueError("forget_bias and chrono_t_max need bias=True")
        if chrono_t_max is not None and chrono_t_max < 3:
            raise ValueError(f"chrono_t_max must be >= 3, got {chrono_t_max}")
        self.forget_bias, self.chrono_t_max = forget_bias, chrono_t_max
        size = self.hidden_size
        forget, gate_in = slice(size, 2 * size), slice(0, size)
        for layer in range(self.num_layers):
            for suffix in self._suffixes(layer):
                b_ih, b_hh = getattr(self, "bias_ih" + suffix), getattr(self, "bias_hh" + suffix)
                if forget_bias is not None:
                    # the effective forget bias b_ih + b_hh equals forget_bias
                    b_ih.data[forget] = forget_bias
                    b_hh.data[forget] = 0.0
                if chrono_t_max is not None:
                    bf = np.log(self.rng.uniform(1.0, chrono_t_max - 1.0, size))
                    b_ih.data[forget], b_hh.data[forget] = bf, 0.0
                    b_ih.data[gate_in], b_hh.data[gate_in] = -bf, 0.0


def flops_per_step(mode: str, batch: int, steps: int, input_size: int, hidden_size: int) -> float:
    """Training-step flops (forward + backward, GEMMs only): 3 * 2 * B * T * (I + H) * G * H."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[mode]
    return 3.0 * 2 * batch * steps * (input_size + hidden_size) * gates * hidden_size


__all__ = ["Recurrent", "RNN", "LSTM", "GRU", "composed_sequence", "flops_per_step"]
