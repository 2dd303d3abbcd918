"""The report's translation section: runs what RESULTS lacks (results.jsonl of
lstm translate), then draws the scores and the alignments."""

from __future__ import annotations

import importlib.util
import os
import sys

from .model import ATTENTIONS

# report preset -> (translate preset, seeds, overrides)
REPORT_PRESETS = {"quick": {"preset": "quick", "seeds": (0, 1), "overrides": {}},
                  "full": {"preset": "default", "seeds": (0, 1, 2), "overrides": {}}}
NEEDED = ("num2words", "sacrebleu", "safetensors")


def configs(preset: str = "quick") -> list:
    """The runs a report preset needs: every attention kind x seed."""
    from .train import preset_config

    settings = REPORT_PRESETS[preset]
    return [preset_config(settings["preset"], attention=a, seed=s, **settings["overrides"])
            for a in ATTENTIONS for s in settings["seeds"]]


def report_section(results_dir: str, out_dir: str, preset: str = "quick",
                   progress: bool = False):
    """The Section, or None (said on stderr) when a package it needs is not installed."""
    missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
    if missing:
        print(f"[report] translation skipped: needs {', '.join(missing)} (pip install "
              "'minigrad-lstm[apps]')", file=sys.stderr, flush=True)
        return None
    from .figures import translate_section
    from .store import run_configs

    rows = run_configs(configs(preset), os.path.join(results_dir, "translate"),
                       progress=progress)
    return translate_section(rows, out_dir)
