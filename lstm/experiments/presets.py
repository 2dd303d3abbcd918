"""Sweep presets: which runs `lstm sweep` and `lstm report` make, sized for 2 cores.

"default" reproduces the results in docs/results.md (adding T = 100, 200 and copy T = 100 for
LSTM, GRU and the tanh-RNN, three seeds each, plus the gradient-flow picture of every model
name, the cell variants included); "quick" is the
same picture at smaller sizes for `make report`.
"""

from __future__ import annotations

from ..models import VARIANT_NAMES
from .sweep import RunSpec, grid

# Training settings shared by every preset run: Adam at 1e-2 with clipping converges in a
# budget that fits 2 cores (Arjovsky's RMSprop 1e-3 needs 30k-47k steps); TrainConfig records it.
TRAIN_BASE = {"optimizer": "adam", "lr": 1e-2, "clip": "norm", "clip_value": 1.0,
              "hidden_size": 128, "batch_size": 32, "eval_every": 100, "test_size": 500}

PRESETS = {
    "quick": {
        "train": [
            {"task": "adding", "models": ["lstm-fb1", "gru", "rnn"], "seq_lens": [25, 50],
             "seeds": [0], "steps": 600, "hidden_size": 64},
            {"task": "copy", "models": ["lstm-fb1", "gru", "rnn"], "seq_lens": [10, 20],
             "seeds": [0], "steps": 600, "hidden_size": 64},
        ],
        "gradflow": {"models": ["rnn", "rnn-orth", "irnn", "lstm", "lstm-fb1", "lstm-chrono",
                                "gru", *VARIANT_NAMES],
                     "seq_len": 100, "hidden_size": 64, "batch_size": 16, "steps": [0, 100]},
    },
    "default": {
        "train": [
            # the tanh-RNN sits at the baseline from the first evaluations on: half the budget
            {"task": "adding", "models": ["lstm-fb1", "gru", "rnn"], "seq_lens": [100, 200],
             "seeds": [0, 1, 2], "steps": {"rnn": 2000, "other": 4000}},
            {"task": "copy", "models": ["lstm-fb1", "gru", "rnn"], "seq_lens": [100],
             "seeds": [0, 1, 2], "steps": {"rnn": 1500, "other": 3000}},
        ],
        "gradflow": {"models": ["rnn", "rnn-orth", "irnn", "lstm", "lstm-fb1", "lstm-chrono",
                                "gru", *VARIANT_NAMES],
                     "seq_len": 200, "hidden_size": 128, "batch_size": 32, "steps": [0, 500]},
    },
}


def preset_specs(name: str, tasks=None, models=None, seq_lens=None, seeds=None,
                 steps=None) -> list[RunSpec]:
    """The runs of preset `name`, optionally narrowed or resized by the command-line overrides."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {name!r}")
    preset = PRESETS[name]
    specs: list[RunSpec] = []
    for block in preset["train"]:
        if tasks is not None and block["task"] not in tasks:
            continue
        base = {**TRAIN_BASE, "task": block["task"]}
        if "hidden_size" in block:
            base["hidden_size"] = block["hidden_size"]
        budget = block["steps"]
        for model in models or block["models"]:
            if steps is not None:
                base["steps"] = steps
            elif isinstance(budget, dict):
                base["steps"] = budget.get(model, budget["other"])
            else:
                base["steps"] = budget
            specs += grid("train", base, model=[model], seq_len=seq_lens or block["seq_lens"],
                          seed=seeds or block["seeds"])
    flow = preset["gradflow"]
    if tasks is None or "gradflow" in tasks:
        for model in models or flow["models"]:
            specs.append(RunSpec("gradflow", {
                "model": model, "task": "adding", "seq_len": flow["seq_len"],
                "hidden_size": flow["hidden_size"], "batch_size": flow["batch_size"],
                "steps": flow["steps"], "seed": 0}))
    return specs
