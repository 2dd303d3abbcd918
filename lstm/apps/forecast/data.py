"""Forecasting data: series that ship inside PyPI packages, chronological splits, a scaler fitted on
the training segment only, and windowed inputs for direct multi-step forecasts.

Datasets (nothing is downloaded; the `apps` extra installs the packages):
- airline: monthly international airline passengers 1949-1960 (Box & Jenkins), sktime's data
  folder (datasets/data/Airline/Airline.csv), modelled on the log scale;
- sunspots: yearly sunspot numbers 1700-2008, statsmodels.datasets.sunspots;
- co2: Mauna Loa CO2 (ppm), weekly 1958-2001 in statsmodels.datasets.co2, averaged per calendar
  month (months without a reading linearly interpolated);
- macro: US quarterly macro data 1959-2009, statsmodels.datasets.macrodata: quarterly growth in
  percent (100 * diff log) of real GDP (the target), consumption and investment, with the
  unemployment rate, the 3-month T-bill rate and inflation as further inputs.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import os
from dataclasses import dataclass

import numpy as np

TRANSFORMS = ("none", "log")


@dataclass(frozen=True)
class Series:
    """A (T, F) float64 series on its original scale; column `target` is forecast."""

    name: str
    values: np.ndarray
    columns: tuple[str, ...]
    target: int
    labels: tuple[str, ...]
    season: int
    transform: str
    source: str

    @property
    def target_name(self) -> str:
        return self.columns[self.target]


def package_file(package: str, *parts: str) -> str:
    """The path of a data file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"the {package} package is not installed: pip install "
                         f"'minigrad-lstm[apps]' (it ships the data file {'/'.join(parts)})")
    path = os.path.join(spec.submodule_search_locations[0], *parts)
    if not os.path.exists(path):
        raise ValueError(f"{package} is installed but has no {'/'.join(parts)} (at {path})")
    return path


def _read_csv(path: str) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], [r for r in rows[1:] if r]


def statsmodels_dataset(name: str):
    """statsmodels.datasets.<name>, or a ValueError saying how to install it."""
    try:
        return importlib.import_module(f"statsmodels.datasets.{name}")
    except ImportError as e:
        raise ValueError(f"statsmodels is not installed ({e}): pip install "
                         "'minigrad-lstm[apps]' (it ships the data)") from e


def load_airline() -> Series:
    """Monthly airline passengers (thousands), 144 months from 1949-01."""
    header, rows = _read_csv(package_file("sktime", "datasets", "data", "Airline", "Airline.csv"))
    values = np.array([[float(r[1])] for r in rows])
    return Series("airline", values, (header[1].lower(),), 0, tuple(r[0] for r in rows), 12,
                  "log", "sktime datasets/data/Airline/Airline.csv (Box & Jenkins 1976)")


def load_sunspots() -> Series:
    """Yearly sunspot activity, 309 years from 1700."""
    frame = statsmodels_dataset("sunspots").load_pandas().data
    values = frame["SUNACTIVITY"].to_numpy(np.float64)[:, None]
    return Series("sunspots", values, ("sunactivity",), 0,
                  tuple(str(int(y)) for y in frame["YEAR"]), 11, "none",
                  "statsmodels.datasets.sunspots")


def monthly_means(days: list[str], weekly: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Mean of the non-missing readings per calendar month (YYYYMMDD dates, in order); months
    with none are linearly interpolated between their neighbours."""
    months = sorted({d[:6] for d in days})
    index = {m: i for i, m in enumerate(months)}
    sums, counts = np.zeros(len(months)), np.zeros(len(months))
    for day, value in zip(days, weekly):
        if np.isfinite(value):
            sums[index[day[:6]]] += value
            counts[index[day[:6]]] += 1
    means = np.divide(sums, counts, out=np.full(len(months), np.nan), where=counts > 0)
    known = np.flatnonzero(counts > 0)
    missing = np.flatnonzero(counts == 0)
    means[missing] = np.interp(missing, known, means[known])
    return [f"{m[:4]}-{m[4:]}" for m in months], means


def load_co2() -> Series:
    """Mauna Loa CO2 in ppm, monthly means of the weekly readings, 1958-03 to 2001-12."""
    frame = statsmodels_dataset("co2").load_pandas().data
    days = [t.strftime("%Y%m%d") for t in frame.index]
    labels, means = monthly_means(days, frame["co2"].to_numpy(np.float64))
    return Series("co2", means[:, None], ("co2",), 0, tuple(labels), 12, "none",
                  "statsmodels.datasets.co2 (weekly, averaged per month)")


MACRO_GROWTH = ("realgdp", "realcons", "realinv")
MACRO_LEVELS = ("unemp", "tbilrate", "infl")


def load_macro() -> Series:
    """US quarterly growth of real GDP (target), consumption, investment (100 * diff log, %)
    with unemployment, T-bill rate and inflation, 202 quarters from 1959Q2."""
    frame = statsmodels_dataset("macrodata").load_pandas().data
    growth = [100.0 * np.diff(np.log(frame[c].to_numpy(np.float64))) for c in MACRO_GROWTH]
    levels = [frame[c].to_numpy(np.float64)[1:] for c in MACRO_LEVELS]
    labels = tuple(f"{int(y)}Q{int(q)}" for y, q in zip(frame["year"][1:], frame["quarter"][1:]))
    columns = tuple(f"{c}_growth" for c in MACRO_GROWTH) + MACRO_LEVELS
    return Series("macro", np.stack(growth + levels, axis=1), columns, 0, labels, 1, "none",
                  "statsmodels.datasets.macrodata (growth rates in % per quarter)")


LOADERS = {"airline": load_airline, "sunspots": load_sunspots, "co2": load_co2,
           "macro": load_macro}
DATASETS = tuple(LOADERS)


def load_series(name: str) -> Series:
    """One of DATASETS, on its original scale."""
    if name not in LOADERS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    return LOADERS[name]()


# ---- splits, scaling, windows ------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    """Chronological segments [0, train_end), [train_end, val_end), [val_end, length)."""

    length: int
    train_end: int
    val_end: int

    def origins(self, segment: str, lookback: int, horizon: int) -> np.ndarray:
        """Forecast origins t (last input step) whose targets t+1..t+horizon all lie in
        `segment`; inputs t-lookback+1..t may reach back into earlier segments."""
        start, stop = {"train": (0, self.train_end), "val": (self.train_end, self.val_end),
                       "test": (self.val_end, self.length)}[segment]
        first = max(start - 1, lookback - 1)
        return np.arange(first, stop - horizon)


def chronological_split(length: int, val_size: int, test_size: int, lookback: int,
                        horizon: int) -> Split:
    """The last `test_size` steps for test, the `val_size` before them for validation; each
    segment must hold at least one full horizon and training at least one window."""
    for name, value in (("val_size", val_size), ("test_size", test_size)):
        if value < horizon:
            raise ValueError(f"{name} must be >= horizon ({horizon}) so one forecast fits, got "
                             f"{value} (options --{name.replace('_', '-')}, --horizon)")
    if lookback < 1 or horizon < 1:
        raise ValueError(f"lookback and horizon must be >= 1, got {lookback} and {horizon}")
    train_end = length - val_size - test_size
    if train_end < lookback + horizon:
        raise ValueError(f"the series has {length} steps: {val_size} validation + {test_size} "
                         f"test leave {train_end} for training, fewer than lookback + horizon "
                         f"= {lookback + horizon} (options --val-size, --test-size, --lookback, "
                         "--horizon)")
    return Split(length, train_end, length - test_size)


class Scaler:
    """Per-column standardisation after the dataset's transform, fitted on training rows only."""

    def __init__(self, transform: str, mean: np.ndarray, std: np.ndarray):
        if transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
        self.transform, self.mean, self.std = transform, mean, std

    @classmethod
    def fit(cls, train_values: np.ndarray, transform: str) -> Scaler:
        """Mean and standard deviation of each column of the (transformed) training rows."""
        z = _forward(np.asarray(train_values, np.float64), transform)
        std = z.std(axis=0)
        if not np.all(std > 0):
            raise ValueError(f"Scaler: training columns {np.flatnonzero(~(std > 0)).tolist()} "
                             "are constant; cannot standardise")
        return cls(transform, z.mean(axis=0), std)

    def scale(self, values: np.ndarray) -> np.ndarray:
        """(T, F) original -> standardised."""
        return (_forward(np.asarray(values, np.float64), self.transform) - self.mean) / self.std

    def unscale(self, scaled: np.ndarray, column: int) -> np.ndarray:
        """Standardised values of one column -> that column's original scale."""
        z = np.asarray(scaled, np.float64) * self.std[column] + self.mean[column]
        if self.transform != "log":
            return z
        with np.errstate(over="ignore"):  # a blown-up network's forecasts: inf, named by the
            return np.exp(z)  # command (--lr), not numpy's warning line before it


def _forward(values: np.ndarray, transform: str) -> np.ndarray:
    if transform == "log":
        if np.any(values <= 0):
            raise ValueError("the log transform needs positive values, got a minimum of "
                             f"{values.min()}")
        return np.log(values)
    return values


def windows(scaled: np.ndarray, target: int, origins: np.ndarray, lookback: int,
            horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (lookback, B, F) float32 ending at each origin and targets (B, horizon) float64:
    column `target` at origin+1 .. origin+horizon."""
    origins = np.asarray(origins, np.int64)
    if origins.size == 0:
        raise ValueError("windows: no forecast origins")
    if origins.min() < lookback - 1 or origins.max() + horizon >= scaled.shape[0]:
        raise ValueError(f"windows: origins must be in [{lookback - 1}, "
                         f"{scaled.shape[0] - horizon - 1}], got {origins.min()}.."
                         f"{origins.max()}")
    steps = origins[None, :] + np.arange(-lookback + 1, 1)[:, None]
    ahead = origins[:, None] + np.arange(1, horizon + 1)[None, :]
    return scaled[steps].astype(np.float32), scaled[ahead, target]
