"""Japanese Vowels from sktime's data folder: a .ts parser, padding and train-only scaling.

The .ts format (sktime / aeon / the UEA archive): `#` comment lines, `@key value` header lines up
to `@data`, then one case per line: the dimensions separated by `:`, each a comma-separated series
(`?` for a missing value), the class label last. Nothing is downloaded: the files ship in sktime's
wheel (the `apps` extra) and are located without importing sktime.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import numpy as np

DATASETS = ("japanese-vowels",)
_FILES = {"japanese-vowels": ("JapaneseVowels", "JapaneseVowels_{split}.ts")}


@dataclass
class TsData:
    """One .ts file: `series[i]` is (length_i, dimensions) float64; labels as the file spells
    them; `header` maps each @key to its value text."""

    series: list[np.ndarray]
    labels: list[str]
    header: dict[str, str]


def _header_flag(header: dict, key: str, default: bool) -> bool:
    value = header.get(key, "true" if default else "false").split()[0].lower()
    if value not in ("true", "false"):
        raise ValueError(f"read_ts: @{key} must be true or false, got {value!r}")
    return value == "true"


def parse_ts(lines, source: str = "<text>") -> TsData:
    """Parse the lines of a .ts file (labelled, no timestamps) into TsData."""
    header: dict[str, str] = {}
    series, labels = [], []
    in_data = False
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise ValueError(f"{source}:{number}: expected an @key line or @data before "
                                 f"the data, got {line[:40]!r}")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
                if _header_flag(header, "timestamps", False):
                    raise ValueError(f"{source}: @timeStamps true is not supported")
            else:
                header[key] = value.strip()
            continue
        parts = line.split(":")
        if not _header_flag(header, "classlabel", True) or len(parts) < 2:
            raise ValueError(f"{source}:{number}: expected dimensions and a class label "
                             f"separated by ':', got {len(parts)} field(s)")
        dims = []
        for d, text in enumerate(parts[:-1]):
            try:
                dims.append(np.array([np.nan if v.strip() == "?" else float(v)
                                      for v in text.split(",")], np.float64))
            except ValueError as e:
                raise ValueError(f"{source}:{number}: dimension {d}: {e}") from None
        lengths = {len(v) for v in dims}
        if len(lengths) != 1:
            raise ValueError(f"{source}:{number}: dimensions of one case differ in length: "
                             f"{[len(v) for v in dims]}")
        series.append(np.stack(dims, axis=1))
        labels.append(parts[-1].strip())
    if not in_data:
        raise ValueError(f"{source}: no @data line")
    if "dimensions" in header and series:
        expected = int(header["dimensions"])
        wrong = [i for i, s in enumerate(series) if s.shape[1] != expected]
        if wrong:
            raise ValueError(f"{source}: @dimensions {expected} but case {wrong[0]} has "
                             f"{series[wrong[0]].shape[1]}")
    return TsData(series, labels, header)


def read_ts(path: str) -> TsData:
    """Parse one .ts file."""
    with open(path, encoding="utf-8") as f:
        return parse_ts(f, source=path)


def data_dir() -> str:
    """sktime's datasets/data folder, found without importing sktime (its import is slow)."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the Japanese Vowels data ship with sktime: pip install "
                           "'minigrad-lstm[apps]' (or pip install sktime)")
    return os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data")


@dataclass
class SequenceDataset:
    """Variable-length multivariate sequences with integer classes 0..n_classes-1."""

    train_x: list[np.ndarray]
    train_y: np.ndarray
    test_x: list[np.ndarray]
    test_y: np.ndarray
    class_names: list[str]

    @property
    def n_features(self) -> int:
        return self.train_x[0].shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def load_dataset(name: str = "japanese-vowels") -> SequenceDataset:
    """The dataset's own train / test split, float32 sequences (T_i, features), labels 0-based."""
    if name not in _FILES:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    folder, pattern = _FILES[name]
    parts = {split: read_ts(os.path.join(data_dir(), folder, pattern.format(split=split)))
             for split in ("TRAIN", "TEST")}
    names = parts["TRAIN"].header.get("classlabel", "").split()[1:]
    names = names or sorted(set(parts["TRAIN"].labels))
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(parts["TEST"].labels) - set(index))
    if unknown:
        raise ValueError(f"{name}: test labels {unknown} are not among the classes {names}")
    xs = {s: [v.astype(np.float32) for v in p.series] for s, p in parts.items()}
    ys = {s: np.array([index[label] for label in p.labels], np.int64) for s, p in parts.items()}
    return SequenceDataset(xs["TRAIN"], ys["TRAIN"], xs["TEST"], ys["TEST"], names)


def split_validation(dataset: SequenceDataset, fraction: float, rng: np.random.Generator):
    """Hold out `fraction` of each class's training sequences (at least one, at most all but
    one): (the dataset without them, their sequences, their labels)."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    held = []
    for c in range(dataset.n_classes):
        members = rng.permutation(np.flatnonzero(dataset.train_y == c))
        if len(members) < 2:
            raise ValueError(f"class {dataset.class_names[c]!r} has {len(members)} training "
                             "sequence(s): too few to hold one out")
        held += members[:min(max(1, round(fraction * len(members))), len(members) - 1)].tolist()
    held = np.sort(np.array(held, np.int64))
    kept = np.setdiff1d(np.arange(len(dataset.train_x)), held)
    rest = SequenceDataset([dataset.train_x[i] for i in kept], dataset.train_y[kept],
                           dataset.test_x, dataset.test_y, dataset.class_names)
    return rest, [dataset.train_x[i] for i in held], dataset.train_y[held]


class Standardizer:
    """Per-feature (x - mean) / std fitted on the frames of the training sequences only."""

    def __init__(self):
        self.mean = self.std = None

    def fit(self, sequences) -> Standardizer:
        frames = np.concatenate([np.asarray(s, np.float64) for s in sequences], axis=0)
        self.mean = frames.mean(axis=0)
        std = frames.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)
        return self

    def transform(self, sequences) -> list[np.ndarray]:
        if self.mean is None:
            raise RuntimeError("Standardizer.transform before fit")
        return [((np.asarray(s, np.float64) - self.mean) / self.std).astype(np.asarray(s).dtype)
                for s in sequences]


def pad(sequences, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Time-major zero-padded (T_max, B, features) and the lengths (B,) int64."""
    lengths = np.array([len(s) for s in sequences], np.int64)
    if lengths.size == 0 or lengths.min() < 1:
        raise ValueError("pad: needs at least one sequence, each with at least one frame")
    out = np.zeros((lengths.max(), len(sequences), sequences[0].shape[1]), dtype)
    for b, s in enumerate(sequences):
        out[:len(s), b] = s
    return out, lengths
