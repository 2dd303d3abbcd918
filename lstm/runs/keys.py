"""Run keys: one identity per run, and the run directory named by it.

`run_key(kind, config)` is a run's row key in a results file (its kind and canonical JSON
config, readable). `config_hash(config)` hashes every field that changes the result (all but
NOT_IN_KEY) plus, for a user's cell (`path.py:Class`), its module's source: a run directory is
named by it, so different configurations never share checkpoints, and a different budget
(`steps`) never reuses a longer run's state.
"""

from __future__ import annotations

import hashlib
import json
import re

# fields that do not change a run's result: how often it checkpoints, whether its step is
# compiled (equal to eager to float rounding)
NOT_IN_KEY = ("checkpoint_every", "compile")


def run_key(kind: str, config: dict) -> str:
    """A stable identity for a run: its kind and its canonical JSON config."""
    return kind + ":" + json.dumps(config, sort_keys=True, separators=(",", ":"))


def config_hash(config: dict, length: int = 12) -> str:
    """The first `length` hex digits of the SHA-256 of the result-changing fields of `config`
    (and of a user's cell's source, when config["model"] names one)."""
    from .. import zoo

    content = {k: v for k, v in config.items() if k not in NOT_IN_KEY}
    model = content.get("model")
    if isinstance(model, str) and zoo.is_user_model(model):
        content["cell_source"] = zoo.cell_digest(model)
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def slug(text: str) -> str:
    """A file-name-safe form: runs of other characters become '_' ('/' and ':' included)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text) or "run"


def run_dir_name(readable: str, config: dict) -> str:
    """`<readable>-<config_hash>`: for people to read, and unique per result-changing config."""
    return f"{slug(readable)}-{config_hash(config)}"
