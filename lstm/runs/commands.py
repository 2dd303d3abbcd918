"""The settings of `lstm gradflow` and `lstm sweep`, as config classes of the config base
(lstm.runs.options): the commands' options, their validation and the gradient-flow runs' keys
are generated from these fields, as `lstm train`'s are from TrainConfig."""

from __future__ import annotations

from dataclasses import dataclass

from .. import zoo
from ..tasks import TASKS
from .config import COMPILE_HELP, load_model
from .options import check, key_fields, setting

SWEEP_TASKS = (*TASKS, "gradflow")
PRESETS = ("quick", "default", "horizon")
_MODELS = "comma-separated models: " + zoo.help_text()


@dataclass(frozen=True)
class GradflowConfig:
    """`lstm gradflow`: the batch geometric mean of ||dL/dh_t|| per model, at initialisation
    and after training (lstm.experiments.gradient_flow); one run per model."""

    models: tuple[str, ...] = setting(("rnn", "lstm", "gru"), _MODELS, check=load_model,
                                      metavar="MODELS", key=False)
    task: str = setting("adding", "memory task", choices=("adding", "copy"))
    seq_len: int = setting(200, "sequence length T", low=2)
    hidden_size: int = setting(128, "hidden units", low=1)
    batch_size: int = setting(32, "sequences in the measured batch", low=1)
    steps: tuple[int, ...] = setting((0, 100), "training steps at which to measure, "
                                     "comma-separated", low=0)
    seed: int = setting(0, "seed of the weights and data", low=0)
    workers: int = setting(1, "local worker processes", low=1, key=False)
    compile: bool = setting(True, COMPILE_HELP, key=False)

    def __post_init__(self):
        check(self)  # lists become tuples

    def run_configs(self) -> list[dict]:
        """One gradient-flow run's config per model: the key fields, with its model."""
        common = {name: getattr(self, name) for name in key_fields(GradflowConfig)}
        common["steps"] = list(self.steps)
        return [{"model": model, **common} for model in self.models]


@dataclass(frozen=True)
class SweepConfig:
    """`lstm sweep`: a preset's grid (lstm.experiments.presets), narrowed or resized."""

    preset: str = setting("default", "the grid: default (docs/results.md's tables), quick (make "
                          "report's), horizon (the memory-horizon ladders and the published "
                          "anchors; parts with --tasks adding / copy / selective-copy / mqar / "
                          "gradflow)", choices=PRESETS)
    tasks: tuple[str, ...] | None = setting(
        None, f"only these, comma-separated, from {', '.join(SWEEP_TASKS)} (default: all of "
        "the preset)", choices=SWEEP_TASKS, metavar="TASKS")
    models: tuple[str, ...] | None = setting(None, _MODELS + " (default: the preset's)",
                                             check=load_model, metavar="MODELS")
    seq_lens: tuple[int, ...] | None = setting(
        None, "comma-separated sequence lengths (default: the preset's); for a ladder its "
        "rungs, and only the anchors at these lengths run", low=2)
    seeds: tuple[int, ...] | None = setting(
        None, "comma-separated seeds (default: the preset's); a ladder's rung counts as solved "
        "on 2 of them (on all, given fewer than 2)", low=0)
    steps: int | None = setting(None, "training steps per run (default: the preset's budget per "
                                "model)", low=1)
    workers: int | None = setting(None, "local worker processes (default: min(2, cores))", low=1)
    scheduler: str | None = setting(None, "run on this Dask scheduler, e.g. tcp://host:8786 "
                                    "(needs the dist extra)", metavar="ADDRESS")
    compile: bool = setting(True, COMPILE_HELP)

    def __post_init__(self):
        check(self)  # lists become tuples
        if self.scheduler is not None and self.workers is not None:
            raise ValueError(f"workers counts local processes, which a Dask scheduler replaces "
                             f"(its cluster's workers run the runs): got workers={self.workers} "
                             f"with scheduler {self.scheduler!r} (options --workers, "
                             "--scheduler: give one)")
