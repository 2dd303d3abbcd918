"""The applications' resumable runner: a run whose row is in the results file is never trained
again; each new row is appended (locked, fsynced) as its run finishes, so a stopped command
loses only the run it was in."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from contextlib import nullcontext

import minigrad as mg

from ...runs.keys import run_key
from ...runs.lock import RunLock
from ...runs.results_io import append_row, read_rows
from ...runs.signals import held_signals


def run_missing(configs, results_path: str, kind: str, train_row: Callable,
                on_result: Callable | None = None, run_dir: Callable | None = None
                ) -> list[dict]:
    """train_row(config, key) -> row for each config whose key (run_key(kind, its to_dict()))
    has no row of `kind` in results_path yet; the rows of all configs, old and new, in their
    order; on_result(row, reused) for each as it comes. run_dir(config): the run's directory,
    locked while it trains (lstm.runs.lock: a second process on the same run waits, then
    finds its row)."""
    def finished() -> dict:
        return {row["key"]: row for row in read_rows(results_path) if row.get("kind") == kind}

    done, rows = finished(), []
    for config in configs:
        key = run_key(kind, config.to_dict())
        reused = key in done
        if not reused:
            with RunLock(run_dir(config), label=f"lstm {kind}") if run_dir else nullcontext():
                done.update(finished() if run_dir else {})
                reused = key in done
                if not reused:
                    done[key] = train_row(config, key)
                    if done[key].get("threads") is None:  # as lstm train's rows: its threads
                        done[key]["threads"] = mg.get_num_threads()
                    os.makedirs(os.path.dirname(os.path.abspath(results_path)), exist_ok=True)
                    with held_signals():  # the row kept and announced together
                        append_row(results_path, done[key])
                        if on_result is not None:
                            on_result(done[key], False)
        if reused and on_result is not None:
            on_result(done[key], reused)
        rows.append(done[key])
    return rows


def model_dir(results_path: str, kind: str, key: str) -> str:
    """Where a run's trained model is saved: beside the results file, models/<kind>-<digest>,
    the digest the first 16 hex digits of the SHA-256 of its run key (the key itself, a JSON
    config, made the name: over 255 bytes, a file name's limit, with `--lr 1e9` in `lstm
    forecast`, and every run failed at its end). Its row's result.model_dir names it."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return os.path.join(os.path.dirname(os.path.abspath(results_path)), "models",
                        f"{kind}-{digest}")
