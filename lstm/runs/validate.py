"""The checks every run config shares (TrainConfig, the applications' configs): each names the
field, what it must be and what it got."""

from __future__ import annotations

import math


def check_choices(config, choices: dict) -> None:
    """Each field named in `choices` must be one of its allowed values."""
    for name, allowed in choices.items():
        if getattr(config, name) not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {getattr(config, name)!r}")


def check_integers(config, minimum: dict, optional: dict | None = None) -> None:
    """Fields in `minimum` are integers >= their bound; those in `optional` also may be None."""
    optional = optional or {}
    for name, low in [*minimum.items(), *optional.items()]:
        value = getattr(config, name)
        if value is None and name in optional:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}"
                             f"{' or None' if name in optional else ''}, got {value!r}")


def check_numbers(config, positive=(), non_negative=()) -> None:
    """Fields in `positive` are finite numbers > 0, those in `non_negative` finite and >= 0."""
    for names, sign, test in ((positive, "> 0", lambda v: v > 0),
                              (non_negative, ">= 0", lambda v: v >= 0)):
        for name in names:
            value = getattr(config, name)
            if not (isinstance(value, int | float) and not isinstance(value, bool)
                    and math.isfinite(value) and test(value)):
                raise ValueError(f"{name} must be a finite number {sign}, got {value!r}")
