"""One trainer for the applications: the training step built in one place, compiled on request,
the first call announced, and mini-batch epochs with the best evaluation's parameters kept.

`make_step(loss_of, optimizer, clip)` is the applications' form of `lstm.train.Trainer.make_step`:
forward (`loss_of(*inputs)`), backward, global-norm clipping, the optimizer's update and
zero_grad, as one function of its inputs with no `.item()` inside, so `mg.compile` can take it
whole (`compile=True`). `first_call` says once per process, before the first call runs, that it
compiles and where the kernels are cached; `StepBar` starts its clock after that call, so its
rate and ETA are those of the steps that follow and never extrapolate the compile time.
`EpochTrainer` runs shuffled mini-batch epochs with that step (classify, translate, forecast);
`lstm charlm` drives the same step from its own truncated-BPTT loop.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

import minigrad as mg
from minigrad import optim

_ANNOUNCED: set = set()  # what first_call has said in this process


def cache_location() -> str:
    """Where the compiled kernels (generated cell kernels, mg.compile's programs) are cached."""
    from minigrad.compiler import cache_dir

    return str(cache_dir())


def first_call(step: Callable, command: str, compiled: bool, quiet: bool = False) -> Callable:
    """`step`, saying on stderr before its first call (once per process and command) that the
    first call compiles and where it is cached; quiet: nothing said."""
    said = []

    def announced(*args):
        if not said:
            said.append(True)
            if not quiet and command not in _ANNOUNCED:
                _ANNOUNCED.add(command)
                what = "the training step (mg.compile)" if compiled else "its kernels"
                print(f"{command}: compiling {what} on the first call ... (cached in "
                      f"{cache_location()})", file=sys.stderr, flush=True)
        return step(*args)

    return announced


def make_step(loss_of: Callable, optimizer: optim.Optimizer, clip: float | None = None,
              compile: bool = False) -> Callable:  # noqa: A002 - the option's name
    """step(*inputs) -> loss_of(*inputs) (the loss, or a tuple led by it: a carried state
    follows), after backward, clip_grad_norm_ to `clip` (None or 0: no clipping), the
    optimizer's step and zero_grad; mg.compile'd when `compile` is set."""
    params = optimizer.params

    def step(*inputs):
        out = loss_of(*inputs)
        (out[0] if isinstance(out, tuple) else out).backward()
        if clip:
            optim.clip_grad_norm_(params, clip)
        optimizer.step()
        optimizer.zero_grad()
        return out

    return mg.compile(step) if compile else step


class StepBar:
    """A tqdm bar of `total` steps created after the first step is done, with that step counted
    as its `initial`: its rate (and so its ETA) covers only the calls after the compiling one."""

    def __init__(self, total: int, desc: str, progress: bool, done: int = 0):
        self.total, self.desc, self.progress = total, desc, progress
        self.done = done  # steps finished before the bar
        self.bar = None
        self.postfix: dict = {}

    def update(self, steps: int = 1) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.done += steps
            self.bar = tqdm(total=self.total, initial=self.done, desc=self.desc,
                            disable=not self.progress, leave=False)
            if self.postfix:
                self.bar.set_postfix(self.postfix, refresh=False)
            return
        self.bar.update(steps)

    def set_postfix(self, **values) -> None:
        self.postfix = values
        if self.bar is not None:
            self.bar.set_postfix(values, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class Fit:
    """What EpochTrainer.fit returns: the curve (one row per epoch), the best score's epoch
    (0: none better than nothing), why it stopped, and the best score."""

    curve: list = field(default_factory=list)
    best_epoch: int = 0
    best_score: object = None
    stopped: str = "max_epochs"


class EpochTrainer:
    """Shuffled mini-batch epochs of one model with the applications' training step.

    `loss_of(*inputs)` is the batch's loss; `batches()` yields (inputs, weight) for one epoch
    (weight None: the epoch's loss is the plain mean of its batches' losses; a number: the mean
    weighted by it). After each epoch `evaluate(epoch, loss)` returns (curve row, score): a
    score that is better (`better(score, best)`) than the best so far keeps a copy of the
    parameters, which `fit` restores at the end if `keep_best`; `patience` epochs without a
    better score stop the run ("early_stopping"); with `stop_diverged` a non-finite score stops
    it ("diverged").
    """

    def __init__(self, model, optimizer, loss_of: Callable, *, clip: float | None = None,
                 compile: bool = False, command: str = "lstm", progress: bool = False,  # noqa: A002
                 desc: str = ""):
        self.model, self.optimizer = model, optimizer
        self.step = first_call(make_step(loss_of, optimizer, clip, compile), command, compile,
                               quiet=not progress)
        self.progress, self.desc = progress, desc

    def epoch(self, batches: Iterable, bar: StepBar | None = None) -> float:
        """One epoch of steps; its mean (or weighted mean) training loss."""
        losses, weights = [], []
        for inputs, weight in batches:
            losses.append(self.step(*inputs).item())
            weights.append(weight)
            if bar is not None:
                bar.update(1)
        if weights and weights[0] is not None:
            total = 0.0
            for loss, weight in zip(losses, weights):
                total += float(loss) * weight
            return total / sum(weights)
        return float(np.mean(losses))

    def fit(self, epochs: int, steps_per_epoch: int, batches: Callable, evaluate: Callable,
            better: Callable | None = None, patience: int | None = None,
            keep_best: bool = True, copy_best: bool = False, stop_diverged: bool = False,
            initial_is_best: bool = False) -> Fit:
        """Train up to `epochs` epochs; see the class. copy_best: keep copies of the arrays
        (a state_dict that shares the parameters' buffers would follow them);
        initial_is_best: the initial parameters are restored if no epoch scores."""
        fit, best_state = Fit(), None
        if initial_is_best:
            best_state = {k: v.copy() for k, v in self.model.state_dict().items()}
        bar = StepBar(epochs * steps_per_epoch, self.desc, self.progress)
        try:
            for epoch in range(1, epochs + 1):
                loss = self.epoch(batches(), bar)
                row, score = evaluate(epoch, loss)
                fit.curve.append(row)
                bar.set_postfix(**{k: f"{v:.3g}" for k, v in row.items()
                                   if k != "epoch" and isinstance(v, float)})
                if score is None:
                    continue
                if stop_diverged and not np.isfinite(score):
                    fit.stopped = "diverged"
                    break
                if fit.best_score is None or better(score, fit.best_score):
                    fit.best_score, fit.best_epoch = score, epoch
                    state = self.model.state_dict()
                    best_state = {k: v.copy() for k, v in state.items()} if copy_best else state
                elif patience is not None and epoch - fit.best_epoch >= patience:
                    fit.stopped = "early_stopping"
                    break
        finally:
            bar.close()
        if keep_best and best_state is not None:
            self.model.load_state_dict(best_state)
        return fit
