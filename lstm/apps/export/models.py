"""ONNX graphs of the applications' models, each equal to the model's own forward (eval mode):

- forecast (lstm.apps.forecast.train.ForecastNet): x (lookback, B, F) float32 -> forecast
  (B, horizon), standardised like the model's output, with its "delta" / "seasonal" read-out;
- classify (lstm.apps.classify.model.SequenceClassifier): x (T, B, F) float32 and
  lengths (B,) int32 -> logits (B, classes) and, with attention pooling, weights (T, B); the
  recurrent layer gets `lengths` as the LSTM operator's sequence_lens (packed, as ours);
- translate (lstm.apps.translate.model.Seq2Seq): source (B, S) int64, source_lengths (B,) int32,
  target_in (B, T) int64 -> logits (B, T, V) and, with attention, weights (B, T, S): the teacher-
  forced forward. Greedy decoding runs it on <s> and feeds back the argmax of the last step
  (the encoder is recomputed per step: cheap for sentences of tens of words);
- charlm (lstm.apps.charlm.model.CharLM): ids (T, B) int64 -> logits (T, B, V).
"""

from __future__ import annotations

import numpy as np

from .graph import Graph, op_type_of, recurrent

MASKED_SCORE = -1e9


def _params(module) -> dict:
    return {k: v.numpy() for k, v in module.named_parameters()}


def _length_mask(g: Graph, lengths: str, steps_of: str, axis: int) -> str:
    """bool mask of valid steps: (T, B) for axis 0 of steps_of, (B, S) for axis 1."""
    shape = g.op("Shape", [steps_of])
    steps = g.op("Gather", [shape, g.const(axis, dtype=np.int64)])
    steps = g.op("Cast", [steps], to=g.onnx.TensorProto.INT32)
    positions = g.op("Range", [g.const(0, dtype=np.int32), steps, g.const(1, dtype=np.int32)])
    if axis == 0:
        return g.op("Less", [g.op("Unsqueeze", [positions, g.const([1], dtype=np.int64)]),
                             g.op("Unsqueeze", [lengths, g.const([0], dtype=np.int64)])])
    return g.op("Less", [g.op("Unsqueeze", [positions, g.const([0], dtype=np.int64)]),
                         g.op("Unsqueeze", [lengths, g.const([1], dtype=np.int64)])])


def forecaster_graph(model):
    """ONNX model of a ForecastNet."""
    g = Graph("forecast")
    p = _params(model)
    x = g.input("x", "FLOAT", ["lookback", "batch", model.recurrent.input_size])
    _, h_n, _ = recurrent(g, x, model.recurrent, op_type_of(model.recurrent))
    last = g.op("Gather", [h_n, g.const(-1, dtype=np.int64)], axis=0)  # (B, H)
    out = g.linear(last, p["readout.weight"], p["readout.bias"])
    target = model.target
    if model.output == "delta":
        step = g.op("Gather", [x, g.const(-1, dtype=np.int64)], axis=0)  # (B, F)
        out = g.op("Add", [out, g.op("Gather", [step, g.const([target], dtype=np.int64)],
                                     axis=1)])
    elif model.output == "seasonal":
        back = g.const(-1 - np.asarray(model.seasonal_back, np.int64))
        seasonal = g.op("Gather", [g.op("Gather", [x, back], axis=0),
                                   g.const(target, dtype=np.int64)], axis=2)  # (horizon, B)
        out = g.op("Add", [out, g.op("Transpose", [seasonal], perm=[1, 0])])
    g.output(out, "forecast", shape=["batch", p["readout.weight"].shape[0]])
    return g.model("minigrad-lstm forecast: standardised inputs -> standardised forecasts")


def classifier_graph(model):
    """ONNX model of a SequenceClassifier."""
    g = Graph("classify")
    p = _params(model)
    x = g.input("x", "FLOAT", ["steps", "batch", model.encoder.input_size])
    lengths = g.input("lengths", "INT32", ["batch"])
    outputs, h_n, _ = recurrent(g, x, model.encoder, op_type_of(model.encoder), lengths)
    directions, weights = model.encoder.num_directions, None
    if model.pooling == "attention":
        hidden = g.op("Tanh", [g.linear(outputs, p["attention.project.weight"],
                                        p["attention.project.bias"])])
        scores = g.op("Squeeze", [g.linear(hidden, p["attention.score.weight"]),
                                  g.const([2], dtype=np.int64)])  # (T, B)
        mask = _length_mask(g, lengths, x, 0)
        weights = g.op("Softmax", [g.op("Where", [mask, scores, g.const(np.float32(
            MASKED_SCORE))])], axis=0)
        pooled = g.op("ReduceSum", [g.op("Mul", [outputs, g.op("Unsqueeze", [
            weights, g.const([2], dtype=np.int64)])]), g.const([0], dtype=np.int64)],
            keepdims=0)
    elif model.pooling == "mean":
        mask = g.op("Unsqueeze", [_length_mask(g, lengths, x, 0), g.const([2], dtype=np.int64)])
        summed = g.op("ReduceSum", [g.op("Where", [mask, outputs, g.const(np.float32(0))]),
                                    g.const([0], dtype=np.int64)], keepdims=0)
        count = g.op("Cast", [g.op("Unsqueeze", [lengths, g.const([1], dtype=np.int64)])],
                     to=g.onnx.TensorProto.FLOAT)
        pooled = g.op("Div", [summed, count])
    else:
        top = g.op("Slice", [h_n, g.const([-directions], dtype=np.int64),
                             g.const([np.iinfo(np.int64).max], dtype=np.int64),
                             g.const([0], dtype=np.int64)])  # (D, B, H)
        pooled = g.op("Reshape", [g.op("Transpose", [top], perm=[1, 0, 2]),
                                  g.const([0, -1], dtype=np.int64)])
    logits = g.linear(pooled, p["readout.weight"], p["readout.bias"])
    g.output(logits, "logits", shape=["batch", p["readout.weight"].shape[0]])
    if weights is not None:
        g.output(weights, "weights", shape=["steps", "batch"])
    return g.model("minigrad-lstm classify: standardised frames and lengths -> logits")


def translator_graph(model):
    """ONNX model of a Seq2Seq's teacher-forced forward."""
    g = Graph("translate")
    p = _params(model)
    source = g.input("source", "INT64", ["batch", "source_steps"])
    lengths = g.input("source_lengths", "INT32", ["batch"])
    target_in = g.input("target_in", "INT64", ["batch", "target_steps"])
    h = model.hidden_size

    def embed(ids, name):
        return g.op("Gather", [g.const(p[name + ".weight"]),
                               g.op("Transpose", [ids], perm=[1, 0])], axis=0)  # (T, B, E)

    outputs, h_n, c_n = recurrent(g, embed(source, "source_embedding"), model.encoder, "LSTM",
                                  lengths)
    keys = g.op("Transpose", [outputs], perm=[1, 0, 2])  # (B, S, 2H)

    def bridge(state, name):  # (2, B, H) -> tanh(Linear([fwd; bwd])) as (1, B, H)
        both = g.op("Reshape", [g.op("Transpose", [state], perm=[1, 0, 2]),
                                g.const([0, -1], dtype=np.int64)])
        out = g.op("Tanh", [g.linear(both, p[name + ".weight"], p[name + ".bias"])])
        return g.op("Unsqueeze", [out, g.const([0], dtype=np.int64)])

    initial = (bridge(h_n, "bridge_h"), bridge(c_n, "bridge_c"))
    decoded, _, _ = recurrent(g, embed(target_in, "target_embedding"), model.decoder, "LSTM",
                              initial=initial)
    query = g.op("Transpose", [decoded], perm=[1, 0, 2])  # (B, T, H)
    weights = None
    if model.attention is not None:
        projected = g.linear(keys, p["attention.key.weight"])
        if model.attention.kind == "additive":
            hidden = g.op("Tanh", [g.op("Add", [
                g.op("Unsqueeze", [projected, g.const([1], dtype=np.int64)]),
                g.op("Unsqueeze", [g.linear(query, p["attention.query.weight"],
                                            p["attention.query.bias"]),
                                   g.const([2], dtype=np.int64)])])])
            scores = g.op("Squeeze", [g.linear(hidden, p["attention.score.weight"]),
                                      g.const([3], dtype=np.int64)])
        else:
            scores = g.op("MatMul", [query, g.op("Transpose", [projected], perm=[0, 2, 1])])
        mask = g.op("Unsqueeze", [_length_mask(g, lengths, source, 1),
                                  g.const([1], dtype=np.int64)])
        weights = g.op("Softmax", [g.op("Where", [mask, scores, g.const(np.float32(
            MASKED_SCORE))])], axis=-1)
        query = g.op("Concat", [g.op("MatMul", [weights, keys]), query], axis=-1)
    attentional = g.op("Tanh", [g.linear(query, p["combine.weight"], p["combine.bias"])])
    logits = g.linear(attentional, p["output.weight"], p["output.bias"])
    g.output(logits, "logits", shape=["batch", "target_steps", model.target_vocab])
    if weights is not None:
        g.output(weights, "weights", shape=["batch", "target_steps", "source_steps"])
    return g.model(f"minigrad-lstm translate ({model.attention_kind} attention): teacher-"
                   f"forced logits; hidden {h}")


def charlm_graph(model):
    """ONNX model of a CharLM from a zero state."""
    g = Graph("charlm")
    p = _params(model)
    ids = g.input("ids", "INT64", ["steps", "batch"])
    x = g.op("Gather", [g.const(p["embedding.weight"]), ids], axis=0)
    outputs, _, _ = recurrent(g, x, model.lstm, "LSTM")
    g.output(g.linear(outputs, p["decoder.weight"], p["decoder.bias"]), "logits",
             shape=["steps", "batch", model.vocab_size])
    return g.model("minigrad-lstm charlm: character ids -> next-character logits")


def to_onnx(model):
    """The ONNX model of any of the four applications' models."""
    from ..charlm.model import CharLM
    from ..classify.model import SequenceClassifier
    from ..forecast.train import ForecastNet
    from ..translate.model import Seq2Seq

    for kind, build in ((ForecastNet, forecaster_graph), (SequenceClassifier, classifier_graph),
                        (Seq2Seq, translator_graph), (CharLM, charlm_graph)):
        if isinstance(model, kind):
            return build(model)
    raise ValueError(f"to_onnx: no ONNX export for {type(model).__name__} (ForecastNet, "
                     "SequenceClassifier, Seq2Seq, CharLM have one)")
