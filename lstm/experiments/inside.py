"""What a trained LSTM does inside: its gates and cell state over one adding sequence.

A small LSTM is trained on the adding problem until solved (its checkpoint is kept, so a rerun
only loads it). Then sequences are run step by step in numpy float64 from its weights with
PyTorch's equations, recording every gate and state per unit:

    i, f, o = sigmoid(.), g = tanh(.)  of  W_ih x_t + b_ih + W_hh h_{t-1} + b_hh  ([i|f|g|o])
    c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t),  prediction = W_r h_T + b_r

The units shown are those whose cell state holds the marked sum: the largest |correlation|
between the final cell state c_T and the target (the running marked sum s_t = sum over k <= t
of value_k * marker_k at t = T) over a batch of fresh sequences. (Correlating c_t with s_t over
all steps instead picks "clock" units whose state drifts with t, as s_t grows with t on average.)
In such a unit the input gate opens at the markers to write, the forget gate stays near 1 to
hold.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..runs.checkpoint import load_checkpoint
from ..runs.config import TrainConfig
from ..runs.train import CHECKPOINT_NAME, RESULT_NAME, train
from ..tasks import get_task, seed_stream

GATE_NAMES = ("i", "f", "g", "o")
TRACE_STREAM = 4  # seed stream of the sequences traced (0-2: init, train, test; 3: gradflow)

_INSIDE = {"task": "adding", "model": "lstm-fb1", "batch_size": 32, "optimizer": "adam",
           "lr": 1e-2, "clip": "norm", "clip_value": 1.0, "eval_every": 100, "test_size": 1000,
           "checkpoint_every": 500, "seed": 0}
INSIDE_CONFIGS = {
    "quick": TrainConfig(**_INSIDE, seq_len=50, hidden_size=32, steps=4000),
    "full": TrainConfig(**_INSIDE, seq_len=100, hidden_size=64, steps=8000),
}


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


def lstm_trace(weights: dict[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    """Run x (T, B, I) through the one-layer LSTM in `weights` (a TaskModel state_dict) in
    float64; returns i, f, g, o, c, h each (T, B, H) and the read-out 'prediction' (B, out)."""
    w = {k: np.asarray(v, np.float64) for k, v in weights.items()}
    w_ih, w_hh = w["recurrent.weight_ih_l0"], w["recurrent.weight_hh_l0"]
    bias = w.get("recurrent.bias_ih_l0", 0.0) + w.get("recurrent.bias_hh_l0", 0.0)
    x = np.asarray(x, np.float64)
    if x.ndim != 3 or x.shape[-1] != w_ih.shape[1]:
        raise ValueError(f"x must be (T, B, {w_ih.shape[1]}), got shape {x.shape}")
    steps, batch = x.shape[:2]
    hidden = w_hh.shape[1]
    trace = {name: np.empty((steps, batch, hidden)) for name in (*GATE_NAMES, "c", "h")}
    h = np.zeros((batch, hidden))
    c = np.zeros((batch, hidden))
    projected = x @ w_ih.T + bias  # the input projection of every step at once
    for t in range(steps):
        z = projected[t] + h @ w_hh.T
        i, f, g, o = (z[:, k * hidden:(k + 1) * hidden] for k in range(4))
        i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
        c = f * c + i * g
        h = o * np.tanh(c)
        for name, value in zip((*GATE_NAMES, "c", "h"), (i, f, g, o, c, h)):
            trace[name][t] = value
    trace["prediction"] = h @ w["readout.weight"].T + w["readout.bias"]
    return trace


def running_marked_sum(x: np.ndarray) -> np.ndarray:
    """s_t = sum over k <= t of value_k * marker_k for adding inputs x (T, B, 2): (T, B)."""
    x = np.asarray(x, np.float64)
    return np.cumsum(x[..., 0] * x[..., 1], axis=0)


def unit_correlations(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson correlation of each unit's values (N, H) with target (N,); 0 for a constant."""
    c = np.asarray(values, np.float64).reshape(-1, values.shape[-1])
    s = np.asarray(target, np.float64).reshape(-1)
    c = c - c.mean(axis=0)
    s = s - s.mean()
    denominator = np.sqrt((c ** 2).sum(axis=0) * (s ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (c * s[:, None]).sum(axis=0) / denominator
    return np.nan_to_num(r)


def linear_fit_r2(values: np.ndarray, target: np.ndarray) -> float:
    """R^2 of the least-squares fit of target (N,) from all units' values (N, H) + a constant."""
    c = np.asarray(values, np.float64).reshape(-1, values.shape[-1])
    design = np.hstack([c, np.ones((c.shape[0], 1))])
    s = target.reshape(-1)
    coef, *_ = np.linalg.lstsq(design, s, rcond=None)
    residual = s - design @ coef
    total = ((s - s.mean()) ** 2).sum()
    return float(1.0 - (residual ** 2).sum() / total) if total > 0 else float("nan")


def load_weights(run_dir: str) -> dict[str, np.ndarray]:
    """The model weights of the training checkpoint in `run_dir`."""
    from ..runs.results_io import say

    data, _ = load_checkpoint(os.path.join(run_dir, CHECKPOINT_NAME), ("model",), say)
    return {k[len("model/"):]: v for k, v in data.items() if k.startswith("model/")}


def finished_result(run_dir: str, config: TrainConfig) -> dict | None:
    """The stored result of a finished run of `config` in `run_dir`, or None (not run yet, cut
    short, or run with another config)."""
    path = os.path.join(run_dir, RESULT_NAME)
    if not (os.path.isfile(path) and os.path.isfile(os.path.join(run_dir, CHECKPOINT_NAME))):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
    except ValueError:  # damaged: train again (it resumes from the checkpoint)
        return None
    return result if isinstance(result, dict) and result.get("config") == config.to_dict() \
        else None


def run_inside(run_dir: str, config: TrainConfig = INSIDE_CONFIGS["quick"], n_units: int = 3,
               n_sequences: int = 256, progress: bool = True) -> dict:
    """Train (or resume / reload) the LSTM of `config` in `run_dir`, trace `n_sequences` fresh
    sequences, pick the `n_units` units whose final cell state best predicts the marked sum.

    Returns the training result, the traced arrays of the first sequence (x, markers, running
    sum, i, f, g, o, c, h, each (T, H) or (T,)), the chosen units with their correlations, the
    R^2 of all units together, the trace's MSE on the traced sequences and per-unit gate
    averages at the markers and elsewhere.
    """
    if config.task != "adding" or config.model not in ("lstm", "lstm-fb1", "lstm-chrono"):
        raise ValueError(f"config must train an LSTM on adding, got model {config.model!r} on "
                         f"task {config.task!r}")
    result = finished_result(run_dir, config)
    if result is None:
        result = train(config, run_dir, progress=progress)
    weights = load_weights(run_dir)
    task = get_task("adding", config.seq_len, config.variant)
    batch = task.make_batch(n_sequences, seed_stream(config.seed, TRACE_STREAM))
    trace = lstm_trace(weights, batch.x)
    target = running_marked_sum(batch.x)
    final_cell, total = trace["c"][-1], batch.y[:, 0]
    r = unit_correlations(final_cell, total)
    units = [int(u) for u in np.argsort(-np.abs(r))[:n_units]]
    markers = batch.x[:, :, 1] > 0
    # the first value, and each unit's cell state just before the second marker
    positions = np.array([np.flatnonzero(markers[:, b]) for b in range(n_sequences)])
    rows = np.arange(n_sequences)
    first_value = batch.x[positions[:, 0], rows, 0]
    r_first = unit_correlations(trace["c"][positions[:, 1] - 1, rows], first_value)
    gate_means = []
    for u in range(r.size):
        row = {"unit": u, "corr": float(r[u]), "corr_first": float(r_first[u])}
        for gate in ("i", "f"):
            row[f"{gate}_at_markers"] = float(trace[gate][..., u][markers].mean())
            row[f"{gate}_elsewhere"] = float(trace[gate][..., u][~markers].mean())
        gate_means.append(row)
    first = {name: trace[name][:, 0] for name in (*GATE_NAMES, "c", "h")}
    return {
        "config": config.to_dict(), "result": result, "units": units,
        "correlations": [float(v) for v in r], "r2_all_units": linear_fit_r2(final_cell, total),
        "trace_mse": float(np.mean((trace["prediction"] - batch.y) ** 2)),
        "n_sequences": n_sequences, "gate_means": gate_means,
        "sequence": {"x": batch.x[:, 0], "markers": np.flatnonzero(markers[:, 0]).tolist(),
                     "running_sum": target[:, 0], "target": float(batch.y[0, 0]),
                     "prediction": float(trace["prediction"][0, 0]), **first},
    }
