"""Runs in and out: results rows (one per finished run) and each run's trained model.

A run's model is saved as OUT/translate-models/<id>/model.safetensors (every parameter under
torch.nn's names) and model.json (the constructor's arguments, both vocabularies and the run's
config), <id> being the first 12 hex digits of the SHA-1 of the run's key.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from ...runs.keys import run_key
from ...runs.results_io import make_row
from ..common.runs import run_missing
from ..common.store import CONFIG_NAME, read_model, write_model
from .data import Vocabulary
from .model import Seq2Seq

KIND = "translate"
FORMAT = "minigrad-lstm translate v1"
MODELS_DIR = "translate-models"


def run_id(config: dict) -> str:
    return hashlib.sha1(run_key(KIND, config).encode()).hexdigest()[:12]



def save_model(directory: str, model: Seq2Seq, source_vocab: Vocabulary,
               target_vocab: Vocabulary, config: dict) -> str:
    """Write directory/model.safetensors and model.json; returns the directory."""
    return write_model(directory, model, FORMAT, {
        "app": KIND, "model": model.config(), "source_vocabulary": source_vocab.tokens,
        "target_vocabulary": target_vocab.tokens, "dtype": str(model.output.weight.dtype),
        "run": config})


def load_model(path: str) -> tuple[Seq2Seq, Vocabulary, Vocabulary, dict]:
    """The model, source and target vocabularies and model.json saved by save_model."""
    directory = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    if not os.path.isfile(os.path.join(directory, CONFIG_NAME)):
        raise ValueError(f"{path!r}: expected {CONFIG_NAME} in {directory} (written by "
                         "`lstm translate`)")
    model, config = read_model(directory, FORMAT, lambda config: Seq2Seq(
        **config["model"], dtype=np.dtype(config.get("dtype", "float32"))))
    return (model, Vocabulary(config["source_vocabulary"]),
            Vocabulary(config["target_vocabulary"]), config)


def run_configs(configs, out_dir: str, progress: bool = False, on_result=None,
                compile: bool = False) -> list[dict]:  # noqa: A002 - the option's name
    """Train every config not yet in OUT/results.jsonl (appending each row as it finishes and
    saving its model); the rows of all `configs`, old and new, in their order;
    on_result(row, reused) for each."""
    from .train import load_corpus, train_translator

    corpora = {}

    def train_row(config, key):
        settings = config.to_dict()
        data_key = (config.source, config.target, config.max_number, config.block_size,
                    config.held_out_fraction, config.n_train, config.n_val, config.n_test,
                    config.data_seed)
        if data_key not in corpora:
            corpora[data_key] = load_corpus(config)
        result, model, corpus = train_translator(config, corpora[data_key], progress=progress,
                                                 compile=compile)
        model_dir = os.path.join(MODELS_DIR, run_id(settings))
        save_model(os.path.join(out_dir, model_dir), model, corpus.source_vocab,
                   corpus.target_vocab, settings)
        result["model_dir"] = model_dir
        return make_row(KIND, settings, result, wall_time_s=result["train_time"])

    return run_missing(configs, os.path.join(out_dir, "results.jsonl"), KIND, train_row,
                       on_result)
