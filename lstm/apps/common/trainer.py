"""One trainer for the applications: the training step built in one place, compiled on request,
the first call announced, and mini-batch epochs with the best evaluation's parameters kept.

`make_step(loss_of, optimizer, clip)` is the applications' form of
`lstm.runs.train.Trainer.make_step`: forward (`loss_of(*inputs)`), backward, global-norm clipping,
the optimizer's update and zero_grad, as one function of its inputs with no `.item()` inside, so
`mg.compile` can take it whole (`compile=True`). `first_call` says once per process, before the
first call runs, that it compiles and where the kernels are cached; `StepBar` starts its clock after
that call, so its rate and ETA are those of the steps that follow and never extrapolate the compile
time. `EpochTrainer` runs that step over epochs for all four applications: shuffled mini-batch
epochs (classify, translate, forecast) and charlm's truncated BPTT (a state carried from one step to
the next, an "epoch" of eval_every steps, checkpoints between steps, its `Fit` saved and restored
for a bit-identical resume).
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

import minigrad as mg
from minigrad import optim

from ...progress import bar as progress_bar

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
              compile: bool = False, command: str = "lstm",  # noqa: A002
              generators: tuple | None = None) -> Callable:
    """step(*inputs) -> loss_of(*inputs) (the loss, or a tuple led by it: a carried state
    follows), after backward, clip_grad_norm_ to `clip` (None or 0: no clipping), the
    optimizer's step and zero_grad; mg.compile'd when `compile` is set (see eager_fallback).
    `generators` (a tuple, maybe empty: the numpy Generators the step draws from): every call
    of the compiled step is its program's (see program_only), so a run resumed from a
    checkpoint equals an uninterrupted one bit for bit (lstm charlm)."""
    params = optimizer.params

    def step(*inputs):
        out = loss_of(*inputs)
        (out[0] if isinstance(out, tuple) else out).backward()
        if clip:
            optim.clip_grad_norm_(params, clip)
        optimizer.step()
        optimizer.zero_grad()
        return out

    if not compile:
        return step
    compiled = mg.compile(step)
    run = compiled if generators is None else program_only(compiled, optimizer, generators)
    return eager_fallback(compiled, step, optimizer, command, run)


def program_only(compiled: mg.CompiledFunction, optimizer: optim.Optimizer,
                 generators: tuple) -> Callable:
    """`compiled`, but a call that traces (which runs the step eagerly: mg.compile's first call
    of each input signature) is undone (parameters, optimizer state, `generators`) and run
    again by the program just made. Which steps trace depends on where a process started (a
    resumed run's first step traces), and eager differs from the program by float rounding,
    so without this a resumed run drifts from an uninterrupted one (lstm charlm's bits per
    character in the 7th digit). A snapshot is taken only before an input signature (shapes
    and dtypes) this process has not seen."""
    seen: set = set()

    def call(*inputs):
        signature = _signature(inputs)
        if signature in seen or not all(isinstance(p.data, np.ndarray)
                                        for p in optimizer.params):
            return compiled(*inputs)
        seen.add(signature)
        saved = _snapshot(optimizer, generators)
        misses = compiled.cache_info().misses
        out = compiled(*inputs)
        if compiled.cache_info().misses == misses:
            return out
        _restore(optimizer, generators, saved)
        return compiled(*inputs)

    return call


def _signature(value):
    """Shapes and dtypes of a step's inputs (tensors, nested in tuples, or None)."""
    if isinstance(value, tuple | list):
        return tuple(_signature(v) for v in value)
    if isinstance(value, mg.Tensor):
        return value.shape, str(value.dtype)
    return type(value).__name__


def _snapshot(optimizer: optim.Optimizer, generators: tuple):
    return ([p.data.copy() for p in optimizer.params],
            [{k: v.copy() if isinstance(v, np.ndarray) else v for k, v in s.items()}
             for s in optimizer.state], optimizer.step_count,
            [copy.deepcopy(g.bit_generator.state) for g in generators])


def _restore(optimizer: optim.Optimizer, generators: tuple, saved) -> None:
    """Back to `saved`, in place: the program reads the arrays it was traced with."""
    params, states, step_count, drawn = saved
    for p, value in zip(optimizer.params, params):
        np.copyto(p.data, value)
    for i, old in enumerate(states):
        now = optimizer.state[i]
        if not old:  # no state yet (the first step ever): as load_state_dict leaves it
            optimizer.state[i] = {}
            continue
        for k, v in old.items():
            if isinstance(v, np.ndarray) and isinstance(now.get(k), np.ndarray) \
                    and now[k].shape == v.shape:
                np.copyto(now[k], v)
            else:
                now[k] = v
    optimizer.step_count = step_count
    for g, state in zip(generators, drawn):
        g.bit_generator.state = state
    optimizer.zero_grad()


def eager_fallback(compiled: mg.CompiledFunction, eager: Callable, optimizer: optim.Optimizer,
                   command: str, run: Callable | None = None) -> Callable:
    """`compiled`, until a call that traces raises mg.CompileError (an op or a host read the
    compiler cannot take): that is said in one line on stderr, the gradients the trace
    accumulated are zeroed (the error comes before the update) and that call and every later
    one run `eager`. The returned function's `compiled` is the CompiledFunction, None once it
    runs eager."""

    def step(*inputs):
        if step.compiled is not None:
            try:
                return (run or compiled)(*inputs)
            except mg.CompileError as e:
                optimizer.zero_grad()
                print(f"{command}: the training step cannot be compiled, so it runs eager "
                      f"({str(e).splitlines()[0]})", file=sys.stderr, flush=True)
                step.compiled = None
        return eager(*inputs)

    step.compiled = compiled
    return step


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
            self.done += steps
            self.bar = progress_bar(self.progress, total=self.total, initial=self.done,
                                    desc=self.desc, leave=False)
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
    """Where a fit stands (what EpochTrainer.fit returns, and what a resumable run checkpoints):
    the curve (one row per evaluation), the best score and its epoch (0: none better than
    nothing, or the evaluation before training), the parameters it had, the steps and epochs
    done, the running epoch's loss so far (`total` over `weight`), and why it stopped (None
    while it runs)."""

    curve: list = field(default_factory=list)
    best_epoch: int = 0
    best_score: object = None
    best_state: dict | None = None
    stopped: str | None = None
    steps: int = 0
    epochs: int = 0
    total: float = 0.0
    weight: float = 0.0
    losses: list = field(default_factory=list)


class EpochTrainer:
    """Shuffled mini-batch epochs of one model with the applications' training step.

    `loss_of(*inputs)` is the batch's loss, or a tuple led by it whose rest `carry(rest)`
    receives after the step (lstm charlm's state carried from one chunk to the next);
    `batches()` yields (inputs, weight) for one epoch (weight None: the epoch's loss is the
    plain mean of its batches' losses; a number: the mean weighted by it). After each epoch
    `evaluate(epoch, loss)` returns (curve row, score): a score that is better (`better(score,
    best)`) than the best so far keeps the parameters, which `fit` restores at the end if
    `keep_best`; `patience` epochs without a better score stop the run ("early_stopping");
    with `stop_diverged` a non-finite score or training loss stops it ("diverged").
    """

    def __init__(self, model, optimizer, loss_of: Callable, *, clip: float | None = None,
                 compile: bool = False, command: str = "lstm", progress: bool = False,  # noqa: A002
                 desc: str = "", carry: Callable | None = None, generators: tuple | None = None):
        self.model, self.optimizer, self.carry = model, optimizer, carry
        self.compiled = make_step(loss_of, optimizer, clip, compile, command, generators)
        self.step = first_call(self.compiled, command, compile, quiet=not progress)
        self.progress, self.desc = progress, desc
        self.train_seconds = 0.0  # in the step calls

    def traces(self) -> int | None:
        """How many times the compiled step traced (a new input signature, or a guard that
        failed); None when the step runs eager."""
        compiled = getattr(self.compiled, "compiled", None)
        return None if compiled is None else compiled.cache_info().traces

    def run_step(self, batch, fit: Fit) -> float:
        """One step on batch = (inputs, weight), added to the epoch's running loss."""
        (inputs, weight), tick = batch, time.perf_counter()
        out = self.step(*inputs)
        if isinstance(out, tuple):
            out, rest = out[0], out[1:]
            self.carry(*rest)
        loss = float(out.item())
        self.train_seconds += time.perf_counter() - tick
        fit.steps += 1
        if weight is None:
            fit.losses.append(loss)
        else:
            fit.total += loss * weight
            fit.weight += weight
        return loss

    @staticmethod
    def _epoch_loss(fit: Fit) -> float | None:
        """The running epoch's mean (or weighted mean) loss; the sums reset."""
        if fit.weight:
            loss = fit.total / fit.weight
        else:
            loss = float(np.mean(fit.losses)) if fit.losses else None
        fit.total, fit.weight, fit.losses = 0.0, 0.0, []
        return loss

    def epoch(self, batches: Iterable) -> float:
        """One epoch of steps outside a fit (the asv cases time it); its mean loss."""
        fit = Fit()
        for batch in batches:
            self.run_step(batch, fit)
        return self._epoch_loss(fit)

    def _keep(self, fit: Fit, copy: bool) -> None:
        state = self.model.state_dict()
        fit.best_state = {k: v.copy() for k, v in state.items()} if copy else state

    def fit(self, epochs: int | None, steps_per_epoch: int, batches: Callable,
            evaluate: Callable, better: Callable | None = None, patience: int | None = None,
            keep_best: bool = True, copy_best: bool = False, stop_diverged: bool = False,
            initial_is_best: bool = False, evaluate_first: bool = False,
            after_step: Callable | None = None, state: Fit | None = None,
            total_steps: int | None = None) -> Fit:
        """Train up to `epochs` epochs (None: until `batches()` yields nothing); see the class.
        copy_best: keep copies of the arrays (a state_dict that shares the parameters' buffers
        would follow them); initial_is_best: the initial parameters are restored if no epoch
        scores; evaluate_first: `evaluate(0, None)` before training, scored like an epoch;
        after_step(): called after each step and its epoch's evaluation, True stops the fit at
        once (an interrupt: nothing restored, `stopped` left None); state: a Fit to go on from
        (a resumed run's); total_steps: the progress bar's length."""
        fit = state or Fit()
        if fit.stopped == "max_epochs":
            fit.stopped = None  # a larger budget goes on
        if initial_is_best and fit.best_state is None:
            self._keep(fit, True)
        if evaluate_first and not fit.curve:
            self._score(fit, *evaluate(0, None), better, patience, copy_best, stop_diverged)
        total = total_steps if total_steps is not None else epochs * steps_per_epoch
        bar = StepBar(total, self.desc, self.progress, done=fit.steps)
        try:
            while fit.stopped is None and (epochs is None or fit.epochs < epochs):
                inputs = iter(batches())
                batch = next(inputs, None)
                if batch is None:
                    break
                while batch is not None:
                    loss = self.run_step(batch, fit)
                    bar.update(1)
                    batch = next(inputs, None)  # as a for loop would: before the evaluation
                    diverged = stop_diverged and not np.isfinite(loss)  # stop at once
                    if batch is None or diverged:
                        batch = None
                        self._end_epoch(fit, evaluate, better, patience, copy_best,
                                        stop_diverged, bar)
                        fit.stopped = "diverged" if diverged else fit.stopped
                    if after_step is not None and after_step():
                        return fit
        finally:
            bar.close()
        fit.stopped = fit.stopped or "max_epochs"
        if keep_best and fit.best_state is not None:
            self.model.load_state_dict(fit.best_state)
        return fit

    def _end_epoch(self, fit: Fit, evaluate, better, patience, copy_best, stop_diverged,
                   bar) -> None:
        """The epoch's mean loss, its evaluation scored; the running sums reset."""
        fit.epochs += 1
        row, score = evaluate(fit.epochs, self._epoch_loss(fit))
        bar.set_postfix(**{k: f"{v:.3g}" for k, v in row.items()
                           if k != "epoch" and isinstance(v, float)})
        self._score(fit, row, score, better, patience, copy_best, stop_diverged)

    def _score(self, fit: Fit, row, score, better, patience, copy_best, stop_diverged) -> None:
        """Record an evaluation: a better score keeps the parameters; a non-finite one (with
        stop_diverged) or `patience` epochs since the best stop the fit."""
        fit.curve.append(row)
        if score is None:
            return
        if stop_diverged and not np.isfinite(score):
            fit.stopped = "diverged"
        elif fit.best_score is None or better(score, fit.best_score):
            fit.best_score, fit.best_epoch = score, fit.epochs
            self._keep(fit, copy_best)
        elif patience is not None and fit.epochs - fit.best_epoch >= patience:
            fit.stopped = "early_stopping"
