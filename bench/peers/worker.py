"""The worker side of bench.compare: build one library's case, warm up, time it, print JSON.

Runs as ``python -m bench.compare --worker LIBRARY CASES_JSON`` in its own process.
"""

from __future__ import annotations

import gc
import importlib
import json
import resource
import time
import traceback
import tracemalloc

from . import LIBRARIES, Unavailable, case_id, run_timed, saved_bytes_lower_bound

DIST_NAMES = {
    "minigrad": "numba",
    "minigrad-composed": "numba",
    "torch": "torch",
    "jax": "jax",
    "autograd": "autograd",
    "minigrad-eager": "numba",
    "minigrad-compile": "numba",
    "torch-eager": "torch",
    "torch-compile": "torch",
}


def worker(label: str, cases: list[dict], timing: dict) -> None:
    """Run `cases` for one library in this process and print one JSON line per case.

    timing: run_timed's keyword arguments (repeats, warmup, warmup_s, budget_s).
    """
    for case in cases:
        record = {"library": label, "id": case_id(case), "case": case}
        try:
            record.update(measure_case(label, case, timing))
        except Unavailable as e:
            record.update(status="skipped", reason=str(e))
        except ImportError as e:  # a module the case needs is not written yet
            record.update(status="skipped", reason=f"not importable yet: {e}")
        except Exception as e:  # a library failing one case must not stop the comparison
            record.update(
                status="error",
                reason=f"{type(e).__name__}: {e}",
                traceback=traceback.format_exc(limit=4),
            )
        print(json.dumps(record), flush=True)


def measure_case(label: str, case: dict, timing: dict) -> dict:
    module_name, options = LIBRARIES[label]
    module = importlib.import_module(f"bench.peers.{module_name}")
    started = time.perf_counter()
    prepared = module.build(case, **options)
    timing = dict(timing, repeats=timing["repeats"] * case.get("repeats_scale", 1))
    record = {
        "status": "ok",
        "time": run_timed(prepared.step, **timing),
        "variants": {name: run_timed(fn, **timing) for name, fn in prepared.variants.items()},
        "check": prepared.check(),
    }
    if getattr(prepared, "info", None):
        record["info"] = prepared.info
    if case.get("memory") and prepared.numpy_memory:
        record["memory"] = {
            "peak_bytes": traced_peak_bytes(prepared.step),
            "lower_bound_bytes": saved_bytes_lower_bound(
                case["model"], case["B"], case["T"], case["H"]
            ),
        }
    record["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record["version"] = _version(label)
    record["seconds_total"] = time.perf_counter() - started
    return record


def traced_peak_bytes(step) -> int:
    """Peak bytes allocated (numpy buffers and Python objects) during one call, by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _version(label: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(DIST_NAMES[label])
    except metadata.PackageNotFoundError:
        return "?"


# ---- parent -------------------------------------------------------------------------------------
