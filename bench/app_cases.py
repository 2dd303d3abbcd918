"""What the applications' asv cases (bench/benchmarks_apps_*.py) share: tracked metrics read
from setup_cache's results (skipped where they say "unavailable"), and epoch timings after a
warm-up epoch. Nothing here imports lstm or minigrad (asv imports bench/ at discovery)."""

from __future__ import annotations

from bench.asv_cases import skip


def _params(cls, over: dict | None) -> None:
    """asv's params and param_names from {name: values}."""
    if over:
        cls.param_names, cls.params = list(over), tuple(over.values())


class Tracked:
    """A class of track_ cases over setup_cache's results: `class X(Tracked, cache=f,
    over={"name": values})` sets its setup_cache and its parameters."""

    rounds = 1
    timeout = 120

    def __init_subclass__(cls, cache=None, over: dict | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if cache is not None:
            cls.setup_cache = cache
        _params(cls, over)

    def setup(self, results, *params):
        if "unavailable" in results:
            skip(results["unavailable"])


def tracked(unit: str, pick, doc: str | None = None):
    """A track_ method returning pick(results, *params), in `unit`."""

    def track(self, results, *params):
        return pick(results, *params)

    track.unit = unit
    track.__doc__ = doc
    return track


class Epochs:
    """A class of epoch timings (time_train_epoch): skipped where `unavailable()` says why;
    else `prepare(*params)` returns one epoch as a function, which setup runs once (the
    kernels compile outside the timing)."""

    timeout = 300
    number = 1
    repeat = (3, 5, 30.0)

    def __init_subclass__(cls, unavailable=None, over: dict | None = None, **kwargs):
        """`class X(Epochs, unavailable=f, over={"name": values})`: its time_train_epoch."""
        super().__init_subclass__(**kwargs)
        cls.unavailable = staticmethod(unavailable)
        cls.time_train_epoch = timed_epoch
        _params(cls, over)

    def setup(self, *params):
        reason = self.unavailable()
        if reason:
            skip(reason)
        self.epoch = self.prepare(*params)
        self.epoch()


def unavailable(packages, module: str) -> str | None:
    """None, or why an application's cases cannot run: a package of the apps extra missing, or
    `module` not importable at this commit."""
    import importlib
    import importlib.util

    for package in packages:
        if importlib.util.find_spec(package) is None:
            return f"{package} (the apps extra) is not installed"
    try:
        importlib.import_module(module)
    except ImportError as e:
        return f"{module} not importable at this commit ({e})"
    return None


def timed_epoch(self, *params):
    """One training epoch (a case's time_ method)."""
    self.epoch()


def epoch_of(model, optimizer, loss_of, batches, clip):
    """One epoch of lstm.apps.common.trainer's EpochTrainer over `batches()`."""
    from lstm.apps.common.trainer import EpochTrainer

    trainer = EpochTrainer(model, optimizer, loss_of, clip=clip)
    return lambda: trainer.epoch(batches())
