"""Trained character models out and in: weights as safetensors (no pickle), config as JSON.

`model.safetensors` holds every parameter under torch.nn's names (`embedding.weight`,
`lstm.weight_ih_l0`, ..., `decoder.weight`, `decoder.bias`), so safetensors' numpy or torch API
loads it straight into nn.Embedding + nn.LSTM + nn.Linear; `model.json` holds the constructor's
arguments and the vocabulary (the characters of each id, in order; the last id is "unknown").
"""

from __future__ import annotations

import json
import os

import numpy as np

from ...runs import checkpoint as ckpt
from .data import Vocabulary
from .model import CharLM

WEIGHTS_NAME, CONFIG_NAME = "model.safetensors", "model.json"
FORMAT = "minigrad-lstm charlm v1"



def save_model(directory: str, model: CharLM, vocab: Vocabulary, extra: dict | None = None
               ) -> tuple[str, str]:
    """Write directory/model.safetensors and directory/model.json (each atomically)."""
    st_numpy = ckpt.safetensors_numpy()
    if len(vocab) != model.vocab_size:
        raise ValueError(f"save_model: vocabulary has {len(vocab)} symbols, the model "
                         f"{model.vocab_size}")
    os.makedirs(directory, exist_ok=True)
    tensors = {name: np.ascontiguousarray(value) for name, value in model.state_dict().items()}
    weights = os.path.join(directory, WEIGHTS_NAME)
    data = st_numpy.save(tensors, metadata={"format": FORMAT})
    ckpt.atomic_write(weights, lambda f: f.write(data))
    config = {"format": FORMAT, "model": model.config(), "vocabulary": vocab.chars,
              "dtype": str(model.decoder.weight.dtype), **(extra or {})}
    path = os.path.join(directory, CONFIG_NAME)
    ckpt.write_json(path, config)
    return weights, path


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
    st_numpy = ckpt.safetensors_numpy()
    directory = resolve(path)
    with open(os.path.join(directory, CONFIG_NAME), encoding="utf-8") as f:
        config = json.load(f)
    if config.get("format") != FORMAT:
        raise ValueError(f"checkpoint {directory}: format {config.get('format')!r}, expected "
                         f"{FORMAT!r}")
    vocab = Vocabulary(config["vocabulary"])
    settings = dict(config["model"])
    model = CharLM(**settings, dtype=np.dtype(config.get("dtype", "float32")))
    if model.vocab_size != len(vocab):
        raise ValueError(f"checkpoint {directory}: vocab_size {model.vocab_size} but "
                         f"{len(vocab)} symbols in the vocabulary")
    model.load_state_dict(st_numpy.load_file(os.path.join(directory, WEIGHTS_NAME)))
    return model, vocab, config
