"""A trained model on disk, the same way for every application: model.safetensors (every
parameter under torch.nn's names, so safetensors' numpy or torch API loads it; no pickle) and
model.json (its format, the constructor's arguments and what the application adds: its
vocabularies, the run's config), each written atomically."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable

import numpy as np

from ...runs import checkpoint as ckpt

WEIGHTS_NAME, CONFIG_NAME = "model.safetensors", "model.json"


def write_model(directory: str, model, format: str, config: dict) -> str:  # noqa: A002
    """Write directory/model.safetensors and model.json ({"format": format, **config});
    returns the directory."""
    os.makedirs(directory, exist_ok=True)
    tensors = {k: np.ascontiguousarray(v) for k, v in model.state_dict().items()}
    data = ckpt.safetensors_numpy().save(tensors, metadata={"format": format})
    ckpt.atomic_write(os.path.join(directory, WEIGHTS_NAME), lambda f: f.write(data))
    ckpt.write_json(os.path.join(directory, CONFIG_NAME), {"format": format, **config})
    return directory


class DamagedModel(RuntimeError):
    """A saved model's file that cannot be read: names it and what is wrong (exit status 1)."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path} is damaged or is not a saved model: {problem}. It is written "
                         "when its run finishes: move it away and run the command that made "
                         "it again")


def read_config(directory: str) -> dict:
    """model.json of a saved model, a JSON object (DamagedModel otherwise)."""
    path = os.path.join(directory, CONFIG_NAME)
    with open(path, encoding="utf-8") as f:
        try:
            config = json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            raise DamagedModel(path, f"not JSON ({e})") from None
    if not isinstance(config, dict):
        raise DamagedModel(path, f"expected a JSON object, got {type(config).__name__}")
    return config


def read_model(directory: str, format: str, build: Callable, what: str = ""):  # noqa: A002
    """(build(model.json's content) with the saved parameters, model.json's content); a
    ValueError naming the directory (after `what`) if its format is not `format`, DamagedModel
    naming the file that cannot be read."""
    config = read_config(directory)
    if config.get("format") != format:
        raise ValueError(f"{what}{directory}: format {config.get('format')!r}, expected "
                         f"{format!r}")
    try:
        model = build(config)
    except (KeyError, TypeError, ValueError) as e:
        raise DamagedModel(os.path.join(directory, CONFIG_NAME),
                           f"its settings do not build a model ({type(e).__name__}: {e})") from None
    path = os.path.join(directory, WEIGHTS_NAME)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "the model's weights are missing", path)
    try:
        weights = ckpt.safetensors_numpy().load_file(path)
    except Exception as e:  # safetensors' own error type (a Rust exception), whatever the damage
        raise DamagedModel(path, f"{type(e).__name__}: {e}") from None
    try:
        model.load_state_dict(weights)
    except (KeyError, ValueError) as e:
        raise DamagedModel(path, f"its tensors do not fit {CONFIG_NAME} ({e})") from None
    return model, config
