"""What the applications' run configs share: the config base (lstm.runs.options: each field a
`setting(...)` with its help, allowed values or range and flag, from which the commands' options
and the checks are generated), JSON form and presets."""

from __future__ import annotations

import dataclasses

from ...runs.options import check, setting

IMPLS = ("fused", "composed")


class AppConfig:
    """Base of the applications' frozen dataclass configs, whose fields are settings of the
    config base: each is checked in __post_init__ (the message names the field, its option,
    what it must be and what it got); `to_dict` (its canonical JSON is a run's identity)."""

    def __post_init__(self):
        check(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def impl_setting():
    """The `impl` field of a config whose model runs lstm.layers' recurrent layers."""
    return setting("fused", "fused whole-sequence recurrent kernels or the composed cell",
                   choices=IMPLS)


def from_preset(config_class, presets: dict, preset: str, overrides: dict):
    """config_class with the preset's settings and `overrides` (None values ignored)."""
    if preset not in presets:
        raise ValueError(f"preset must be one of {tuple(presets)}, got {preset!r}")
    return config_class(**{**presets[preset],
                           **{k: v for k, v in overrides.items() if v is not None}})
