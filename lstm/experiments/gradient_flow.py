"""Gradient flow: how ||dL/dh_t|| decays with the lag T - t, at initialisation and after training.

For a model and task, the batch geometric mean of ||dL/dh_t|| (and ||dL/dc_t|| for the LSTM) at
every step t, measured in float64 (the norms reach 1e-40 and below within a few hundred steps and
would underflow in float32), read from the fused recurrent primitive's backward (or, for a model
that runs composed, from its retained per-step gradients). The per-step
factor rho is the least-squares slope of log10 ||dL/dh_{T-1-k}|| against the lag k over the range
before the norms underflow: ||dL/dh_{T-1-k}|| ~ rho^k (Pascanu et al. 2013; Arjovsky et al. 2016).
"""

from __future__ import annotations

import copy
import math

import numpy as np

import minigrad as mg

from ..models import MODEL_NAMES, TaskModel
from ..progress import bar as progress_bar
from ..tasks import Batch, Task

# Norms at or below this are treated as underflowed (float64's smallest normal is 2.2e-308).
UNDERFLOW = 1e-300
MEASURE_STREAM = 3  # seed stream of the fixed measurement batch (0-2: init, train, test)
GRADFLOW_MODELS = MODEL_NAMES


def float64_copy(model: TaskModel) -> TaskModel:
    """The same model (same weights, same impl) in float64; norms come from the fused path or,
    for impl="composed", from the retained per-step gradients."""
    twin = copy.deepcopy(model)  # a cell's compiled steps and a tensor's tape node are not copied
    twin.astype(np.float64)
    return twin


def task_loss(model: TaskModel, batch: Batch, grad_norms: dict | None = None):
    """The task's training loss on `batch` (MSE of the read-out for adding, cross-entropy per
    step for copy), optionally recording the per-step gradient norms into `grad_norms`."""
    layer = model.recurrent
    out, state = layer(model.encode(batch.x), None, lengths=batch.lengths,
                       grad_norms=grad_norms)
    if model.task.is_copy:
        return mg.cross_entropy(model.readout(out), batch.y)
    h_n = state[0] if isinstance(state, tuple) else state
    target = mg.tensor(np.asarray(batch.y, dtype=model.readout.weight.dtype))
    return mg.mse_loss(model.readout(h_n[-1]), target)


def geometric_mean(norms: np.ndarray) -> np.ndarray:
    """Geometric mean over the batch axis (last) of per-sequence norms; 0 where any is 0."""
    norms = np.asarray(norms, dtype=np.float64)
    with np.errstate(divide="ignore"):
        logs = np.log(norms)
    return np.exp(logs.mean(axis=-1))


def gradient_norms(model: TaskModel, batch: Batch) -> dict[str, np.ndarray]:
    """Batch geometric means of ||dL/dh_t|| ('h') and, for the LSTM, ||dL/dc_t|| ('c'), (T,)."""
    if model.recurrent.num_layers != 1 or model.recurrent.num_directions != 1:
        raise ValueError("gradient flow is defined here for one layer, one direction")
    model64 = float64_copy(model) if model.readout.weight.dtype != np.float64 else model
    sink: dict = {}
    loss = task_loss(model64, batch, sink)
    model64.zero_grad()
    loss.backward()
    model64.zero_grad()
    norms = sink["l0"]
    return {key: geometric_mean(value) for key, value in norms.items()}


def fit_factor(curve: np.ndarray, min_points: int = 3) -> dict:
    """Least-squares per-step factor of a norm curve (indexed by t) against the lag T-1-t.

    Uses the lags from 0 up to the first underflowed (<= 1e-300), zero or non-finite value.
    Returns rho, the fitted log10 slope and intercept, and how many lags the fit used; rho is
    None when fewer than `min_points` usable lags exist.
    """
    by_lag = np.asarray(curve, dtype=np.float64)[::-1]
    usable = np.isfinite(by_lag) & (by_lag > UNDERFLOW)
    n = int(np.argmin(usable)) if not usable.all() else len(by_lag)
    if n < min_points:
        return {"rho": None, "slope": None, "intercept": None, "fit_lags": n}
    lags = np.arange(n, dtype=np.float64)
    slope, intercept = np.polyfit(lags, np.log10(by_lag[:n]), 1)
    return {"rho": float(10.0 ** slope), "slope": float(slope), "intercept": float(intercept),
            "fit_lags": n}


def measure(model: TaskModel, task: Task, batch: Batch, step: int, model_name: str) -> dict:
    """One gradient-flow record: curves, fitted factors and the decades fallen over the sequence."""
    curves = gradient_norms(model, batch)
    record = {"model": model_name, "task": task.name, "variant": task.variant,
              "seq_len": task.seq_len, "hidden_size": model.recurrent.hidden_size,
              "batch_size": int(np.asarray(batch.y).shape[-1] if task.is_copy
                                else np.asarray(batch.y).shape[0]),
              "step": int(step)}
    for key, curve in curves.items():
        fit = fit_factor(curve)
        prefix = "" if key == "h" else f"{key}_"  # c_ (LSTM); c_, n_, m_ (sLSTM); C_ (mLSTM)
        record[f"{prefix}per_step_factor"] = fit["rho"]
        record[f"{prefix}fit_lags"] = fit["fit_lags"]
        positive = curve[curve > 0]
        record[f"{prefix}log10_decades"] = (
            float(np.log10(curve[-1]) - np.log10(positive.min())) if positive.size else math.inf)
        record[f"curve_{key}"] = [float(v) for v in curve]
    return record


def run_gradient_flow(model: str, task: str = "adding", seq_len: int = 200,
                      hidden_size: int = 128, batch_size: int = 32, steps=(0,), seed: int = 0,
                      variant: str = "arjovsky", train_overrides: dict | None = None,
                      progress: bool = True) -> list[dict]:
    """Records of `measure` at each training step in `steps` (0 = initialisation).

    Training uses lstm.runs.train's Trainer with TrainConfig defaults (RMSprop 1e-3, clip 1) and
    `train_overrides`; the measurement batch is a fixed draw (its own seed stream), the same at
    every step, so curves at different steps are comparable.
    """
    from ..runs.config import TrainConfig
    from ..runs.train import Trainer
    from ..tasks import get_task, seed_stream

    steps = sorted({int(s) for s in steps})
    if not steps or steps[0] < 0:
        raise ValueError(f"steps must be non-negative integers, got {steps}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    config = TrainConfig(task=task, variant=variant, model=model, seq_len=seq_len,
                         hidden_size=hidden_size, batch_size=batch_size, steps=steps[-1],
                         seed=seed, stop_when_solved=False, **(train_overrides or {}))
    trainer = Trainer(config)
    task_obj = get_task(task, seq_len, variant)
    batch = task_obj.make_batch(batch_size, seed_stream(seed, MEASURE_STREAM))
    records = []
    with progress_bar(progress, total=steps[-1], desc=f"gradflow {model}") as bar:
        for target in steps:
            while trainer.step < target:
                trainer.train_step()
                bar.update(1)
            record = measure(trainer.model, task_obj, batch, trainer.step, model)
            record["seed"] = seed
            records.append(record)
    return records
