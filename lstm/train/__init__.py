# ruff: noqa: F403, F405
"""Moved to lstm/runs/train.py (the run engine); this package re-exports its names so code
that imports lstm.train keeps working."""

from ..runs.train import *  # the names below, the same objects

__all__ = ["CHECKPOINT_FIELDS", "CHECKPOINT_NAME", "Interrupted", "PREVIOUS_CHECKPOINT_NAME",
           "RESULT_NAME", "Trainer", "clear_run", "has_checkpoint", "make_optimizer",
           "restart_clock", "shorter_run", "train"]
