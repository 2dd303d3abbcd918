# ruff: noqa: F403, F405
"""Moved to lstm/runs/config.py (the run engine); this package re-exports its names so code
that imports lstm.config keeps working."""

from ..runs.config import *  # the names below, the same objects

__all__ = ["CLIP_MODES", "COMPILE_HELP", "OPTIMIZERS", "RESUMABLE_FIELDS", "TrainConfig",
           "load_model"]
