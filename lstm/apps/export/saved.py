"""Any application's model saved and loaded the same way: model.safetensors (parameters under
torch.nn's names) and model.json (format, app, the constructor's arguments, the caller's extra).

`lstm translate` and `lstm charlm` save their runs with their own formats (vocabularies
included); this is for the forecasting and classification models, whose commands keep no model
today: `save_model(directory, model, config)` after training is all a command needs to make its
runs exportable by `lstm export`.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ...runs import checkpoint as ckpt

FORMAT = "minigrad-lstm model v1"
WEIGHTS_NAME, CONFIG_NAME = "model.safetensors", "model.json"



def describe(model) -> tuple[str, dict]:
    """(app, constructor arguments) of a ForecastNet or SequenceClassifier."""
    from ..classify.model import SequenceClassifier
    from ..forecast.train import ForecastNet

    if isinstance(model, ForecastNet):
        layer = model.recurrent
        return "forecast", {
            "model": type(layer).__name__.lower(), "input_size": layer.input_size,
            "hidden_size": layer.hidden_size, "num_layers": layer.num_layers,
            "horizon": model.readout.out_features, "target": int(model.target),
            "output": model.output, "season": int(model.seasonal_back[0]) + 1}
    if isinstance(model, SequenceClassifier):
        encoder = model.encoder
        return "classify", {
            "input_size": encoder.input_size, "hidden_size": encoder.hidden_size,
            "n_classes": model.readout.out_features, "pooling": model.pooling,
            "attention_size": (model.attention.project.out_features
                               if model.pooling == "attention" else None),
            "num_layers": encoder.num_layers, "bidirectional": encoder.num_directions == 2}
    raise ValueError(f"save_model: {type(model).__name__} is not a ForecastNet or "
                     "SequenceClassifier")


def _build(app: str, arguments: dict):
    from ..classify.model import SequenceClassifier
    from ..forecast.train import ForecastNet

    builders = {"forecast": ForecastNet, "classify": SequenceClassifier}
    if app not in builders:
        raise ValueError(f"model.json: app must be one of {tuple(builders)}, got {app!r}")
    return builders[app](**arguments)


def save_model(directory: str, model, extra: dict | None = None) -> str:
    """Write directory/model.safetensors and model.json; returns the directory."""
    app, arguments = describe(model)
    os.makedirs(directory, exist_ok=True)
    tensors = {k: np.ascontiguousarray(v) for k, v in model.state_dict().items()}
    data = ckpt.safetensors_numpy().save(tensors, metadata={"format": FORMAT})
    ckpt.atomic_write(os.path.join(directory, WEIGHTS_NAME), lambda f: f.write(data))
    ckpt.write_json(os.path.join(directory, CONFIG_NAME),
                    {"format": FORMAT, "app": app, "model": arguments, **(extra or {})})
    return directory


def load_model(directory: str):
    """The model saved by save_model, in eval mode, and its model.json."""
    with open(os.path.join(directory, CONFIG_NAME), encoding="utf-8") as f:
        config = json.load(f)
    if config.get("format") != FORMAT:
        raise ValueError(f"{directory}: format {config.get('format')!r}, expected {FORMAT!r}")
    model = _build(config.get("app"), config["model"])
    model.load_state_dict(ckpt.safetensors_numpy().load_file(os.path.join(directory,
                                                                       WEIGHTS_NAME)))
    model.eval()
    return model, config
