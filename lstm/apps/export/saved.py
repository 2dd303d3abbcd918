"""Any application's model saved and loaded the same way: model.safetensors (parameters under
torch.nn's names) and model.json (format, app, the constructor's arguments, the caller's extra).

`lstm translate` and `lstm charlm` save their runs with their own formats (vocabularies
included); this is for the forecasting and classification models, whose commands keep no model
today: `save_model(directory, model, config)` after training is all a command needs to make its
runs exportable by `lstm export`.
"""

from __future__ import annotations

from ..common.store import read_model, write_model

FORMAT = "minigrad-lstm model v1"


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
    return write_model(directory, model, FORMAT, {"app": app, "model": arguments,
                                                  **(extra or {})})


def load_model(directory: str):
    """The model saved by save_model, in eval mode, and its model.json."""
    model, config = read_model(directory, FORMAT,
                               lambda config: _build(config.get("app"), config["model"]))
    model.eval()
    return model, config
