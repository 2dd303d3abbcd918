"""`--resume` (lstm train, lstm charlm): carry on an interrupted run, and refuse when there is
none of exactly these settings, naming the runs that are there and the settings they differ in.
(Without it a command resumes what it finds and starts what it does not.)"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from .checkpoint import previous_path

SHOWN = 3  # runs named in the refusal, the closest first


def saved_run(path: str) -> tuple[dict, int] | None:
    """(config, step) of the checkpoint at `path` or the one before it; None if neither reads."""
    for candidate in (path, previous_path(path)):
        try:
            with np.load(candidate, allow_pickle=False) as data:
                return json.loads(str(data["config"])), int(data["step"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            continue
    return None


def nothing_to_resume(runs_root: str, run_dir: str, ours: dict, checkpoint_name: str,
                      ignored: frozenset = frozenset()) -> ValueError:
    """The error for --resume when `run_dir` has no checkpoint: the runs under `runs_root` with
    a readable checkpoint, the closest to `ours` (fewest differing fields, not counting
    `ignored`) first, each with the options it differs in, there and here."""
    try:
        names = sorted(os.listdir(runs_root))
    except OSError:
        names = []
    found = []
    for name in names:
        saved = saved_run(os.path.join(runs_root, name, checkpoint_name))
        if saved is not None:
            config, step = saved
            differ = [k for k in sorted(set(config) | set(ours))
                      if k not in ignored and config.get(k) != ours.get(k)]
            found.append((len(differ), name, step, config, differ))
    head = f"--resume: no interrupted run of these settings: {run_dir} has no checkpoint"
    if not found:
        return ValueError(f"{head}, and {runs_root} holds no other run to resume. Leave out "
                          "--resume to start this run")
    found.sort(key=lambda f: (f[0], f[1]))
    shown = "; ".join(
        f"{name} (at step {step} of {config.get('steps', '?')}) has " + ", ".join(
            f"--{k.replace('_', '-')} {_shown(config.get(k))} (here {_shown(ours.get(k))})"
            for k in differ)
        for _, name, step, config, differ in found[:SHOWN])
    more = f" (and {len(found) - SHOWN} more)" if len(found) > SHOWN else ""
    return ValueError(f"{head}. Under {runs_root}: {shown}{more}. Give a run's settings to "
                      "resume it, or leave out --resume to start this run")


def _shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
