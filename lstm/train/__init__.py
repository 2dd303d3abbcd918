"""Moved to lstm/runs/train.py (the run engine); this package re-exports its names so code
that imports lstm.train keeps working."""

from ..runs.train import (
    CHECKPOINT_FIELDS,
    CHECKPOINT_NAME,
    PREVIOUS_CHECKPOINT_NAME,
    RESULT_NAME,
    Interrupted,
    Trainer,
    clear_run,
    has_checkpoint,
    make_optimizer,
    restart_clock,
    shorter_run,
    train,
)

__all__ = ["CHECKPOINT_FIELDS", "CHECKPOINT_NAME", "Interrupted", "PREVIOUS_CHECKPOINT_NAME",
           "RESULT_NAME", "Trainer", "clear_run", "has_checkpoint", "make_optimizer",
           "restart_clock", "shorter_run", "train"]
