"""Training the character language model: stateful truncated BPTT over long streams.

The training text is cut into `batch_size` contiguous streams read side by side, `bptt`
characters at a time; the LSTM's (h, c) at the end of one chunk starts the next (detached, so
gradients stop at the chunk's boundary) and is reset at each epoch's start. Validation bits per
character every `eval_every` steps choose the parameters the test split is scored with.
Checkpoints (.npz, no pickle) hold everything a bit-identical resume needs, carried state
included; Ctrl-C or SIGTERM stops at the next step boundary and checkpoints it. The loop is the
applications' shared one (lstm.apps.common.trainer.EpochTrainer).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import zipfile
from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad import optim

from ...runs import checkpoint as ckpt
from ...runs.keys import run_dir_name
from ...runs.options import setting
from ...runs.signals import deferred_signals
from ...runs.train import Interrupted
from ..common.config import AppConfig
from ..common.trainer import EpochTrainer, Fit
from .data import Corpus, Vocabulary, stream_matrix
from .model import CharLM, bits_per_char, detach_state

CHECKPOINT_NAME = "checkpoint.npz"
RESUMABLE_FIELDS = ("steps", "checkpoint_every", "patience")
CURVE = ("step", "train_bits_per_char", "valid_bits_per_char", "chars")  # a curve row's fields
STOPPED = {"max_epochs": "max_steps", "early_stopping": "plateau"}  # the shared trainer's words
SHARED_STOPPED = {v: k for k, v in STOPPED.items()}


@dataclass(frozen=True)
class CharLMConfig(AppConfig):
    """One run. batch_size: parallel streams; bptt: characters per chunk (truncation length);
    valid_chars: validation characters scored at each evaluation (None: all of them)."""

    embedding_size: int = setting(64, "embedding width", low=1)
    hidden_size: int = setting(256, "LSTM hidden units", low=1)
    num_layers: int = setting(2, "stacked LSTM layers", low=1)
    dropout: float = setting(0.0, "dropout between LSTM layers", low=0, high=1, high_open=True)
    batch_size: int = setting(32, "parallel training streams", low=1)
    bptt: int = setting(100, "characters per truncated-BPTT chunk", low=1)
    steps: int = setting(3000, "training steps (chunks)", low=0)
    lr: float = setting(2e-3, "Adam learning rate", low=0, strict=True)
    clip_value: float = setting(1.0, "gradient-norm clipping threshold", low=0, strict=True)
    eval_every: int = setting(250, "steps between validation evaluations", low=1)
    valid_chars: int | None = setting(None, "validation characters scored at each evaluation "
                                      "(None: all)", low=2)
    eval_streams: int = setting(16, "streams the validation text is read in", low=1)
    patience: int | None = setting(None, "stop after this many evaluations without "
                                   "improvement (default: never)", low=1)
    seed: int = setting(0, "seed of the weights", low=0)
    checkpoint_every: int | None = setting(500, "steps between checkpoints", low=1)

    def run_name(self) -> str:
        """The run directory's name: the sizes and seed to read, and the hash of every field
        that changes the result (lstm.runs.keys), so another budget is another run."""
        return run_dir_name(f"charlm-E{self.embedding_size}-H{self.hidden_size}-"
                            f"L{self.num_layers}-s{self.seed}", self.to_dict())


class CharLMTrainer:
    """A run's model, optimizer, streams and where its fit stands (the applications' shared
    trainer, lstm.apps.common.trainer, with a carried state and an "epoch" of `eval_every`
    steps); `run()` trains to the end."""

    def __init__(self, config: CharLMConfig, corpus: Corpus,
                 compile: bool = False, progress: bool = False):  # noqa: A002
        if not isinstance(config, CharLMConfig):
            raise ValueError(f"config must be a CharLMConfig, got {type(config).__name__}")
        self.config, self.corpus = config, corpus
        self.vocab = Vocabulary.from_text(corpus.train)
        self.inputs, self.targets = stream_matrix(self.vocab.encode(corpus.train),
                                                  config.batch_size)
        self.chunks_per_epoch = self.inputs.shape[0] // config.bptt
        if self.chunks_per_epoch < 1:
            raise ValueError(f"the training text gives {self.inputs.shape[0]} characters per "
                             f"stream, fewer than bptt={config.bptt}")
        self.valid_ids = self.vocab.encode(corpus.valid)
        if config.valid_chars is not None:
            self.valid_ids = self.valid_ids[:config.valid_chars]
        self.model = CharLM(len(self.vocab), config.embedding_size, config.hidden_size,
                            config.num_layers, config.dropout, rng=config.seed)
        self.optimizer = optim.Adam(self.model.parameters(), lr=config.lr)
        self.state = None
        self.fit = Fit()
        self.elapsed = 0.0
        self.trainer = EpochTrainer(
            self.model, self.optimizer, self._loss, clip=config.clip_value, compile=compile,
            command="lstm charlm", progress=progress, carry=self._carry,
            generators=(self.model.lstm.rng,),  # its dropout's: a resume equals a straight run
            desc=f"charlm H={config.hidden_size} seed {config.seed}")

    def _loss(self, ids, targets, state):
        logits, state = self.model(ids, state)
        # gradients stop at the chunk's boundary: the state leaves the step cut from the tape
        # (a compiled step returns it as a plain value, not as an output to differentiate)
        return mg.cross_entropy(logits, targets), detach_state(state)

    def _carry(self, state) -> None:
        self.state = state

    @property
    def step(self) -> int:
        return self.fit.steps

    @property
    def best_params(self) -> dict:
        return self.model.state_dict() if self.fit.best_state is None else self.fit.best_state

    def _chunk(self):
        """The next step's batch: bptt characters of every stream, the carried state (reset at
        each epoch's start), weight 1."""
        config = self.config
        chunk = self.step % self.chunks_per_epoch
        if chunk == 0:
            self.state = None  # an epoch starts every stream afresh
        rows = slice(chunk * config.bptt, (chunk + 1) * config.bptt)
        return (mg.tensor(self.inputs[rows]), mg.tensor(self.targets[rows]), self.state), 1

    def _chunks(self):
        """The shared trainer's "epoch": the chunks up to the next evaluation."""
        config = self.config
        end = min(config.steps, (self.step // config.eval_every + 1) * config.eval_every)
        while self.step < end:
            yield self._chunk()

    def train_step(self) -> float:
        """One chunk of bptt characters from every stream: forward, backward, clip, update."""
        return self.trainer.run_step(self._chunk(), self.fit)

    def evaluate(self) -> float:
        """Validation bits per character at the current parameters (a fresh state)."""
        return bits_per_char(self.model, self.valid_ids, self.config.eval_streams)

    def _evaluation(self, epoch, loss):
        valid = self.evaluate()
        train = None if loss is None else loss / math.log(2.0)
        return {"step": self.step, "train_bits_per_char": train, "valid_bits_per_char": valid,
                "chars": self.step * self.config.batch_size * self.config.bptt}, valid

    def run(self, out_dir: str | None = None, progress: bool = True) -> dict:
        """Train until config.steps, a plateau or divergence; score the best parameters."""
        config = self.config
        started = [time.perf_counter()]
        interrupt: dict = {}

        def after_step() -> bool:
            if out_dir and config.checkpoint_every and self.step % config.checkpoint_every == 0:
                started[0] = self._checkpoint(out_dir, started[0])
            return "signum" in interrupt

        self.trainer.progress = progress
        with deferred_signals(interrupt) if out_dir else contextlib.nullcontext():
            self.trainer.fit(None, 0, self._chunks, self._evaluation, lambda a, b: a < b,
                             config.patience, keep_best=False, stop_diverged=True,
                             evaluate_first=True, after_step=after_step, state=self.fit,
                             total_steps=config.steps)
            if "signum" in interrupt:
                self._checkpoint(out_dir, started[0])
                raise Interrupted(self.step, os.path.join(out_dir, CHECKPOINT_NAME),
                                  interrupt["signum"])
        if out_dir:
            started[0] = self._checkpoint(out_dir, started[0])
        self.elapsed += time.perf_counter() - started[0]
        return self.result()

    def result(self) -> dict:
        """Test and validation bits per character of the best parameters, and the run's record."""
        config = self.config
        self.model.load_state_dict(self.best_params)
        vocab = self.vocab
        test = bits_per_char(self.model, vocab.encode(self.corpus.test), config.eval_streams)
        valid = bits_per_char(self.model, vocab.encode(self.corpus.valid), config.eval_streams)
        chars = self.step * config.batch_size * config.bptt
        seconds = self.trainer.train_seconds
        return {
            "config": config.to_dict(), "corpus": self.corpus.describe(),
            "vocab_size": len(vocab), "num_parameters": self.model.num_parameters(),
            "bits_per_char": test, "valid_bits_per_char": valid,
            "best_step": self.fit.curve[self.fit.best_epoch]["step"], "steps": self.step,
            "stopped": STOPPED.get(self.fit.stopped, self.fit.stopped), "train_chars": chars,
            "epochs": chars / (self.inputs.shape[0] * config.batch_size),
            "train_seconds": seconds, "train_chars_per_s": chars / seconds if seconds else None,
            "wall_time": self.elapsed, "curve": self.fit.curve,
        }

    # ---- checkpoints ---------------------------------------------------------------------------
    def _checkpoint(self, out_dir: str, started: float) -> float:
        now = time.perf_counter()
        self.elapsed += now - started
        self.save(os.path.join(out_dir, CHECKPOINT_NAME))
        return now

    def save(self, path: str) -> None:
        """Parameters, best parameters, optimizer, carried state, dropout rng, bookkeeping."""
        fit = self.fit
        arrays = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        arrays.update({f"best/{k}": v for k, v in self.best_params.items()})
        arrays.update({f"optim/{k}": v for k, v in self.optimizer.state_dict().items()})
        arrays.update({f"rng/{k}": v
                       for k, v in ckpt.generator_state(self.model.lstm.rng).items()})
        if self.state is not None:
            arrays["state/h"], arrays["state/c"] = (s.numpy() for s in self.state)
        arrays.update({
            "step": np.int64(self.step),
            "best": np.float64(np.inf if fit.best_score is None else fit.best_score),
            "best_step": np.int64(fit.curve[fit.best_epoch]["step"] if fit.curve else 0),
            "evals_without_improvement": np.int64(fit.epochs - fit.best_epoch),
            "stopped": np.str_(STOPPED.get(fit.stopped, fit.stopped) or ""),
            "elapsed": np.float64(self.elapsed),
            "train_seconds": np.float64(self.trainer.train_seconds),
            "loss_sum": np.float64(fit.total), "loss_count": np.int64(fit.weight),
            "curve": np.array([[np.nan if row[k] is None else row[k] for k in CURVE]
                               for row in fit.curve], dtype=np.float64).reshape(-1, 4),
            "config": np.str_(json.dumps(self.config.to_dict(), sort_keys=True)),
        })
        ckpt.save_npz(path, arrays)

    def load(self, path: str) -> None:
        """Restore a checkpoint of a run with the same config (up to RESUMABLE_FIELDS);
        DamagedCheckpoint for one that cannot be read."""
        try:
            data = ckpt.load_npz(path)
            saved = json.loads(str(data["config"]))
        except (ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise DamagedCheckpoint(path, f"{type(e).__name__}: {e}") from None
        if not isinstance(saved, dict):
            raise DamagedCheckpoint(path, f"its config is a {type(saved).__name__}, not a dict")
        ours = self.config.to_dict()
        differ = sorted(k for k in set(saved) | set(ours)
                        if k not in RESUMABLE_FIELDS and saved.get(k) != ours.get(k))
        if differ:
            raise ValueError(f"checkpoint {path} was written by a different config: fields "
                             f"{differ} differ (saved {[saved.get(k) for k in differ]}, now "
                             f"{[ours.get(k) for k in differ]})")

        try:
            self._restore(data)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise DamagedCheckpoint(path, f"its contents do not fit this run ({e})") from None

    def _restore(self, data: dict) -> None:
        def group(prefix):
            return {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}

        self.model.load_state_dict(group("model/"))
        self.optimizer.load_state_dict(group("optim/"))
        ckpt.set_generator_state(self.model.lstm.rng, group("rng/"))
        self.state = (mg.tensor(data["state/h"]), mg.tensor(data["state/c"])) \
            if "state/h" in data else None
        curve = [{"step": int(s), "train_bits_per_char": None if np.isnan(t) else float(t),
                  "valid_bits_per_char": float(v), "chars": int(c)}
                 for s, t, v, c in data["curve"]]
        steps = [row["step"] for row in curve]
        best_step = int(data["best_step"])
        self.fit = Fit(curve=curve, best_epoch=steps.index(best_step) if curve else 0,
                       best_score=float(data["best"]) if curve else None,
                       best_state=group("best/"), steps=int(data["step"]),
                       epochs=max(len(curve) - 1, 0),
                       stopped=SHARED_STOPPED.get(str(data["stopped"]), str(data["stopped"]))
                       or None,
                       total=float(data["loss_sum"]), weight=float(int(data["loss_count"])))
        self.elapsed = float(data["elapsed"])
        self.trainer.train_seconds = float(data["train_seconds"])


class DamagedCheckpoint(RuntimeError):
    """A run's checkpoint that cannot be read: the file, what is wrong, what to do (exit 1)."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"checkpoint {path} is damaged: {problem}. Delete it to start this "
                         "run afresh (the other runs and the results file are untouched)")


def train_charlm(config: CharLMConfig, corpus: Corpus, out_dir: str | None = None, *,
                 resume: bool = True, progress: bool = True,
                 compile: bool = False) -> tuple[dict, CharLMTrainer]:  # noqa: A002
    """Run `config` on `corpus`; with `out_dir`, checkpoint there and resume from it if one
    exists. Returns the result and the trainer (its model holds the best parameters)."""
    trainer = CharLMTrainer(config, corpus, compile, progress)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, CHECKPOINT_NAME)
        if resume and os.path.exists(path):
            trainer.load(path)
    return trainer.run(out_dir, progress), trainer
