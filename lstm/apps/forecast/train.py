"""Direct multi-step forecasting with a recurrent network, early-stopped on validation, scored on
the original scale next to the classical baselines on the same split and origins.

The network reads `lookback` standardised steps (every column of the series), and its last
layer's final hidden state goes through Linear(H, horizon) to all `horizon` future values of the
target at once (direct, not recursive). With output "delta" the read-out predicts the change
from the last observed target value, so an untrained network starts at the naive forecast; with
"seasonal" the change from the seasonal-naive value (the same season's last observation), so it
starts at the seasonal naive forecast; "level" predicts the standardised values themselves.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad import optim
from minigrad.nn import Linear, Module
from minigrad.tensor import Tensor

from ...layers import GRU, LSTM, RNN
from ...runs.options import setting
from ..common.config import AppConfig, impl_setting
from ..common.trainer import EpochTrainer
from .baselines import baseline_forecasts
from .data import DATASETS, Scaler, chronological_split, load_series, windows
from .metrics import forecast_metrics, mase_scale

FORECAST_MODELS = ("lstm", "gru", "rnn")
OUTPUTS = ("delta", "seasonal", "level")
# per dataset: forecast horizon, input window, the validation / test segment lengths (steps:
# every test segment spans at least three seasons), and the read-out, chosen on validation MSE
# (docs/applications_forecast.md): the change from the seasonal-naive value (airline) or from
# the last value (co2), the level for sunspots and macro
DATASET_DEFAULTS = {
    "airline": {"horizon": 12, "lookback": 24, "val_size": 24, "test_size": 36,
                "output": "seasonal"},
    "co2": {"horizon": 12, "lookback": 36, "val_size": 60, "test_size": 60, "output": "delta"},
    "sunspots": {"horizon": 10, "lookback": 30, "val_size": 40, "test_size": 40,
                 "output": "level"},
    "macro": {"horizon": 4, "lookback": 12, "val_size": 32, "test_size": 32, "output": "level"},
}


@dataclass(frozen=True)
class ForecastConfig(AppConfig):
    """One forecasting run; None sizes take the dataset's DATASET_DEFAULTS."""

    dataset: str = setting("airline", "series", choices=DATASETS)
    model: str = setting("lstm", "recurrent layer", choices=FORECAST_MODELS)
    hidden_size: int = setting(32, "hidden units", low=1)
    num_layers: int = setting(1, "stacked recurrent layers", low=1)
    horizon: int | None = setting(None, "steps forecast at once (default: the dataset's)",
                                  low=1)
    lookback: int | None = setting(None, "input window in steps (default: the dataset's)",
                                   low=1)
    val_size: int | None = setting(None, "validation segment in steps (default: the "
                                   "dataset's)", low=1)
    test_size: int | None = setting(None, "test segment in steps (default: the dataset's)",
                                    low=1)
    output: str | None = setting(None, "the read-out predicts the change from the last value "
                                 "(delta), from the value one season back (seasonal), or the "
                                 "level (default: the dataset's)", choices=OUTPUTS)
    batch_size: int = setting(16, "windows per Adam step", low=1)
    lr: float = setting(5e-3, "Adam learning rate", low=0, strict=True)
    clip: float = setting(1.0, "gradient norm clipping threshold", low=0, strict=True)
    max_epochs: int = setting(300, "epoch budget", low=1)
    patience: int = setting(30, "stop after this many epochs without a better validation MSE",
                            low=1)
    seed: int = setting(0, "seed of the weights and batch order", low=0)
    impl: str = impl_setting()

    def resolved(self) -> ForecastConfig:
        """This config with the dataset's defaults filled in."""
        defaults = DATASET_DEFAULTS[self.dataset]
        return dataclasses.replace(self, **{k: v for k, v in defaults.items()
                                            if getattr(self, k) is None})


class ForecastNet(Module):
    """Recurrent layers over (lookback, B, F) -> Linear(H, horizon) on the final hidden state."""

    def __init__(self, model: str, input_size: int, hidden_size: int, num_layers: int,
                 horizon: int, target: int, output: str, impl: str = "fused", rng=None,
                 season: int = 1):
        super().__init__()
        rng = np.random.default_rng(rng)
        layer = {"lstm": LSTM, "gru": GRU, "rnn": RNN}[model]
        self.recurrent = layer(input_size, hidden_size, num_layers=num_layers, impl=impl,
                               rng=rng)
        self.readout = Linear(hidden_size, horizon, rng=rng)
        self.target, self.output = target, output
        steps = np.arange(1, horizon + 1)
        # window index of each step's seasonal-naive value (counted back from the last input)
        self.seasonal_back = season * np.ceil(steps / season).astype(np.int64) - steps

    def forward(self, x):
        """(lookback, B, F) standardised inputs (an array or a Tensor) -> (B, horizon)
        standardised forecasts."""
        x = x if isinstance(x, Tensor) else mg.tensor(x)
        _, state = self.recurrent(x)
        h_n = state[0] if isinstance(state, tuple) else state
        out = self.readout(h_n[-1])
        if self.output == "delta":
            out = out + x[-1, :, self.target:self.target + 1]
        elif self.output == "seasonal":
            if self.seasonal_back.max() >= x.shape[0]:
                raise ValueError(f"output 'seasonal' needs a lookback > "
                                 f"{self.seasonal_back.max()}, got {x.shape[0]}")
            out = out + x[x.shape[0] - 1 - self.seasonal_back, :, self.target].transpose()
        return out


@dataclass
class Prepared:
    """A dataset split, scaled on its training rows, and cut into windows per segment."""

    config: ForecastConfig
    series: object
    split: object
    scaler: Scaler
    origins: dict
    x: dict
    y: dict


def prepare(config: ForecastConfig) -> Prepared:
    """Load, split, fit the scaler on the training rows only, and window every segment."""
    config = config.resolved()
    series = load_series(config.dataset)
    split = chronological_split(len(series.values), config.val_size, config.test_size,
                                config.lookback, config.horizon)
    if config.output == "seasonal" and config.lookback < series.season:
        raise ValueError(f"output 'seasonal' needs a lookback of at least the season "
                         f"({series.season}) of {series.name}, got {config.lookback} "
                         "(options --output, --lookback)")
    scaler = Scaler.fit(series.values[:split.train_end], series.transform)
    scaled = scaler.scale(series.values)
    origins, x, y = {}, {}, {}
    for segment in ("train", "val", "test"):
        origins[segment] = split.origins(segment, config.lookback, config.horizon)
        x[segment], y[segment] = windows(scaled, series.target, origins[segment],
                                         config.lookback, config.horizon)
    return Prepared(config, series, split, scaler, origins, x, y)


def predict(net: ForecastNet, x: np.ndarray) -> np.ndarray:
    """Standardised (B, horizon) forecasts in eval mode, without a tape."""
    net.eval()
    try:
        with mg.no_grad():
            return net(x).numpy().astype(np.float64)
    finally:
        net.train()


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator):
    """The windows in a shuffled order: ((inputs, targets), batch length) per Adam step."""
    order = rng.permutation(x.shape[1])
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        yield (mg.tensor(x[:, batch]), mg.tensor(y[batch])), len(batch)


def train_net(data: Prepared, progress: bool = False,
              compile: bool = False) -> tuple[ForecastNet, dict]:  # noqa: A002
    """Adam on the training windows, one validation MSE per epoch, the best epoch's weights
    kept; stops after `patience` epochs without a better validation MSE (`compile`: the
    training step through mg.compile)."""
    config = data.config
    net = ForecastNet(config.model, data.series.values.shape[1], config.hidden_size,
                      config.num_layers, config.horizon, data.series.target, config.output,
                      config.impl, rng=np.random.default_rng([config.seed, 0]),
                      season=data.series.season)
    trainer = EpochTrainer(net, optim.Adam(net.parameters(), lr=config.lr),
                           lambda x, y: mg.mse_loss(net(x), y), clip=config.clip,
                           compile=compile, command="lstm forecast", progress=progress,
                           desc=f"{config.model} {config.dataset} seed {config.seed}")
    shuffle = np.random.default_rng([config.seed, 1])
    x, y = data.x["train"], data.y["train"].astype(np.float32)

    def evaluate(epoch, loss):
        val = float(np.mean((predict(net, data.x["val"]) - data.y["val"]) ** 2))
        return {"epoch": epoch, "train_mse": loss, "val_mse": val}, val

    fit = trainer.fit(config.max_epochs, -(-x.shape[1] // config.batch_size),
                      lambda: batches(x, y, config.batch_size, shuffle), evaluate,
                      better=lambda a, b: a < b, patience=config.patience, copy_best=True,
                      stop_diverged=True, initial_is_best=True)
    return net, {"epochs": len(fit.curve), "best_epoch": fit.best_epoch,
                 "best_val_mse": fit.best_score, "stopped": fit.stopped, "curve": fit.curve}


def evaluate_baselines(data: Prepared) -> tuple[dict[str, np.ndarray], dict]:
    """The baselines' test forecasts {name: (origins, horizon)} on the original scale, and
    their fits' details ({"ets": ets.select_ets's info})."""
    series, split, target = data.series, data.split, data.series.target
    y = series.values[:, target]
    mean, std = data.scaler.mean[target], data.scaler.std[target]
    z = data.scaler.scale(series.values)[:, target] * std + mean  # transformed, unstandardised
    return baseline_forecasts(series.name, y, z,
                              lambda s: data.scaler.unscale((s - mean) / std, target),
                              split.val_end, data.origins["test"], data.config.horizon,
                              series.season)


def truth(data: Prepared) -> np.ndarray:
    """The test targets (origins, horizon) on the original scale."""
    ahead = data.origins["test"][:, None] + np.arange(1, data.config.horizon + 1)[None, :]
    return data.series.values[ahead, data.series.target]


def _rounded(values: np.ndarray) -> list:
    return np.round(np.asarray(values, np.float64), 6).tolist()


def run_forecast(config: ForecastConfig, progress: bool = False,
                 baselines: tuple[dict, dict] | None = None, on_model=None,
                 compile: bool = False) -> dict:  # noqa: A002 - the option's name
    """Train, forecast the test origins, and score model and baselines on the original scale.

    `baselines`: precomputed evaluate_baselines(...) (forecasts, fits) for the same data (they
    depend on the dataset and split only), else computed here; ({}, {}) skips them. Returns
    the result dict; "test" holds every test origin's forecasts (model and baselines) and the
    truth, which forecast_compare's tests read. `on_model(net, config)` receives the trained
    network (runs.run_forecasts saves it for `lstm export`).
    """
    started = time.perf_counter()
    data = prepare(config)
    config = data.config
    net, training = train_net(data, progress, compile)
    if on_model is not None:
        on_model(net, config)
    target = data.series.target
    forecast = data.scaler.unscale(predict(net, data.x["test"]), target)
    if not np.isfinite(forecast).all():
        raise ValueError(
            f"the {config.model} network's test forecasts are not finite after training "
            f"(stopped: {training['stopped']}, best epoch {training['best_epoch']}): --lr "
            f"{config.lr} (or --clip {config.clip}) is too large for {config.dataset}; "
            "try a smaller --lr")
    baselines, fits = evaluate_baselines(data) if baselines is None else baselines
    actual = truth(data)
    scale = mase_scale(data.series.values[:data.split.train_end, target], data.series.season)
    path = slice(None, None, config.horizon)  # non-overlapping origins: the test segment once
    return {
        "config": config.to_dict(),
        "metrics": forecast_metrics(forecast, actual, scale),
        "baselines": {name: forecast_metrics(f, actual, scale) for name, f in baselines.items()},
        "baseline_fits": fits,
        "num_parameters": net.num_parameters(), **training,
        "data": {"length": data.split.length, "train_end": data.split.train_end,
                 "val_end": data.split.val_end, "test_origins": len(data.origins["test"]),
                 "season": data.series.season, "transform": data.series.transform,
                 "target": data.series.target_name, "columns": list(data.series.columns),
                 "mase_scale": scale, "source": data.series.source},
        "path": {"origins": data.origins["test"][path].tolist(),
                 "model": forecast[path].tolist(),
                 **{name: f[path].tolist() for name, f in baselines.items()}},
        "test": {"origins": data.origins["test"].tolist(), "actual": _rounded(actual),
                 "model": _rounded(forecast),
                 "baselines": {name: _rounded(f) for name, f in baselines.items()}},
        "wall_time": time.perf_counter() - started,
    }
