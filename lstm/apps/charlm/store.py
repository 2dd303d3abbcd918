"""Trained character models out and in: weights as safetensors (no pickle), config as JSON.

`model.safetensors` holds every parameter under torch.nn's names (`embedding.weight`,
`lstm.weight_ih_l0`, ..., `decoder.weight`, `decoder.bias`), so safetensors' numpy or torch API
loads it straight into nn.Embedding + nn.LSTM + nn.Linear; `model.json` holds the constructor's
arguments and the vocabulary (the characters of each id, in order; the last id is "unknown").
"""

from __future__ import annotations

import os

import numpy as np

from ..common.store import CONFIG_NAME, WEIGHTS_NAME, read_model, write_model
from .data import Vocabulary
from .model import CharLM

FORMAT = "minigrad-lstm charlm v1"
__all__ = ["CONFIG_NAME", "FORMAT", "WEIGHTS_NAME", "load_model", "resolve", "save_model"]


def save_model(directory: str, model: CharLM, vocab: Vocabulary, extra: dict | None = None
               ) -> tuple[str, str]:
    """Write directory/model.safetensors and directory/model.json (each atomically)."""
    if len(vocab) != model.vocab_size:
        raise ValueError(f"save_model: vocabulary has {len(vocab)} symbols, the model "
                         f"{model.vocab_size}")
    write_model(directory, model, FORMAT, {"model": model.config(), "vocabulary": vocab.chars,
                                           "dtype": str(model.decoder.weight.dtype),
                                           **(extra or {})})
    return os.path.join(directory, WEIGHTS_NAME), os.path.join(directory, CONFIG_NAME)


def resolve(path: str) -> str:
    """The directory of a saved model, given it or either of its two files."""
    if not os.path.exists(path):
        raise ValueError(f"checkpoint {path!r} does not exist")
    directory = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    for name in (WEIGHTS_NAME, CONFIG_NAME):
        if not os.path.isfile(os.path.join(directory, name)):
            raise ValueError(f"checkpoint {path!r}: expected {name} in {directory} (written by "
                             "`lstm charlm`)")
    return directory


def load_model(path: str) -> tuple[CharLM, Vocabulary, dict]:
    """The model, vocabulary and config JSON saved by save_model (path: directory or file)."""
    directory = resolve(path)

    def build(config):
        vocab = Vocabulary(config["vocabulary"])
        model = CharLM(**config["model"], dtype=np.dtype(config.get("dtype", "float32")))
        if model.vocab_size != len(vocab):
            raise ValueError(f"checkpoint {directory}: vocab_size {model.vocab_size} but "
                             f"{len(vocab)} symbols in the vocabulary")
        return model

    model, config = read_model(directory, FORMAT, build, what="checkpoint ")
    return model, Vocabulary(config["vocabulary"]), config
