"""RNN, LSTM and GRU sequence layers with torch.nn's signature, parameter names and semantics.

``impl="fused"`` (default) runs each layer and direction as one fused whole-sequence primitive
(minigrad.ops.recurrent); ``impl="composed"`` unrolls the cells of lstm.cells step by step (the
readable reference, and what the tests hold the fused path to).
"""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad import autograd, init
from minigrad.nn import Module
from minigrad.tensor import Tensor

from .cells import GATES, check_nonlinearity, gru_cell, lstm_cell, make_weights, rnn_cell
from .checks import (
    check_dtype,
    check_flag,
    check_fraction,
    check_pair_state,
    check_single_state,
    check_size,
)

IMPLS = ("fused", "composed")
INIT_HH = ("default", "orthogonal", "identity")


class _RecurrentLayer(Module):
    mode = ""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 impl: str = "fused", nonlinearity: str = "tanh", init_hh: str = "default",
                 rng=None, dtype=np.float32):
        super().__init__()
        owner = type(self).__name__
        input_size, hidden_size = (check_size(owner, "input_size", input_size),
                                   check_size(owner, "hidden_size", hidden_size))
        num_layers, dtype = check_size(owner, "num_layers", num_layers), check_dtype(owner, dtype)
        dropout = check_fraction(owner, "dropout", dropout)
        bias, batch_first, bidirectional = (check_flag(owner, "bias", bias),
                                            check_flag(owner, "batch_first", batch_first),
                                            check_flag(owner, "bidirectional", bidirectional))
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        if init_hh not in INIT_HH:
            raise ValueError(f"init_hh must be one of {INIT_HH}, got {init_hh!r}")
        check_nonlinearity(nonlinearity)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional, self.impl, self.nonlinearity = bidirectional, impl, nonlinearity
        self.num_directions = 2 if bidirectional else 1
        self.rng = np.random.default_rng(rng)
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes(layer):
                make_weights(self, self.mode, layer_input, hidden_size, bias, suffix, self.rng,
                             np.dtype(dtype))
                w_hh = getattr(self, "weight_hh" + suffix)
                if init_hh != "default":
                    for block in range(GATES[self.mode]):
                        piece = mg.tensor(np.empty((hidden_size, hidden_size), dtype))
                        if init_hh == "orthogonal":
                            init.orthogonal_(piece, rng=self.rng)
                        else:
                            init.identity_(piece)
                        w_hh.data[block * hidden_size:(block + 1) * hidden_size] = piece.data

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    def weights(self, suffix: str) -> tuple:
        return tuple(getattr(self, name + suffix)
                     for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    # ---- input checks --------------------------------------------------------------------------
    def _check_input(self, x):
        x = x if isinstance(x, Tensor) else mg.tensor(x)
        name = type(self).__name__
        if x.ndim != 3:
            layout = "(batch, seq_len, input_size)" if self.batch_first else \
                "(seq_len, batch, input_size)"
            raise ValueError(f"{name}: input must be 3-d {layout}, got shape {x.shape}")
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
        if autograd.state.anomaly and not np.isfinite(x.numpy()).all():
            raise ValueError(f"{name}: input contains non-finite values (detect_anomaly is on)")
        return x

    def _check_state(self, state, name: str, batch: int):
        expected = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if state is None:
            return mg.zeros(*expected, dtype=self.weight_ih_l0.dtype,
                            device=self.weight_ih_l0.device)
        state = state if isinstance(state, Tensor) else mg.tensor(state)
        if state.shape != expected:
            raise ValueError(f"{type(self).__name__}: {name} must have shape {expected} "
                             "(num_layers * num_directions, batch, hidden_size), got "
                             f"{state.shape}")
        if state.dtype != self.weight_ih_l0.dtype:
            raise ValueError(f"{type(self).__name__}: {name} dtype {state.dtype} does not match "
                             f"the parameters' {self.weight_ih_l0.dtype}")
        return state

    def _check_lengths(self, lengths, steps: int, batch: int):
        if lengths is None:
            return None
        array = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
        if array.shape != (batch,):
            raise ValueError(f"{type(self).__name__}: lengths must have shape ({batch},), got "
                             f"{array.shape}")
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{type(self).__name__}: lengths must be integers, got dtype "
                             f"{array.dtype}")
        if array.min() < 1 or array.max() > steps:
            raise ValueError(f"{type(self).__name__}: every length must be in 1..{steps} "
                             f"(seq_len), got min {array.min()} max {array.max()}")
        return array.astype(np.int64)

    # ---- the stack of layers -------------------------------------------------------------------
    def _run(self, x, h0, c0, lengths, grad_norms):
        x = self._check_input(x)
        steps, batch = x.shape[0], x.shape[1]
        lengths = self._check_lengths(lengths, steps, batch)
        h0 = self._check_state(h0, "h0", batch)
        c0 = self._check_state(c0, "c0", batch) if self.mode == "lstm" else None
        if grad_norms is not None and self.impl != "fused":
            raise ValueError("grad_norms needs impl='fused' (on the composed path, call "
                             "retain_grad() on the outputs instead)")
        h_states = h0.unstack(0) if self.num_layers * self.num_directions > 1 else [h0[0]]
        c_states = None
        if c0 is not None:
            c_states = c0.unstack(0) if len(h_states) > 1 else [c0[0]]
        h_n, c_n = [], []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                k = layer * self.num_directions + direction
                sink = None
                if grad_norms is not None:
                    sink = grad_norms.setdefault(suffix.lstrip("_"), {})
                out, h_last, c_last = self._sequence(
                    layer_input, h_states[k], None if c_states is None else c_states[k],
                    self.weights(suffix), lengths, direction == 1, sink)
                outputs.append(out)
                h_n.append(h_last)
                c_n.append(c_last)
            layer_input = outputs[0] if len(outputs) == 1 else mg.concat(outputs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = mg.dropout(layer_input, self.dropout, self.rng)
        out = layer_input.transpose(1, 0, 2) if self.batch_first else layer_input
        h_n = mg.stack(h_n, 0)
        return out, h_n, (mg.stack(c_n, 0) if self.mode == "lstm" else None)

    def _sequence(self, x, h0, c0, weights, lengths, reverse, sink):
        if self.impl == "fused":
            return self._fused(x, h0, c0, weights, lengths, reverse, sink)
        return self._composed(x, h0, c0, weights, lengths, reverse)

    def _fused(self, x, h0, c0, weights, lengths, reverse, sink):
        from minigrad.ops import recurrent

        if self.mode == "lstm":
            return recurrent.lstm_sequence(x, h0, c0, *weights, lengths=lengths,
                                           reverse=reverse, grad_norms=sink)
        if self.mode == "gru":
            out, h_n = recurrent.gru_sequence(x, h0, *weights, lengths=lengths,
                                              reverse=reverse, grad_norms=sink)
        else:
            out, h_n = recurrent.rnn_sequence(x, h0, *weights, nonlinearity=self.nonlinearity,
                                              lengths=lengths, reverse=reverse, grad_norms=sink)
        return out, h_n, None

    def _composed(self, x, h, c, weights, lengths, reverse):
        """Unrolled cells; past a sequence's length the state holds and the output is 0."""
        steps = x.shape[0]
        xs = x.unstack(0)
        valid = None
        if lengths is not None:
            valid = np.arange(steps)[:, None, None] < lengths[None, :, None]  # (T, B, 1)
        outputs = [None] * steps
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            if self.mode == "lstm":
                h_new, c_new = lstm_cell(xs[t], h, c, *weights)
            elif self.mode == "gru":
                h_new, c_new = gru_cell(xs[t], h, *weights), None
            else:
                h_new, c_new = rnn_cell(xs[t], h, *weights, self.nonlinearity), None
            if valid is None or valid[t].all():
                h, c, outputs[t] = h_new, c_new, h_new
            else:
                h = mg.where(valid[t], h_new, h)
                c = None if c is None else mg.where(valid[t], c_new, c)
                outputs[t] = mg.where(valid[t], h_new, 0.0)
        return mg.stack(outputs, 0), h, c

    def extra_repr(self):
        extra = "" if self.num_layers == 1 else f", num_layers={self.num_layers}"
        extra += ", bidirectional=True" if self.bidirectional else ""
        return f"{self.input_size}, {self.hidden_size}{extra}, impl={self.impl!r}"


class RNN(_RecurrentLayer):
    """Elman RNN, tanh or relu (relu with init_hh="identity" is the IRNN of Le et al. 2015)."""

    mode = "rnn"

    def forward(self, x, h0=None, lengths=None, grad_norms=None):
        """x (T, B, I) -> out (T, B, D*H), h_n (L*D, B, H)."""
        h0 = check_single_state(type(self).__name__, h0)
        out, h_n, _ = self._run(x, h0, None, lengths, grad_norms)
        return out, h_n


class GRU(_RecurrentLayer):
    """Gated recurrent unit (Cho et al. 2014), torch's equations."""

    mode = "gru"

    def __init__(self, *args, **kwargs):
        if kwargs.get("nonlinearity", "tanh") != "tanh":
            raise ValueError("GRU has no nonlinearity option")
        super().__init__(*args, **kwargs)

    def forward(self, x, h0=None, lengths=None, grad_norms=None):
        """x (T, B, I) -> out (T, B, D*H), h_n (L*D, B, H)."""
        h0 = check_single_state(type(self).__name__, h0)
        out, h_n, _ = self._run(x, h0, None, lengths, grad_norms)
        return out, h_n


class LSTM(_RecurrentLayer):
    """LSTM with forget gate; options: forget_bias (Gers et al. 2000), chrono init (Tallec &
    Ollivier 2018: forget biases log U[1, chrono_t_max - 1], input biases their negation)."""

    mode = "lstm"

    def __init__(self, *args, forget_bias: float | None = None, chrono_t_max: int | None = None,
                 **kwargs):
        if kwargs.get("nonlinearity", "tanh") != "tanh":
            raise ValueError("LSTM has no nonlinearity option")
        super().__init__(*args, **kwargs)
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

    def forward(self, x, state=None, lengths=None, grad_norms=None):
        """x (T, B, I) -> out (T, B, D*H), (h_n, c_n) each (L*D, B, H)."""
        h0, c0 = check_pair_state(type(self).__name__, state)
        out, h_n, c_n = self._run(x, h0, c0, lengths, grad_norms)
        return out, (h_n, c_n)


def flops_per_step(mode: str, batch: int, steps: int, input_size: int, hidden_size: int) -> float:
    """Training-step flops (forward + backward, GEMMs only): 3 * 2 * B * T * (I + H) * G * H."""
    return 3.0 * 2 * batch * steps * (input_size + hidden_size) * GATES[mode] * hidden_size


__all__ = ["RNN", "LSTM", "GRU", "flops_per_step"]
