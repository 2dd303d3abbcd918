"""Sweeps: a grid of runs, each appended as one JSON line to a results file when it finishes.

The parent process is the only writer: each finished run is written, flushed and fsynced at once,
so a killed sweep loses only the runs in flight. A rerun of the same sweep reads the file, skips
every run whose key is there (a torn last line from a kill is cut off first), and runs the rest.
Runs execute in local worker processes (spawned, BLAS threads split between them) or, given a
scheduler address, on a Dask cluster.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import json
import multiprocessing
import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np


def run_key(kind: str, config: dict) -> str:
    """A stable identity for a run: its kind and its canonical JSON config."""
    return kind + ":" + json.dumps(config, sort_keys=True, separators=(",", ":"))


@dataclass
class RunSpec:
    """One unit of work: `kind` selects the runner ('train' or 'gradflow'); config is plain JSON."""

    kind: str
    config: dict
    key: str = field(init=False)

    def __post_init__(self):
        if self.kind not in RUNNERS:
            raise ValueError(f"kind must be one of {tuple(RUNNERS)}, got {self.kind!r}")
        self.key = run_key(self.kind, self.config)


def versions() -> dict:
    import numba

    import minigrad

    return {"python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "minigrad": minigrad.__version__}


def _run_train(config: dict) -> dict:
    from ..config import TrainConfig
    from ..train import train

    return train(TrainConfig.from_dict(config), progress=False)


def _run_gradflow(config: dict) -> dict:
    from .gradient_flow import run_gradient_flow

    return {"records": run_gradient_flow(**config, progress=False)}


RUNNERS: dict[str, Callable[[dict], dict]] = {"train": _run_train, "gradflow": _run_gradflow}


def execute(spec_kind: str, config: dict) -> dict:
    """Run one spec (in whatever process calls this) and wrap its result as a results line."""
    start = time.perf_counter()
    result = RUNNERS[spec_kind](config)
    import minigrad as mg

    return {"key": run_key(spec_kind, config), "kind": spec_kind, "config": config,
            "result": result, "wall_time_s": time.perf_counter() - start,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": versions(),
            "threads": mg.get_num_threads()}


# ---- the results file --------------------------------------------------------------------------
def read_results(path: str) -> list[dict]:
    """Every complete JSON line of a results file (a torn last line is ignored)."""
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # torn by a kill mid-write
            with contextlib.suppress(json.JSONDecodeError):
                rows.append(json.loads(line))
    return rows


def _repair_tail(path: str) -> None:
    """Cut a torn last line so the next append starts on a fresh line."""
    if not os.path.exists(path):
        return
    with open(path, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)


def append_result(path: str, row: dict) -> None:
    """Append one JSON line, flushed and fsynced before returning."""
    line = json.dumps(row, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


# ---- execution ---------------------------------------------------------------------------------
@contextlib.contextmanager
def _blas_threads(n: int):
    """Set BLAS/OpenMP thread counts in the environment that spawned workers inherit."""
    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
             "MINIGRAD_NUM_THREADS")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update({k: str(n) for k in names})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_sweep(specs: Iterable[RunSpec], results_path: str, workers: int | None = None,
              scheduler: str | None = None, progress: bool = True,
              on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """Run every spec not yet in `results_path`; returns all rows for these specs (old and new)."""
    specs = list(specs)
    directory = os.path.dirname(os.path.abspath(results_path))
    os.makedirs(directory, exist_ok=True)
    _repair_tail(results_path)
    done = {row["key"]: row for row in read_results(results_path)}
    todo = list({s.key: s for s in specs if s.key not in done}.values())
    rows = [done[s.key] for s in specs if s.key in done]

    from tqdm.auto import tqdm

    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc="sweep",
               disable=not progress, unit="run")

    def finish(row):
        append_result(results_path, row)
        rows.append(row)
        bar.update(1)
        if on_result is not None:
            on_result(row)

    failed: list[tuple[RunSpec, BaseException]] = []
    try:
        if not todo:
            return rows
        if scheduler is not None:
            _run_on_dask(todo, scheduler, finish)
        else:
            workers = workers or min(2, os.cpu_count() or 1)
            if workers == 1:
                for spec in todo:
                    try:
                        row = execute(spec.kind, spec.config)
                    except Exception as e:  # the other runs go on; reported below
                        failed.append((spec, e))
                    else:
                        finish(row)
            else:
                threads = max(1, (os.cpu_count() or 1) // workers)
                context = multiprocessing.get_context("spawn")
                with _blas_threads(threads), cf.ProcessPoolExecutor(
                        workers, context, initializer=_watch_parent,
                        initargs=(os.getpid(),)) as pool:
                    futures = {pool.submit(execute, s.kind, s.config): s for s in todo}
                    for future in cf.as_completed(futures):
                        try:
                            row = future.result()
                        except Exception as e:
                            failed.append((futures[future], e))
                        else:
                            finish(row)
    finally:
        bar.close()
    if failed:
        details = "; ".join(f"{spec.key}: {type(e).__name__}: {e}" for spec, e in failed)
        raise RuntimeError(f"{len(failed)} of {len(todo)} runs failed (the other finished runs "
                           f"are in {results_path}; rerun to retry the failed ones): {details}")
    return rows


def _watch_parent(parent_pid: int) -> None:
    """Worker initializer: exit when the sweep process is gone (killed with SIGKILL or SIGTERM,
    it cannot stop its workers, and a worker would train on for minutes with no one to write
    its result)."""
    import threading

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(70)

    threading.Thread(target=watch, name="sweep-parent-watch", daemon=True).start()


def _run_on_dask(todo: list[RunSpec], scheduler: str, finish) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError as e:
        raise RuntimeError("--scheduler needs dask[distributed]: pip install -e '.[dist]'") from e
    with Client(scheduler) as client:
        futures = [client.submit(execute, s.kind, s.config, key=f"run-{i}-{abs(hash(s.key))}",
                                 pure=False) for i, s in enumerate(todo)]
        for future in as_completed(futures):
            finish(future.result())


# ---- grids -------------------------------------------------------------------------------------
def grid(kind: str, base: dict, **axes) -> list[RunSpec]:
    """The product of the axes (each a list of values for a config field) over a base config."""
    names = list(axes)
    specs = []
    for values in itertools.product(*(axes[n] for n in names)):
        specs.append(RunSpec(kind, {**base, **dict(zip(names, values))}))
    return specs
