# ruff: noqa: F403, F405
"""Moved to lstm/runs/results_io.py (the run engine); this package re-exports its names so code
that imports lstm.results_io keeps working."""

from ..runs.results_io import *  # the names below, the same objects

__all__ = ["DAMAGED_SUFFIX", "RESULT_FIELDS", "ROW_FIELDS", "ResultsError", "Row",
           "SCHEMA_VERSION", "append_row", "check_row", "find_row", "make_row", "put_row",
           "read_rows", "repair", "say", "versions", "with_key"]
