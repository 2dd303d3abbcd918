"""Moved to lstm/runs/config.py (the run engine); this package re-exports its names so code
that imports lstm.config keeps working."""

from ..runs.config import CLIP_MODES, OPTIMIZERS, RESUMABLE_FIELDS, TrainConfig, load_model

__all__ = ["CLIP_MODES", "OPTIMIZERS", "RESUMABLE_FIELDS", "TrainConfig", "load_model"]
