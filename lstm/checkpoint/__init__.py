# ruff: noqa: F403, F405
"""Moved to lstm/runs/checkpoint.py (the run engine); this package re-exports its names so code
that imports lstm.checkpoint keeps working."""

from ..runs.checkpoint import *  # the names below, the same objects

__all__ = ["CheckpointError", "atomic_write", "generator_state", "load_checkpoint", "load_npz",
           "previous_path", "read_checked", "safetensors_numpy", "save_checkpoint", "save_npz",
           "set_generator_state", "write_json"]
