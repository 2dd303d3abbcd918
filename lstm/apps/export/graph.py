"""A small builder over onnx.helper: named constants, nodes with fresh output names, and the
standard ONNX recurrent operators fed with torch-layout weights.

torch.nn (and lstm) keep the gate blocks of an LSTM as [i, f, g, o] and of a GRU as [r, z, n];
ONNX's LSTM wants [i, o, f, c] and its GRU [z, r, h]; biases are given as one (dirs, 2 * gates * H)
row [W_b | R_b]. A GRU exports with linear_before_reset=1, which is torch's
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)). A bidirectional layer's outputs Y (T, 2, B, H)
become (T, B, 2H) for the next layer or the read-out, as torch's are.
"""

from __future__ import annotations

import numpy as np

OPSET = 17
# gate blocks of torch's layout, in the order ONNX wants them
GATE_ORDER = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2), "RNN": (0,)}


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as e:
        raise RuntimeError("ONNX export needs the onnx package: pip install "
                           "'minigrad-lstm[onnx]'") from e
    return onnx, helper, numpy_helper


class Graph:
    """Nodes, initializers, inputs and outputs of one ONNX graph under construction."""

    def __init__(self, name: str):
        self.onnx, self.helper, self.numpy_helper = _onnx()
        self.name, self.nodes, self.initializers = name, [], []
        self.inputs, self.outputs, self._count = [], [], 0

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, value, name: str | None = None, dtype=None) -> str:
        array = np.asarray(value, dtype=dtype)
        name = name or self.fresh("const")
        self.initializers.append(self.numpy_helper.from_array(array.copy(order="C"), name))
        return name

    def op(self, op_type: str, inputs, outputs: int = 1, **attributes):
        """Add a node; its output name (or names, for outputs > 1)."""
        names = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), names, **attributes))
        return names[0] if outputs == 1 else names

    def input(self, name: str, elem_type: str, shape) -> str:
        kind = getattr(self.onnx.TensorProto, elem_type)
        self.inputs.append(self.helper.make_tensor_value_info(name, kind, list(shape)))
        return name

    def output(self, source: str, name: str, elem_type: str = "FLOAT", shape=None) -> None:
        self.nodes.append(self.helper.make_node("Identity", [source], [name]))
        kind = getattr(self.onnx.TensorProto, elem_type)
        self.outputs.append(self.helper.make_tensor_value_info(name, kind, shape))

    def linear(self, x: str, weight, bias=None) -> str:
        """x @ weight.T + bias (weight (out, in), torch's layout)."""
        y = self.op("MatMul", [x, self.const(np.asarray(weight, np.float32).T)])
        return y if bias is None else self.op("Add", [y, self.const(np.asarray(bias,
                                                                               np.float32))])

    def model(self, doc: str = ""):
        graph = self.helper.make_graph(self.nodes, self.name, self.inputs, self.outputs,
                                       self.initializers)
        model = self.helper.make_model(graph, producer_name="minigrad-lstm",
                                       opset_imports=[self.helper.make_opsetid("", OPSET)])
        model.doc_string = doc
        self.onnx.checker.check_model(model)
        return model


def _reorder(array: np.ndarray, op_type: str, hidden: int) -> np.ndarray:
    blocks = np.split(np.asarray(array, np.float32), len(GATE_ORDER[op_type]), axis=0)
    return np.concatenate([blocks[i] for i in GATE_ORDER[op_type]], axis=0)


def recurrent(graph: Graph, x: str, layer, op_type: str, sequence_lens: str | None = None,
              initial: tuple | None = None) -> tuple[str, str, str | None]:
    """Every layer of an lstm RNN/LSTM/GRU module over x (T, B, I): the top layer's outputs
    (T, B, D*H), its h_n and (LSTM) c_n, each (L*D, B, H) like torch's."""
    if op_type not in GATE_ORDER:
        raise ValueError(f"recurrent: op_type must be one of {tuple(GATE_ORDER)}, got "
                         f"{op_type!r}")
    params = {k: v.numpy() for k, v in layer.named_parameters()}
    hidden, directions = layer.hidden_size, layer.num_directions
    suffixes = [""] + (["_reverse"] if directions == 2 else [])
    attributes = {"hidden_size": hidden,
                  "direction": "bidirectional" if directions == 2 else "forward"}
    if op_type == "GRU":
        attributes["linear_before_reset"] = 1
    if op_type == "RNN":
        attributes["activations"] = [layer.nonlinearity.capitalize()] * directions
    h_all, c_all = [], []
    for k in range(layer.num_layers):
        w, r, b = [], [], []
        for s in suffixes:
            w.append(_reorder(params[f"weight_ih_l{k}{s}"], op_type, hidden))
            r.append(_reorder(params[f"weight_hh_l{k}{s}"], op_type, hidden))
            gates = len(GATE_ORDER[op_type]) * hidden
            bias_ih = params.get(f"bias_ih_l{k}{s}", np.zeros(gates, np.float32))
            bias_hh = params.get(f"bias_hh_l{k}{s}", np.zeros(gates, np.float32))
            b.append(np.concatenate([_reorder(bias_ih, op_type, hidden),
                                     _reorder(bias_hh, op_type, hidden)]))
        inputs = [x, graph.const(np.stack(w)), graph.const(np.stack(r)),
                  graph.const(np.stack(b)), sequence_lens or ""]
        if initial is not None:
            inputs += [initial[0]] + ([initial[1]] if op_type == "LSTM" else [])
        outputs = graph.op(op_type, inputs, 3 if op_type == "LSTM" else 2, **attributes)
        y = graph.op("Transpose", [outputs[0]], perm=[0, 2, 1, 3])  # (T, B, D, H)
        x = graph.op("Reshape", [y, graph.const([0, 0, directions * hidden], dtype=np.int64)])
        h_all.append(outputs[1])
        if op_type == "LSTM":
            c_all.append(outputs[2])
    stack = lambda names: names[0] if len(names) == 1 else graph.op("Concat", names, axis=0)  # noqa: E731
    return x, stack(h_all), (stack(c_all) if c_all else None)


def op_type_of(layer) -> str:
    """The ONNX operator of an lstm recurrent layer (LSTM, GRU or RNN), or an error naming it."""
    from ...layers import GRU, LSTM, RNN

    for kind, op_type in ((LSTM, "LSTM"), (GRU, "GRU"), (RNN, "RNN")):
        if type(layer) is kind:
            return op_type
    raise ValueError(f"ONNX export: {type(layer).__name__} has no standard ONNX operator "
                     "(LSTM, GRU and RNN do)")
