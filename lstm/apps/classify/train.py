"""Sequence classification on real data: training, evaluation, the DTW baseline, results rows.

A run standardises the features with statistics of the training frames only, trains a
SequenceClassifier with Adam on shuffled mini-batches (each padded to its own longest sequence,
or when compiled to one of a few bucket lengths, and packed by `lengths`) for a fixed number of
epochs, and reports the test accuracy after the last epoch, or, with `val_fraction`, at the
epoch best on a stratified hold-out of the training set. The test set never chooses anything:
the per-epoch test accuracy is recorded for the learning curve only.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad import optim

from ...runs.keys import run_key
from ...runs.options import setting
from ..common.config import AppConfig, from_preset, impl_setting
from ..common.padding import buckets, to_bucket
from ..common.runs import model_dir, run_missing
from ..common.trainer import EpochTrainer
from .data import (
    DATASETS,
    SequenceDataset,
    Standardizer,
    load_dataset,
    pad,
    split_validation,
)
from .dtw import MODES, nearest_neighbour
from .model import POOLINGS, SequenceClassifier

KIND, DTW_KIND = "classify", "classify_dtw"
EXAMPLES_PER_CLASS = 3  # test utterances per class whose attention weights a run keeps


@dataclass(frozen=True)
class ClassifyConfig(AppConfig):
    """One run's settings (JSON-able; its canonical JSON is the run's identity)."""

    dataset: str = setting("japanese-vowels", "dataset (ships with sktime, the apps extra)",
                           choices=DATASETS)
    pooling: str = setting("attention", "pooling over time: attention (additive, masked), last "
                           "(final states of both directions), mean (over valid frames)",
                           choices=POOLINGS)
    hidden_size: int = setting(64, "LSTM units per direction", low=1)
    attention_size: int = setting(32, "attention hidden size", low=1)
    num_layers: int = setting(1, "stacked LSTM layers", low=1)
    epochs: int = setting(40, "passes over the training set", low=1)
    batch_size: int = setting(16, "sequences per step", low=1)
    lr: float = setting(3e-3, "Adam learning rate", low=0, strict=True)
    clip: float = setting(1.0, "gradient global-norm clipping threshold (0: none)", low=0)
    dropout: float = setting(0.0, "dropout on the pooled vector (and between layers)", low=0,
                             high=1, high_open=True)
    noise: float = setting(0.0, "std of Gaussian noise added to the standardised training "
                           "frames", low=0)
    val_fraction: float = setting(0.0, "hold out this fraction of each speaker's training "
                                  "utterances and keep the epoch best on them (0: train on all, "
                                  "fixed epochs)", low=0, high=1, high_open=True)
    seed: int = setting(0, "seed of the weights and batch order", low=0)
    impl: str = impl_setting()


PRESETS = {
    # quick: under a minute on one core (docs/applications_classify.md measures it)
    "quick": {"hidden_size": 32, "attention_size": 16, "epochs": 25, "batch_size": 16,
              "lr": 5e-3},
    # default: 5 seeds x 3 poolings tried with 60 epochs, dropout 0, 0.3, 0.5 and input noise
    # 0.2: all within 0.966-0.978 mean accuracy; dropout 0.3 over 30 epochs was the best
    "default": {"hidden_size": 64, "attention_size": 32, "epochs": 30, "batch_size": 16,
                "lr": 3e-3, "dropout": 0.3},
}


def preset_config(preset: str, **overrides) -> ClassifyConfig:
    """The preset's settings with `overrides` (None values ignored)."""
    return from_preset(ClassifyConfig, PRESETS, preset, overrides)


def prepare(dataset: SequenceDataset) -> tuple[list, list]:
    """Train and test sequences standardised with the training frames' mean and std."""
    scaler = Standardizer().fit(dataset.train_x)
    return scaler.transform(dataset.train_x), scaler.transform(dataset.test_x)


def predict(model: SequenceClassifier, sequences, batch_size: int = 512):
    """Class probabilities (N, C) and attention weights (list of (T_i,) or None), no tape."""
    probabilities, weights = [], []
    model.eval()
    try:
        with mg.no_grad():
            for start in range(0, len(sequences), batch_size):
                part = sequences[start:start + batch_size]
                x, lengths = pad(part)
                logits, alpha = model(mg.tensor(x), lengths)
                probabilities.append(mg.softmax(logits, axis=-1).numpy())
                if alpha is not None:
                    a = alpha.numpy()
                    weights += [a[:n, b].copy() for b, n in enumerate(lengths)]
    finally:
        model.train()
    return np.concatenate(probabilities), (weights or None)


def confusion_matrix(truth, predicted, n_classes: int) -> np.ndarray:
    """counts[i, j]: sequences of class i predicted as j."""
    counts = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(counts, (np.asarray(truth), np.asarray(predicted)), 1)
    return counts


def batches(train_x, train_y, batch_size: int, rng: np.random.Generator, noise: float = 0.0,
            sizes: tuple[int, ...] | None = None):
    """One shuffled pass of mini-batches (each padded to its longest sequence, or with `sizes`
    to the shortest of those padded lengths that holds it: common/padding.py), with Gaussian
    noise of std `noise` added to the (standardised) input frames (drawn before the bucket's
    padding, so the draws do not depend on it): ((x, lengths, y), None), lengths an int64
    Tensor."""
    order = rng.permutation(len(train_x))
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        x, lengths = pad([train_x[i] for i in index])
        if noise:
            x += (noise * rng.standard_normal(x.shape)).astype(x.dtype)
        yield (mg.tensor(to_bucket(x, 0, sizes)), mg.tensor(lengths),
               mg.tensor(train_y[index])), None


def classifier_loss(model: SequenceClassifier):
    """loss_of(x, lengths, y): the mean cross-entropy of the model's logits."""

    def loss_of(x, lengths, y):
        logits, _ = model(x, lengths)
        return mg.cross_entropy(logits, y)

    return loss_of


def build_model(config: ClassifyConfig, dataset: SequenceDataset, rng) -> SequenceClassifier:
    """The classifier `config` describes, sized for `dataset`."""
    return SequenceClassifier(dataset.n_features, config.hidden_size, dataset.n_classes,
                              config.pooling, config.attention_size, config.num_layers,
                              dropout=config.dropout, impl=config.impl, rng=rng)


def train_classifier(config: ClassifyConfig, dataset: SequenceDataset | None = None,
                     progress: bool = False, on_model=None,
                     compile: bool = False) -> dict:  # noqa: A002 - the option's name
    """Train one model; its test accuracy, confusion matrix, curve and attention examples.
    `on_model(model, config)` receives the trained model (run_configs saves it for `lstm
    export`); `compile`: the training step through mg.compile."""
    dataset = dataset or load_dataset(config.dataset)
    rng = np.random.default_rng(config.seed)
    val_x, val_y = None, None
    if config.val_fraction:
        dataset, val_x, val_y = split_validation(dataset, config.val_fraction, rng)
        val_x = Standardizer().fit(dataset.train_x).transform(val_x)
    train_x, test_x = prepare(dataset)
    model = build_model(config, dataset, rng)
    trainer = EpochTrainer(model, optim.Adam(model.parameters(), lr=config.lr),
                           classifier_loss(model), clip=config.clip, compile=compile,
                           command="lstm classify", progress=progress,
                           desc=f"classify {config.pooling} s{config.seed}")

    def evaluate(epoch, loss):
        accuracy = float((predict(model, test_x)[0].argmax(-1) == dataset.test_y).mean())
        row = {"epoch": epoch, "train_loss": loss, "test_accuracy": accuracy}
        if val_x is None:
            return row, None
        probabilities = predict(model, val_x)[0]  # the best validation epoch is kept
        score = (float((probabilities.argmax(-1) == val_y).mean()),
                 float(np.mean(np.log(np.maximum(
                     probabilities[np.arange(len(val_y)), val_y], 1e-12)))))
        return {**row, "val_accuracy": score[0], "val_log_likelihood": score[1]}, score

    started = time.perf_counter()
    steps = -(-len(train_x) // config.batch_size)
    # compiled: a few padded shapes, not one per batch; eager too when dropout runs between
    # stacked layers, whose masks' draws depend on the padded length (the same random stream)
    layer_dropout = config.dropout and config.num_layers > 1
    sizes = buckets(max(len(s) for s in train_x)) if compile or layer_dropout else None
    fit = trainer.fit(config.epochs, steps,
                      lambda: batches(train_x, dataset.train_y, config.batch_size, rng,
                                      config.noise, sizes),
                      evaluate, better=lambda a, b: a > b)
    curve = fit.curve
    train_time = time.perf_counter() - started
    if on_model is not None:
        on_model(model, config)
    probabilities, weights = predict(model, test_x)
    predicted = probabilities.argmax(-1)
    train_predicted = predict(model, train_x)[0].argmax(-1)
    result = {
        "accuracy": float((predicted == dataset.test_y).mean()),
        "train_accuracy": float((train_predicted == dataset.train_y).mean()),
        "test_cross_entropy": float(-np.mean(np.log(np.maximum(
            probabilities[np.arange(len(predicted)), dataset.test_y], 1e-12)))),
        "confusion": confusion_matrix(dataset.test_y, predicted, dataset.n_classes).tolist(),
        "predicted": predicted.tolist(), "labels": dataset.test_y.tolist(),
        "class_names": dataset.class_names, "curve": curve, "train_time": train_time,
        "epoch_time": train_time / config.epochs, "n_parameters": model.num_parameters(),
        "n_train": len(train_x), "n_test": len(test_x), "n_val": 0 if val_x is None else
        len(val_x), "best_epoch": fit.best_epoch or config.epochs,
        "val_accuracy": None if val_x is None else fit.best_score[0]}
    if weights is not None:
        picks = [int(i) for c in range(dataset.n_classes)
                 for i in np.flatnonzero(dataset.test_y == c)[:EXAMPLES_PER_CLASS]]
        result["attention_examples"] = [{"index": i, "label": int(dataset.test_y[i]),
                                         "predicted": int(predicted[i]),
                                         "weights": weights[i].tolist()} for i in picks]
    return result


def dtw_baseline(dataset_name: str = "japanese-vowels", mode: str = "dependent",
                 window: int | None = None) -> dict:
    """1-NN DTW test accuracy on the same standardised split, and its cost."""
    if mode not in MODES:
        raise ValueError(f"dtw mode must be one of {MODES}, got {mode!r}")
    dataset = load_dataset(dataset_name)
    train_x, test_x = prepare(dataset)
    started = time.perf_counter()
    predicted = nearest_neighbour(train_x, dataset.train_y, test_x, mode, window)
    return {"dtw_accuracy": float((predicted == dataset.test_y).mean()), "dtw_mode": mode,
            "dtw_window": window, "dtw_time": time.perf_counter() - started,
            "dtw_predicted": predicted.tolist(),
            "dtw_confusion": confusion_matrix(dataset.test_y, predicted,
                                              dataset.n_classes).tolist()}


def record_dtw(results_path: str, dataset_name: str, dtw: dict) -> dict:
    """Append the DTW baseline as its own row (kind DTW_KIND) unless the file has it."""
    from ...experiments.sweep import append_result, versions

    config = {"dataset": dataset_name, "mode": dtw["dtw_mode"], "window": dtw["dtw_window"]}
    key = run_key(DTW_KIND, config)
    for row in read_rows(results_path, DTW_KIND):
        if row.get("key") == key:
            return row
    row = {"key": key, "kind": DTW_KIND, "config": config, "result": dtw, "versions": versions()}
    os.makedirs(os.path.dirname(os.path.abspath(results_path)), exist_ok=True)
    append_result(results_path, row)
    return row


def read_rows(path: str, kind: str = KIND) -> list[dict]:
    """The rows of one kind in a results file (other kinds and torn lines skipped; rows
    written by hand, without lstm.runs.results_io's key and schema, read too)."""
    rows = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and row.get("kind") == kind:
                    rows.append(row)
    return rows


def run_configs(configs, results_path: str, progress: bool = False, on_result=None,
                dtw: dict | None = None, compile: bool = False) -> list[dict]:  # noqa: A002
    """Train every config not yet in `results_path` (appending each row as it finishes);
    returns the rows of all `configs`, old and new, in their order; on_result(row, reused)
    for each."""
    from ...experiments.sweep import versions
    from ..export.saved import save_model

    data = {}

    def train_row(config, key):
        if "set" not in data:  # loaded once, for the first config that trains
            data["set"] = load_dataset(config.dataset)
        where = model_dir(results_path, KIND, key)
        result = train_classifier(config, data["set"], progress=progress, compile=compile,
                                  on_model=lambda m, c: save_model(where, m, {"run": c.to_dict()}))
        result["model_dir"] = where  # lstm export --format onnx MODEL_DIR
        result.update(dtw or {})
        return {"key": key, "kind": KIND, "config": config.to_dict(), "result": result,
                "versions": versions()}

    return run_missing(configs, results_path, KIND, train_row, on_result)
