"""Training loop: batches from the task's training stream, clipping, optional truncated BPTT,
evaluation on the fixed test set, early stopping, a tqdm bar, and resumable .npz checkpoints.

Resuming is bit-identical: a checkpoint holds the parameters, the optimizer state, the step, the
training Generator's state and the loop's bookkeeping (curve, best loss, evaluations without
improvement), so N steps + save + load + N steps gives the same parameters as 2N steps straight.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import zipfile

import numpy as np

import minigrad as mg
from minigrad import optim
from minigrad.compiler.cache import cache_dir
from minigrad.tensor import Tensor

from ..models import build_model, glorot_init
from ..progress import bar as progress_bar
from ..progress import redraw
from ..tasks import STREAM_INIT, STREAM_TRAIN, Task, get_task, seed_stream
from . import checkpoint as ckpt
from .config import RESUMABLE_FIELDS, TrainConfig
from .signals import deferred_signals

CHECKPOINT_NAME = "checkpoint.npz"
PREVIOUS_CHECKPOINT_NAME = os.path.basename(ckpt.previous_path(CHECKPOINT_NAME))
RESULT_NAME = "result.json"
# what every checkpoint must hold ("model" etc.: at least one "model/..." array)
CHECKPOINT_FIELDS = ("model", "optim", "rng", "step", "best", "evals_without_improvement",
                     "steps_to_solve", "stopped", "elapsed", "loss_sum", "loss_count",
                     "curve_columns", "curve_values", "config")


class Interrupted(KeyboardInterrupt):
    """A checkpointed run was stopped by SIGINT or SIGTERM; its state at the last finished step
    is in `checkpoint`, and the same command resumes from it."""

    def __init__(self, step: int, checkpoint: str, signum: int):
        super().__init__(f"interrupted at step {step}; checkpoint {checkpoint}")
        self.step, self.checkpoint, self.signum = step, checkpoint, signum


def make_optimizer(config: TrainConfig, params) -> optim.Optimizer:
    if config.optimizer == "rmsprop":
        return optim.RMSprop(params, lr=config.lr, alpha=config.alpha, momentum=config.momentum,
                             weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return optim.Adam(params, lr=config.lr, betas=config.betas,
                          weight_decay=config.weight_decay)
    return optim.SGD(params, lr=config.lr, momentum=config.momentum,
                     weight_decay=config.weight_decay)


def _json_number(value):
    return value if not isinstance(value, float) or np.isfinite(value) else None


def _clip(config: TrainConfig, params) -> None:
    """Clip the gradients as the config says (by global norm, by value, or not)."""
    if config.clip == "norm":
        optim.clip_grad_norm_(params, config.clip_value)
    elif config.clip == "value":
        optim.clip_grad_value_(params, config.clip_value)


def restart_clock(bar) -> None:
    """A tqdm bar's elapsed time, rate and ETA counted from now, its count kept. Not through
    tqdm's reset(), which drew the bar at 0 (a resumed run's at a negative rate) before the
    count was put back: piped, that was a line of its own."""
    if bar.disable:
        return
    from tqdm.std import EMA

    bar.initial = bar.last_print_n = bar.n
    bar.start_t = bar.last_print_t = bar._time()
    bar._ema_dn, bar._ema_dt, bar._ema_miniters = (EMA(bar.smoothing) for _ in range(3))
    redraw(bar)


def _detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


class Trainer:
    """One run's model, optimizer, data streams and bookkeeping; `run()` trains to the end.

    `builder(name, task, hidden_size, seq_len, rng, impl)` makes the model (default build_model).
    """

    def __init__(self, config: TrainConfig, builder=build_model):
        if not isinstance(config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.config = config
        self.task: Task = get_task(config.task, config.seq_len, config.variant,
                                   config.n_symbols, config.n_copy)
        try:
            self.model = builder(config.model, self.task, config.hidden_size, config.seq_len,
                                 seed_stream(config.seed, STREAM_INIT), config.impl)
        except ValueError as error:  # a size the model refuses (heads not dividing H, ...)
            raise ValueError(f"{error} (model {config.model!r}, options --model, "
                             f"--hidden-size)") from None
        if config.init == "glorot":
            glorot_init(self.model, config.model, seed_stream(config.seed, STREAM_INIT))
        self.optimizer = make_optimizer(config, self.model.parameters())
        self.train_rng = seed_stream(config.seed, STREAM_TRAIN)
        test_seed = config.seed if config.test_seed is None else config.test_seed
        self.test_batch = self.task.test_set(test_seed, config.test_size)
        self.step = 0
        self.curve: list[dict] = []
        self.best = float("inf")
        self.evals_without_improvement = 0
        self.steps_to_solve: int | None = None
        self.stopped: str | None = None
        self.elapsed = 0.0
        self._loss_sum, self._loss_count = 0.0, 0
        self._step = self._eager_step = None  # make_step's, built on the first train_step
        self.progress = False  # run() sets it: whether to say that the step compiles

    # ---- one step ------------------------------------------------------------------------------
    def make_step(self):
        """The training step, built in this one place as a plain function of tensors:
        step(x, y, lengths=None) -> loss, x the encoded inputs (TaskModel.encode), y the targets,
        lengths an int64 tensor (the variable-length variant); forward, loss, backward,
        clipping, the optimizer's update and zero_grad, no .item() inside (the seam with
        mg.compile, docs/where_things_live.md)."""
        model, task, config, opt = self.model, self.task, self.config, self.optimizer
        params = opt.params

        def step(x: Tensor, y: Tensor, lengths: Tensor | None = None) -> Tensor:
            output, _ = model.forward_encoded(x, None, lengths)
            loss = mg.cross_entropy(output, y) if task.is_copy else mg.mse_loss(output, y)
            loss.backward()
            _clip(config, params)
            opt.step()
            opt.zero_grad()
            return loss

        return step

    def _run_step(self, *args) -> Tensor:
        """The step, compiled when config.compile is on (said once, with the progress bar)."""
        if self._step is None:
            self._step = self.make_step()
            if self.config.compile:
                self._step, self._eager_step = mg.compile(self._step), self._step
                if self.progress:
                    print(f"compiling the training step of {self.config.model} ... (kernels "
                          f"cached in {cache_dir()})", file=sys.stderr, flush=True)
                return self._first_compiled(args)
        try:
            return self._step(*args)
        except mg.CompileError as e:  # a trace again (a guard failed) that cannot compile
            if self._eager_step is None:
                raise
            self.optimizer.zero_grad()  # what the trace accumulated before it stopped
            return self._run_eager(e, args)

    def _first_compiled(self, args) -> Tensor:
        """The first call traces, running the step eagerly: its effects are undone and the
        program runs the step, so every step of a compiled run is the program's (a resumed run
        equals a straight one bit for bit). A step the compiler cannot take says so in one line
        and the run goes on eager from the same state."""
        saved = ({k: np.array(v, copy=True) for k, v in self.model.state_dict().items()},
                 self.optimizer.state_dict())
        try:
            self._step(*args)
            error = None
        except mg.CompileError as e:
            error = e
        self.model.load_state_dict(saved[0])
        self.optimizer.load_state_dict(saved[1])
        self.optimizer.zero_grad()
        return self._step(*args) if error is None else self._run_eager(error, args)

    def _run_eager(self, error: Exception, args) -> Tensor:
        print(f"lstm: {self.config.model}: the training step cannot be compiled, so it runs "
              f"eager ({str(error).splitlines()[0]})", file=sys.stderr, flush=True)
        self._step, self._eager_step = self._eager_step, None
        return self._step(*args)

    def targets(self, y) -> Tensor:
        """A batch's targets as the step takes them (the read-out's dtype; copy: int64)."""
        dtype = np.int64 if self.task.is_copy else self.model.readout.weight.dtype
        return mg.tensor(np.asarray(y, dtype=dtype), device=self.model.readout.weight.device)

    def train_step(self) -> float:
        """One batch: forward, backward (in chunks under tbptt), clip, update; returns the loss."""
        config, task = self.config, self.task
        batch = task.make_batch(config.batch_size, self.train_rng)
        if config.tbptt is None:
            x, y = self.model.encode(batch.x), self.targets(batch.y)
            lengths = () if batch.lengths is None else (
                mg.tensor(np.asarray(batch.lengths, dtype=np.int64),
                          device=self.model.readout.weight.device),)
            loss = self._run_step(x, y, *lengths)
            self.step += 1
            return float(loss.item())
        return self._tbptt_step(batch)

    def _tbptt_step(self, batch) -> float:
        """Truncated BPTT: the batch in chunks of config.tbptt steps, the state carried detached,
        the chunks' gradients summed, one update."""
        config, task = self.config, self.task
        self.optimizer.zero_grad()
        total = batch.x.shape[0]
        chunk = config.tbptt
        state, loss_value = None, 0.0
        for start in range(0, total, chunk):
            stop = min(start + chunk, total)
            x = batch.x[start:stop]
            if not task.is_copy and stop < total:
                with mg.no_grad():
                    _, state = self.model(x, state, lengths=batch.lengths)
            else:
                output, state = self.model(x, state, lengths=batch.lengths)
                if task.is_copy:
                    loss = mg.cross_entropy(output, batch.y[start:stop])
                    if stop - start < total:  # the chunks' losses sum to the mean over all steps
                        loss = loss * ((stop - start) / total)
                else:
                    loss = mg.mse_loss(output, batch.y)
                loss.backward()
                loss_value += float(loss.item())
            if stop < total:
                state = _detach(state)
        _clip(config, self.optimizer.params)
        self.optimizer.step()
        self.step += 1
        return loss_value

    # ---- evaluation ----------------------------------------------------------------------------
    def predict(self, x, lengths=None) -> np.ndarray:
        """The model's output on (x, lengths) in eval mode without a tape, batch by batch."""
        size, outputs = x.shape[1], []
        self.model.eval()
        try:
            with mg.no_grad():
                for start in range(0, size, self.config.eval_batch_size):
                    part = slice(start, start + self.config.eval_batch_size)
                    out, _ = self.model(x[:, part], None,
                                        lengths=None if lengths is None else lengths[part])
                    outputs.append(out.numpy())
        finally:
            self.model.train()
        return np.concatenate(outputs, axis=1 if self.task.is_copy else 0)

    def evaluate(self) -> dict[str, float]:
        """Test-set metrics at the current parameters."""
        batch = self.test_batch
        return self.task.metrics(self.predict(batch.x, batch.lengths), batch)

    def _record_evaluation(self) -> dict:
        """Evaluate, append to the curve, and decide whether to stop.

        Only scheduled evaluations (step % eval_every == 0) move the plateau counter and stop
        the run; the extra one at the end of a shorter budget is reported only, so a run
        resumed from it decides exactly as an uninterrupted run does.
        """
        metrics = self.evaluate()
        scheduled = self.step % self.config.eval_every == 0
        train_loss = self._loss_sum / self._loss_count if self._loss_count else float("nan")
        if scheduled:  # the training loss is the mean over the eval_every steps before
            self._loss_sum, self._loss_count = 0.0, 0
        self.curve.append({"step": self.step, "train_loss": train_loss, **metrics})
        loss = metrics[self.task.loss_key]
        if self.task.is_solved(metrics) and self.steps_to_solve is None:
            self.steps_to_solve = self.step
        if not np.isfinite(loss):
            self.stopped = "diverged"
        if not scheduled or self.stopped:
            return metrics
        if loss < self.best * (1.0 - self.config.min_delta):
            self.evals_without_improvement = 0
        else:
            self.evals_without_improvement += 1
        self.best = min(self.best, loss)
        if self.steps_to_solve is not None and self.config.stop_when_solved:
            self.stopped = "solved"
        elif self.config.patience and self.evals_without_improvement >= self.config.patience:
            self.stopped = "plateau"
        return metrics

    # ---- the loop ------------------------------------------------------------------------------
    def run(self, out_dir: str | None = None, progress: bool = True) -> dict:
        """Train until config.steps, solved (if stop_when_solved), a plateau or divergence."""
        # a diverging run overflows on its way to NaN: numpy's warnings about it would be
        # printed mid-bar, while the divergence itself is detected and reported ("diverged")
        with np.errstate(over="ignore", invalid="ignore"):
            return self._run(out_dir, progress)

    def _run(self, out_dir: str | None, progress: bool) -> dict:
        config = self.config
        self._started = time.perf_counter()
        self.progress = progress
        if self.stopped == "max_steps" and self.step < config.steps:
            self.stopped = None  # resumed with a larger budget
        if not self.curve:
            self._record_evaluation()  # the curve starts at initialisation
        bar = progress_bar(progress, total=config.steps, initial=self.step,
                           desc=f"{config.model} {config.task} T={config.seq_len}", leave=False)
        interrupt: dict = {}
        deferred = deferred_signals(interrupt) if out_dir else contextlib.nullcontext()
        try:
            with deferred:
                self._loop(out_dir, bar, interrupt)
                if "signum" in interrupt:  # stopped at a step boundary: keep everything
                    raise Interrupted(self.step, self._checkpoint(out_dir), interrupt["signum"])
        finally:
            bar.close()
        if self.curve[-1]["step"] != self.step:
            self._record_evaluation()
        if self.stopped is None:
            self.stopped = "max_steps"
        result_path = None
        if out_dir:
            self._checkpoint(out_dir)
            result_path = os.path.join(out_dir, RESULT_NAME)
        else:
            self.elapsed += time.perf_counter() - self._started
        result = self.result()
        if result_path:
            ckpt.write_json(result_path, result)
        return result

    def _loop(self, out_dir, bar, interrupt) -> None:
        """Steps until stopped, the budget is spent or a deferred signal arrives."""
        config = self.config
        first = True
        while self.stopped is None and self.step < config.steps and "signum" not in interrupt:
            loss = self.train_step()
            self._loss_sum += loss
            self._loss_count += 1
            bar.update(1)
            if first:  # the first call traces and compiles: the rate and ETA start after it
                restart_clock(bar)
                first = False
            if not np.isfinite(loss):
                self.stopped = "diverged"
            if self.step % config.eval_every == 0 or self.step == config.steps:
                metrics = self._record_evaluation()
                bar.set_postfix(loss=f"{loss:.4g}", test=f"{metrics[self.task.loss_key]:.4g}",
                                refresh=False)
            elif self.step % 10 == 0:
                bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
            if out_dir and config.checkpoint_every and self.step % config.checkpoint_every == 0:
                self._checkpoint(out_dir)

    def _checkpoint(self, out_dir: str) -> str:
        now = time.perf_counter()
        self.elapsed += now - self._started
        self._started = now
        path = os.path.join(out_dir, CHECKPOINT_NAME)
        self.save(path)
        return path

    def result(self) -> dict:
        """JSON-ready: nan and inf (no training loss yet, R^2 of a constant target) become None."""
        curve = [{k: _json_number(v) for k, v in row.items()} for row in self.curve]
        final = {k: v for k, v in curve[-1].items() if k not in ("step", "train_loss")}
        return {
            "config": self.config.to_dict(), "task": self.task.describe(),
            "num_parameters": self.model.num_parameters(), "metrics": final,
            "solved": self.steps_to_solve is not None, "steps_to_solve": self.steps_to_solve,
            "samples_to_solve": (None if self.steps_to_solve is None
                                 else self.steps_to_solve * self.config.batch_size),
            "best_loss": _json_number(self.best), "steps": self.step, "stopped": self.stopped,
            "curve": curve, "wall_time": self.elapsed,
        }

    # ---- checkpoints ---------------------------------------------------------------------------
    def save(self, path: str) -> None:
        """Everything a bit-identical resume needs, as arrays, written atomically."""
        arrays = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        arrays.update({f"optim/{k}": v for k, v in self.optimizer.state_dict().items()})
        arrays.update({f"rng/{k}": v for k, v in ckpt.generator_state(self.train_rng).items()})
        columns = sorted({k for row in self.curve for k in row})
        arrays.update({
            "step": np.int64(self.step), "best": np.float64(self.best),
            "evals_without_improvement": np.int64(self.evals_without_improvement),
            "steps_to_solve": np.int64(-1 if self.steps_to_solve is None else self.steps_to_solve),
            "stopped": np.str_(self.stopped or ""), "elapsed": np.float64(self.elapsed),
            "loss_sum": np.float64(self._loss_sum), "loss_count": np.int64(self._loss_count),
            "curve_columns": np.array(columns, dtype=np.str_),
            "curve_values": np.array([[row.get(k, np.nan) for k in columns] for row in self.curve],
                                     dtype=np.float64).reshape(len(self.curve), len(columns)),
            "config": np.str_(json.dumps(self.config.to_dict(), sort_keys=True)),
        })
        ckpt.save_checkpoint(path, arrays, CHECKPOINT_FIELDS)

    def load(self, path: str) -> None:
        """Restore a checkpoint of a run with the same config (up to RESUMABLE_FIELDS); a
        damaged one falls back to the one before it (checkpoint.load_checkpoint)."""
        from .results_io import say

        data, path = ckpt.load_checkpoint(path, CHECKPOINT_FIELDS, say)
        try:
            saved = json.loads(str(data["config"]))
        except ValueError:
            raise ckpt.CheckpointError(path, "its 'config' field is not JSON") from None
        ours = self.config.to_dict()
        differ = _differing(saved, ours)
        if differ:
            raise ValueError(f"checkpoint {path} was written by a different config: fields "
                             f"{differ} differ (saved {[saved.get(k) for k in differ]}, "
                             f"now {[ours.get(k) for k in differ]}); --restart (or deleting "
                             "it) starts this run afresh")
        try:
            self._restore(data)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise ckpt.CheckpointError(path, f"its contents do not fit this run ({e})") from None

    def _restore(self, data: dict) -> None:
        self.model.load_state_dict({k[6:]: v for k, v in data.items() if k.startswith("model/")})
        self.optimizer.load_state_dict({k[6:]: v for k, v in data.items()
                                        if k.startswith("optim/")})
        ckpt.set_generator_state(self.train_rng, {k[4:]: v for k, v in data.items()
                                                  if k.startswith("rng/")})
        self.step = int(data["step"])
        self.best = float(data["best"])
        self.evals_without_improvement = int(data["evals_without_improvement"])
        solved_at = int(data["steps_to_solve"])
        self.steps_to_solve = None if solved_at < 0 else solved_at
        self.stopped = str(data["stopped"]) or None
        self.elapsed = float(data["elapsed"])
        self._loss_sum, self._loss_count = float(data["loss_sum"]), int(data["loss_count"])
        columns = [str(c) for c in data["curve_columns"]]
        self.curve = [{k: (int(v) if k == "step" else float(v)) for k, v in zip(columns, row)}
                      for row in data["curve_values"]]


def train(config: TrainConfig, out_dir: str | None = None, *, resume: bool = True,
          progress: bool = True, builder=build_model, start_from: str | None = None) -> dict:
    """Run `config`; with `out_dir`, checkpoint there (and resume from it if `resume` and one
    exists, else from the checkpoint `start_from`, a shorter run of the same config: see
    shorter_run) and write result.json. Returns the result dict (config, metrics, curve, ...)."""
    trainer = Trainer(config, builder)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, CHECKPOINT_NAME)
        if resume and has_checkpoint(path):
            trainer.load(path)
        elif resume and start_from is not None:
            trainer.load(start_from)
    return trainer.run(out_dir, progress)


def _differing(saved: dict, ours: dict) -> list[str]:
    """The fields two run configs (as dicts) differ in, but for those a resume may change."""
    return sorted(k for k in set(saved) | set(ours)
                  if k not in RESUMABLE_FIELDS and saved.get(k) != ours.get(k))


def has_checkpoint(path: str) -> bool:
    """Whether a run has a checkpoint at `path` (or the one before it)."""
    return os.path.exists(path) or os.path.exists(ckpt.previous_path(path))


def shorter_run(runs_root: str, config: TrainConfig) -> tuple[str, int] | None:
    """(checkpoint path, step) of the longest run under `runs_root` whose config is `config`
    with a smaller budget (steps), or None. Training on from it is bit-identical to training
    `config` straight (checkpoints resume bit-identically and a shorter budget's extra final
    evaluation decides nothing), so a larger --steps extends a run instead of repeating it;
    the shorter run's own directory is only read."""
    ours = config.to_dict()
    prefix = config.run_name().rsplit("-", 1)[0] + "-"
    best = None
    try:
        names = sorted(n for n in os.listdir(runs_root) if n.startswith(prefix))
    except OSError:
        return None
    for name in names:
        path = os.path.join(runs_root, name, CHECKPOINT_NAME)
        for candidate in (path, ckpt.previous_path(path)):
            try:
                with np.load(candidate, allow_pickle=False) as data:
                    saved, step = json.loads(str(data["config"])), int(data["step"])
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                continue  # damaged or missing: the one before, or the next run
            shorter = saved.get("steps", 0) < config.steps and step <= config.steps
            if shorter and not _differing(saved, ours) and (best is None or step > best[1]):
                best = (path, step)
            break
    return best


def clear_run(out_dir: str) -> None:
    """Delete a run directory's checkpoints and result, so the next train() starts afresh."""
    for name in (CHECKPOINT_NAME, PREVIOUS_CHECKPOINT_NAME, RESULT_NAME):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(out_dir, name))
