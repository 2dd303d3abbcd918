"""Sweeps: a grid of runs, each appended as one JSON line to a results file when it finishes.

The parent process is the only writer (through lstm.runs.results_io): each finished run is written
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
import dataclasses
import itertools
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..progress import bar as progress_bar
from ..progress import redraw
from ..runs.keys import run_key
from ..runs.results_io import append_row, make_row, put_row, read_rows, repair, versions

__all__ = ["RunSpec", "append_result", "execute", "grid", "read_results", "run_key",
           "run_sweep", "versions"]


@dataclass
class RunSpec:
    """One unit of work: `kind` selects the runner ('train' or 'gradflow'); config is plain JSON.
    `tags` are extra fields for its results row (e.g. the ladder it belongs to); they are not
    part of what identifies the run."""

    kind: str
    config: dict
    tags: dict = field(default_factory=dict, compare=False)
    key: str = field(init=False)

    def __post_init__(self):
        if self.kind not in RUNNERS:
            raise ValueError(f"kind must be one of {tuple(RUNNERS)}, got {self.kind!r}")
        self.key = run_key(self.kind, self.config)


def _run_train(config: dict, compile: bool = True) -> dict:  # noqa: A002 - the setting's name
    from ..runs.config import TrainConfig
    from ..runs.train import train

    return train(TrainConfig.from_dict(config).replace(compile=compile), progress=False)


def _run_gradflow(config: dict, compile: bool = True) -> dict:  # noqa: A002
    from .gradient_flow import run_gradient_flow

    return {"records": run_gradient_flow(**config, train_overrides={"compile": compile},
                                         progress=False)}


RUNNERS: dict[str, Callable[[dict], dict]] = {"train": _run_train, "gradflow": _run_gradflow}


def run_identity(kind: str, config) -> str:
    """What makes two rows the same run: for training, the complete TrainConfig (a sweep's
    partial config and `lstm train`'s full one of the same run match); else the run key."""
    if kind == "train" and isinstance(config, dict):
        from ..runs.config import TrainConfig

        try:
            # eager == compiled (compile is not in to_dict); how often `lstm train`
            # checkpointed does not change the run
            full = dataclasses.replace(TrainConfig.from_dict(config), checkpoint_every=None)
            return run_key(kind, full.to_dict())
        except (ValueError, TypeError):
            pass
    return run_key(kind, config)


def check_specs(specs: Iterable[RunSpec]) -> None:
    """ValueError naming the first run whose config cannot run (before any run starts)."""
    from ..runs.config import TrainConfig

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


def execute(spec_kind: str, config: dict, run_options: dict | None = None) -> dict:
    """Run one spec (in whatever process calls this) and wrap its result as a results line;
    `run_options` are the runner's keywords that do not change the result (compile)."""
    start = time.perf_counter()
    result = RUNNERS[spec_kind](config, **(run_options or {}))
    return result_row(spec_kind, config, result, time.perf_counter() - start)


def result_row(kind: str, config: dict, result: dict, wall_time_s: float) -> dict:
    """A finished run's results row: its threads, and a user's cell's source digest."""
    import minigrad as mg

    source = _cell_source(config)
    return make_row(kind, config, result, wall_time_s=wall_time_s, threads=mg.get_num_threads(),
                    **({"cell_source": source} if source else {}))


def _cell_source(config) -> str | None:
    """The digest of a user's cell's file (lstm.zoo.cell_digest) for a run of one, else None."""
    from .. import zoo

    model = config.get("model") if isinstance(config, dict) else None
    return zoo.cell_digest(model) if zoo.is_user_model(model) else None


def is_current(row: dict) -> bool:
    """False for a row of a user's cell whose file has changed since (it runs again); a row
    whose cell cannot be loaded any more stays as it is."""
    try:
        return row.get("cell_source") == _cell_source(row.get("config"))
    except (ValueError, ImportError, SyntaxError):
        return True


# the results file's one reader (every row checked, a torn last line ignored) and one writer (the
# schema stamped, flushed and fsynced; a torn tail quarantined first): lstm.runs.results_io's
read_results, append_result = read_rows, append_row


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


Planner = Callable[[dict], list]
"""A planner maps the finished rows so far (by run identity) to every run it wants now, finished
or not: a fixed grid ignores them; a ladder (lstm.experiments.horizon) releases its next rung
once the rung before is decided."""


def run_sweep(specs: Iterable[RunSpec] | Planner, results_path: str, workers: int | None = None,
              scheduler: str | None = None, progress: bool = True,
              on_result: Callable[[dict], None] | None = None,
              run_options: dict | None = None) -> list[dict]:
    """Run every spec not yet in `results_path`; returns all rows for these specs (old and new).
    `run_options` go to every run's runner and are not part of any run's key ({"compile":
    False}: eager training steps).

    `specs` is a list of runs or a Planner (e.g. lstm.experiments.horizon.Plan): it is asked
    again after every finished run and its new runs are started as workers free up, so a rerun
    recomputes where it stood from the file and resumes there."""
    plan = specs if callable(specs) else (lambda done, fixed=list(specs): fixed)
    directory = os.path.dirname(os.path.abspath(results_path))
    os.makedirs(directory, exist_ok=True)
    repair(results_path)
    done, stale = {}, {}  # stale: rows of a user's cell edited since, replaced when rerun
    for row in read_results(results_path):
        (done if is_current(row) else stale)[run_identity(row["kind"], row.get("config"))] = row
    at_start = set(done)

    bar = progress_bar(progress, total=0, desc="sweep", unit="run")
    in_flight: dict[str, RunSpec] = {}
    failed: dict[str, tuple[RunSpec, BaseException]] = {}
    wanted: dict[str, RunSpec] = {}
    runner = None
    try:
        while True:
            wanted = {run_identity(s.kind, s.config): s for s in plan(done)}
            bar.total = len(wanted)
            bar.n = sum(k in done for k in wanted)
            redraw(bar)
            ready = [s for k, s in wanted.items()
                     if k not in done and k not in in_flight and k not in failed]
            if ready and runner is None:
                runner = _runner(workers, scheduler, run_options)
            for spec in ready:
                runner.submit(spec)
                in_flight[run_identity(spec.kind, spec.config)] = spec
            if not in_flight:
                break
            for spec, outcome in runner.wait_some():
                key = run_identity(spec.kind, spec.config)
                in_flight.pop(key, None)
                if isinstance(outcome, BaseException):
                    failed[key] = (spec, outcome)  # the other runs go on; reported below
                    continue
                outcome = {**outcome, **spec.tags}
                if key in stale:
                    put_row(results_path, outcome, replaces=(stale.pop(key)["key"],))
                else:
                    append_result(results_path, outcome)
                done[key] = outcome
                if on_result is not None:
                    on_result(outcome)
    except BaseException as error:
        if runner is not None:  # Ctrl-C, a failed append: stop the workers, do not wait
            runner.abort()
            runner = None
        if not isinstance(error, KeyboardInterrupt):
            raise
        written = {run_identity(r["kind"], r.get("config")) for r in read_results(results_path)}
        todo = (set(wanted) | set(in_flight)) - at_start
        raise SweepInterrupted(len((written - at_start) & todo), len(todo),
                               results_path) from None
    finally:
        bar.close()
        if runner is not None:
            runner.close()
    if failed:
        details = "; ".join(f"{spec.key}: {type(e).__name__}: {e}" for spec, e in failed.values())
        todo = len(set(wanted) - at_start)
        raise RuntimeError(f"{len(failed)} of {todo} runs failed (the other finished runs "
                           f"are in {results_path}; rerun to retry the failed ones): {details}")
    return [done[k] for k in wanted if k in done]


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sweep: `finished` of its `todo` runs were written to `path`."""

    def __init__(self, finished: int, todo: int, path: str):
        super().__init__(f"{finished} of {todo} runs finished")
        self.finished, self.todo, self.path = finished, todo, path


def _collect(futures: dict, finished) -> list[tuple[RunSpec, object]]:
    """(spec, result or the exception it raised) of each finished future, taken out of
    `futures` (a concurrent.futures or a Dask future: both have .result())."""
    out = []
    for future in finished:
        spec = futures.pop(future)
        try:
            out.append((spec, future.result()))
        except Exception as e:
            out.append((spec, e))
    return out


def _runner(workers: int | None, scheduler: str | None, run_options: dict | None = None):
    if scheduler is not None:
        runner = _DaskRunner(scheduler)
    else:
        workers = workers or min(2, os.cpu_count() or 1)
        runner = _InlineRunner() if workers == 1 else _PoolRunner(workers)
    runner.options = dict(run_options or {})
    return runner


class _InlineRunner:
    """workers=1: each run in this process, one at a time."""

    def __init__(self):
        self.queue: list[RunSpec] = []

    def submit(self, spec: RunSpec) -> None:
        self.queue.append(spec)

    def wait_some(self) -> list[tuple[RunSpec, object]]:
        spec = self.queue.pop(0)
        try:
            return [(spec, execute(spec.kind, spec.config, self.options))]
        except Exception as e:
            return [(spec, e)]

    def abort(self) -> None:
        self.queue.clear()

    close = abort


class _PoolRunner:
    """Spawned worker processes, the cores' BLAS/Numba threads split between them. On abort
    (Ctrl-C, a failed append) the workers are terminated at once instead of waited for."""

    def __init__(self, workers: int):
        from ..runs.threads import chosen_threads

        # the command's --threads for each worker, else the workers share the cores
        threads = chosen_threads() or max(1, (os.cpu_count() or 1) // workers)
        self._env = _blas_threads(threads)  # workers start at submit and inherit it
        self._env.__enter__()
        context = multiprocessing.get_context("spawn")
        self.pool = cf.ProcessPoolExecutor(workers, context, initializer=_watch_parent,
                                           initargs=(os.getpid(),))
        self.futures: dict = {}

    def submit(self, spec: RunSpec) -> None:
        self.futures[self.pool.submit(execute, spec.kind, spec.config, self.options)] = spec

    def wait_some(self) -> list[tuple[RunSpec, object]]:
        finished, _ = cf.wait(list(self.futures), return_when=cf.FIRST_COMPLETED)
        return _collect(self.futures, finished)

    def abort(self) -> None:
        for process in list((getattr(self.pool, "_processes", None) or {}).values()):
            with contextlib.suppress(OSError):
                process.terminate()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self._env.__exit__(None, None, None)

    def close(self) -> None:
        self.pool.shutdown()
        self._env.__exit__(None, None, None)


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
DASK_RESUBMITS = 3


@dataclass
class _RunRaised:
    """What `_execute_caught` returns when the run itself raised: the run's own failure, told
    apart from a failure of the cluster (a lost worker, a result lost in transfer)."""

    error: BaseException


def _execute_caught(spec_kind: str, config: dict, run_options: dict | None = None):
    try:
        return execute(spec_kind, config, run_options)
    except Exception as e:
        return _RunRaised(e)


class _DaskRunner:
    """The runs on a Dask cluster. A lost worker's runs are retried on others (Dask's
    allowed-failures), and a future that fails inside distributed rather than in the run is
    submitted again (up to DASK_RESUBMITS times); a run that itself raises is reported with the
    others at the end."""

    def __init__(self, scheduler: str):
        try:
            from distributed import Client
        except ImportError as e:
            raise RuntimeError("--scheduler needs dask[distributed]: pip install -e '.[dist]'"
                               ) from e
        try:
            self.client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError, TypeError) as e:
            raise RuntimeError(f"cannot reach the Dask scheduler at {scheduler} within "
                               f"{DASK_CONNECT_TIMEOUT_S} s ({type(e).__name__}: {e}); start "
                               "one (`dask scheduler`, then `dask worker ADDRESS`) or check "
                               "--scheduler") from None
        self.futures: dict = {}
        self.count = 0
        self.resubmitted: dict[str, int] = {}

    def submit(self, spec: RunSpec) -> None:
        self.count += 1
        future = self.client.submit(_execute_caught, spec.kind, spec.config, self.options,
                                    pure=False,
                                    key=f"run-{self.count}-{abs(hash(spec.key))}")
        self.futures[future] = spec

    def wait_some(self) -> list[tuple[RunSpec, object]]:
        from distributed import wait

        while True:
            finished = wait(list(self.futures), return_when="FIRST_COMPLETED").done
            out = []
            for spec, result in _collect(self.futures, finished):
                if isinstance(result, _RunRaised):
                    out.append((spec, result.error))
                elif isinstance(result, Exception) and \
                        self.resubmitted.get(spec.key, 0) < DASK_RESUBMITS:
                    self.resubmitted[spec.key] = self.resubmitted.get(spec.key, 0) + 1
                    self.submit(spec)  # the cluster failed it, not the run: once more
                else:
                    out.append((spec, result))
            if out:
                return out

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.client.cancel(list(self.futures))
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


# ---- grids -------------------------------------------------------------------------------------
def grid(kind: str, base: dict, **axes) -> list[RunSpec]:
    """The product of the axes (each a list of values for a config field) over a base config."""
    names = list(axes)
    specs = []
    for values in itertools.product(*(axes[n] for n in names)):
        specs.append(RunSpec(kind, {**base, **dict(zip(names, values))}))
    return specs
