"""A trained model on disk, the same way for every application: model.safetensors (every
parameter under torch.nn's names, so safetensors' numpy or torch API loads it; no pickle) and
model.json (its format, the constructor's arguments and what the application adds: its
vocabularies, the run's config), each written atomically."""

from __future__ import annotations

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


def read_model(directory: str, format: str, build: Callable, what: str = ""):  # noqa: A002
    """(build(model.json's content) with the saved parameters, model.json's content); a
    ValueError naming the directory (after `what`) if its format is not `format`."""
    with open(os.path.join(directory, CONFIG_NAME), encoding="utf-8") as f:
        config = json.load(f)
    if config.get("format") != format:
        raise ValueError(f"{what}{directory}: format {config.get('format')!r}, expected "
                         f"{format!r}")
    model = build(config)
    model.load_state_dict(ckpt.safetensors_numpy().load_file(os.path.join(directory,
                                                                       WEIGHTS_NAME)))
    return model, config
