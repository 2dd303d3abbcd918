"""Sweeps: a grid of runs, each appended as one JSON line to a results file when it finishes.

The parent process is the only writer (through lstm.results_io): each finished run is written
and fsynced at once, so a killed sweep loses only the runs in flight. A rerun of the same sweep
reads the file (damaged lines moved to results.jsonl.damaged first), skips every run that is
there (training runs matched by their complete TrainConfig, so `lstm train`'s rows count), and
runs the rest. Runs execute in local worker processes (spawned, BLAS threads split between
them) or, given a scheduler address, on a Dask cluster. Ctrl-C or SIGTERM stops the workers at
once and raises SweepInterrupted with the count of runs written.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..results_io import append_row, make_row, read_rows, repair, run_key, versions

__all__ = ["RunSpec", "append_result", "execute", "grid", "read_results", "run_key",
           "run_sweep", "versions"]


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


def _run_train(config: dict) -> dict:
    from ..config import TrainConfig
    from ..train import train

    return train(TrainConfig.from_dict(config), progress=False)


def _run_gradflow(config: dict) -> dict:
    from .gradient_flow import run_gradient_flow

    return {"records": run_gradient_flow(**config, progress=False)}


RUNNERS: dict[str, Callable[[dict], dict]] = {"train": _run_train, "gradflow": _run_gradflow}


def run_identity(kind: str, config) -> str:
    """What makes two rows the same run: for training, the complete TrainConfig (a sweep's
    partial config and `lstm train`'s full one of the same run match); else the run key."""
    if kind == "train" and isinstance(config, dict):
        from ..config import TrainConfig

        try:
            return run_key(kind, TrainConfig.from_dict(config).to_dict())
        except (ValueError, TypeError):
            pass
    return run_key(kind, config)


def check_specs(specs: Iterable[RunSpec]) -> None:
    """ValueError naming the first run whose config cannot run (before any run starts)."""
    from ..config import TrainConfig

    for spec in specs:
        config = spec.config
        try:
            if spec.kind == "train":
                TrainConfig.from_dict(config)
            elif spec.kind == "gradflow":
                steps = config.get("steps", [0])
                if not steps or any(isinstance(t, bool) or not isinstance(t, int) or t < 0
                                    for t in steps):
                    raise ValueError(f"steps must be non-negative integers, got {steps}")
                TrainConfig(**{k: v for k, v in config.items() if k != "steps"},
                            steps=max(steps), stop_when_solved=False)
        except (ValueError, TypeError) as e:
            raise ValueError(f"run {spec.kind} of {spec.config.get('model')!r}: {e}") from None


def execute(spec_kind: str, config: dict) -> dict:
    """Run one spec (in whatever process calls this) and wrap its result as a results line."""
    start = time.perf_counter()
    result = RUNNERS[spec_kind](config)
    import minigrad as mg

    return make_row(spec_kind, config, result, wall_time_s=time.perf_counter() - start,
                    threads=mg.get_num_threads())


# ---- the results file (lstm.results_io: one writer, one reader) --------------------------------
def read_results(path: str) -> list[dict]:
    """Every row of a results file, checked (a torn last line is ignored)."""
    return read_rows(path)


def append_result(path: str, row: dict) -> None:
    """Append one row (schema stamped), flushed and fsynced; a torn tail is quarantined first."""
    append_row(path, row)


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
    repair(results_path)
    done = {run_identity(row["kind"], row.get("config")): row
            for row in read_results(results_path)}
    identity = {s.key: run_identity(s.kind, s.config) for s in specs}
    todo = list({s.key: s for s in specs if identity[s.key] not in done}.values())
    rows = [done[identity[s.key]] for s in specs if identity[s.key] in done]

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
            _run_on_dask(todo, scheduler, finish, failed)
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
                _run_in_pool(todo, workers, finish, failed)
    except KeyboardInterrupt:
        written = {run_identity(r["kind"], r.get("config")) for r in read_results(results_path)}
        new = sum(run_identity(s.kind, s.config) in written for s in todo)
        raise SweepInterrupted(new, len(todo), results_path) from None
    finally:
        bar.close()
    if failed:
        details = "; ".join(f"{spec.key}: {type(e).__name__}: {e}" for spec, e in failed)
        raise RuntimeError(f"{len(failed)} of {len(todo)} runs failed (the other finished runs "
                           f"are in {results_path}; rerun to retry the failed ones): {details}")
    return rows


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sweep: `finished` of its `todo` runs were written to `path`."""

    def __init__(self, finished: int, todo: int, path: str):
        super().__init__(f"{finished} of {todo} runs finished")
        self.finished, self.todo, self.path = finished, todo, path


def _run_in_pool(todo: list[RunSpec], workers: int, finish, failed: list) -> None:
    """The runs in spawned worker processes; on any exception (Ctrl-C, a failed append) the
    workers are terminated at once instead of being waited for."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    with _blas_threads(threads):  # workers start at submit and inherit the environment
        pool = cf.ProcessPoolExecutor(workers, context, initializer=_watch_parent,
                                      initargs=(os.getpid(),))
        try:
            futures = {pool.submit(execute, s.kind, s.config): s for s in todo}
            for future in cf.as_completed(futures):
                try:
                    row = future.result()
                except Exception as e:
                    failed.append((futures[future], e))
                else:
                    finish(row)
        except BaseException:
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                with contextlib.suppress(OSError):
                    process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()


def _watch_parent(parent_pid: int) -> None:
    """Worker initializer: exit when the sweep process is gone (killed with SIGKILL or SIGTERM,
    it cannot stop its workers, and a worker would train on for minutes with no one to write
    its result)."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep process's to handle

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(70)

    threading.Thread(target=watch, name="sweep-parent-watch", daemon=True).start()


DASK_CONNECT_TIMEOUT_S = 20


def _run_on_dask(todo: list[RunSpec], scheduler: str, finish, failed: list) -> None:
    """The runs on a Dask cluster. A lost worker's runs are retried on others (Dask's
    allowed-failures); a run that still fails is reported with the others at the end."""
    try:
        from distributed import Client, as_completed
    except ImportError as e:
        raise RuntimeError("--scheduler needs dask[distributed]: pip install -e '.[dist]'") from e
    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        raise RuntimeError(f"cannot reach the Dask scheduler at {scheduler} within "
                           f"{DASK_CONNECT_TIMEOUT_S} s ({type(e).__name__}: {e}); start one "
                           "(`dask scheduler`, then `dask worker ADDRESS`) or check --scheduler"
                           ) from None
    with client:
        futures = {client.submit(execute, s.kind, s.config, key=f"run-{i}-{abs(hash(s.key))}",
                                 pure=False): s for i, s in enumerate(todo)}
        for future in as_completed(list(futures)):
            try:
                row = future.result()
            except Exception as e:
                failed.append((futures[future], e))
            else:
                finish(row)


# ---- grids -------------------------------------------------------------------------------------
def grid(kind: str, base: dict, **axes) -> list[RunSpec]:
    """The product of the axes (each a list of values for a config field) over a base config."""
    names = list(axes)
    specs = []
    for values in itertools.product(*(axes[n] for n in names)):
        specs.append(RunSpec(kind, {**base, **dict(zip(names, values))}))
    return specs
