"""What the applications' run configs share: JSON form, presets, and the checks of their fields
(lstm.runs.validate's, plus half-open intervals), each naming the field, the rule and the value."""

from __future__ import annotations

import dataclasses

from ...runs.validate import check_choices, check_integers, check_numbers

IMPLS = ("fused", "composed")


class AppConfig:
    """Base of the applications' frozen dataclass configs: `check` in __post_init__,
    `to_dict` (their canonical JSON is a run's identity)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self, choices: dict, integers: dict, positive=(), non_negative=(),
              intervals: dict | None = None, optional_integers: dict | None = None) -> None:
        """choices: field -> allowed values; integers: field -> minimum (optional_integers:
        None allowed too); positive / non_negative: finite numbers; intervals: field -> (low,
        high), low <= value < high."""
        check_choices(self, choices)
        check_integers(self, integers, optional_integers)
        check_numbers(self, positive, non_negative)
        for name, (low, high) in (intervals or {}).items():
            value = getattr(self, name)
            if not low <= value < high:
                raise ValueError(f"{name} must be in [{low}, {high}), got {value!r}")


def from_preset(config_class, presets: dict, preset: str, overrides: dict):
    """config_class with the preset's settings and `overrides` (None values ignored)."""
    if preset not in presets:
        raise ValueError(f"preset must be one of {tuple(presets)}, got {preset!r}")
    return config_class(**{**presets[preset],
                           **{k: v for k, v in overrides.items() if v is not None}})
