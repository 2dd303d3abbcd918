"""Training the character language model: stateful truncated BPTT over long streams.

The training text is cut into `batch_size` contiguous streams read side by side, `bptt`
characters at a time; the LSTM's (h, c) at the end of one chunk starts the next (detached, so
gradients stop at the chunk's boundary) and is reset at each epoch's start. Validation bits per
character every `eval_every` steps choose the parameters the test split is scored with.
Checkpoints (.npz, no pickle) hold everything a bit-identical resume needs, carried state
included; Ctrl-C or SIGTERM stops at the next step boundary and checkpoints it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad import optim

from ...runs import checkpoint as ckpt
from ...runs.keys import run_dir_name
from ...runs.signals import deferred_signals
from ...runs.train import Interrupted
from ..common.config import AppConfig
from ..common.trainer import StepBar, first_call, make_step
from .data import Corpus, Vocabulary, stream_matrix
from .model import CharLM, bits_per_char, detach_state

CHECKPOINT_NAME = "checkpoint.npz"
RESUMABLE_FIELDS = ("steps", "checkpoint_every", "patience")


@dataclass(frozen=True)
class CharLMConfig(AppConfig):
    """One run. batch_size: parallel streams; bptt: characters per chunk (truncation length);
    valid_chars: validation characters scored at each evaluation (None: all of them)."""

    embedding_size: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    batch_size: int = 32
    bptt: int = 100
    steps: int = 3000
    lr: float = 2e-3
    clip_value: float = 1.0
    eval_every: int = 250
    valid_chars: int | None = None
    eval_streams: int = 16
    patience: int | None = None
    seed: int = 0
    checkpoint_every: int | None = 500

    def __post_init__(self):
        self.check({}, {"embedding_size": 1, "hidden_size": 1, "num_layers": 1,
                        "batch_size": 1, "bptt": 1, "steps": 0, "eval_every": 1,
                        "eval_streams": 1, "seed": 0}, positive=("lr", "clip_value"),
                   intervals={"dropout": (0, 1)},
                   optional_integers={"valid_chars": 2, "patience": 1, "checkpoint_every": 1})

    def run_name(self) -> str:
        """The run directory's name: the sizes and seed to read, and the hash of every field
        that changes the result (lstm.runs.keys), so another budget is another run."""
        return run_dir_name(f"charlm-E{self.embedding_size}-H{self.hidden_size}-"
                            f"L{self.num_layers}-s{self.seed}", self.to_dict())


class CharLMTrainer:
    """A run's model, optimizer, streams and bookkeeping; `run()` trains to the end."""

    def __init__(self, config: CharLMConfig, corpus: Corpus,
                 compile: bool = False):  # noqa: A002 - the option's name
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
        self.step, self.best, self.best_step = 0, math.inf, 0
        self.best_params = self.model.state_dict()
        self.evals_without_improvement = 0
        self.curve: list[dict] = []
        self.stopped: str | None = None
        self.train_seconds, self.elapsed = 0.0, 0.0
        self._loss_sum, self._loss_count = 0.0, 0
        self.compile, self._step = compile, None  # the step: built on the first train_step

    def _loss(self, ids, targets, state):
        logits, state = self.model(ids, state)
        return mg.cross_entropy(logits, targets), state

    def train_step(self, progress: bool = False) -> float:
        """One chunk of bptt characters from every stream: forward, backward, clip, update."""
        config = self.config
        chunk = self.step % self.chunks_per_epoch
        if chunk == 0:
            self.state = None  # an epoch starts every stream afresh
        rows = slice(chunk * config.bptt, (chunk + 1) * config.bptt)
        if self._step is None:
            self._step = first_call(make_step(self._loss, self.optimizer, config.clip_value,
                                              self.compile), "lstm charlm", self.compile,
                                    quiet=not progress)
        loss, state = self._step(mg.tensor(self.inputs[rows]), mg.tensor(self.targets[rows]),
                                 self.state)
        self.state = detach_state(state)
        self.step += 1
        return float(loss.item())

    def evaluate(self) -> float:
        """Validation bits per character at the current parameters (a fresh state)."""
        return bits_per_char(self.model, self.valid_ids, self.config.eval_streams)

    def _record_evaluation(self) -> None:
        valid = self.evaluate()
        scheduled = self.step % self.config.eval_every == 0
        train = (self._loss_sum / self._loss_count / math.log(2.0)) if self._loss_count else None
        self._loss_sum, self._loss_count = 0.0, 0
        self.curve.append({"step": self.step, "train_bits_per_char": train,
                           "valid_bits_per_char": valid,
                           "chars": self.step * self.config.batch_size * self.config.bptt})
        if not math.isfinite(valid):
            self.stopped = "diverged"
            return
        if valid < self.best:
            self.best, self.best_step = valid, self.step
            self.best_params = self.model.state_dict()
            self.evals_without_improvement = 0
        elif scheduled:
            self.evals_without_improvement += 1
        patience = self.config.patience
        if scheduled and patience and self.evals_without_improvement >= patience:
            self.stopped = "plateau"

    def run(self, out_dir: str | None = None, progress: bool = True) -> dict:
        """Train until config.steps, a plateau or divergence; score the best parameters."""

        config = self.config
        started = time.perf_counter()
        if self.stopped == "max_steps" and self.step < config.steps:
            self.stopped = None
        if not self.curve:
            self._record_evaluation()
        bar = StepBar(config.steps, f"charlm H={config.hidden_size} seed {config.seed}",
                      progress, done=self.step)
        interrupt: dict = {}
        deferred = deferred_signals(interrupt) if out_dir else contextlib.nullcontext()
        try:
            with deferred:
                while (self.stopped is None and self.step < config.steps
                       and "signum" not in interrupt):
                    tick = time.perf_counter()
                    loss = self.train_step(progress)
                    self.train_seconds += time.perf_counter() - tick
                    self._loss_sum, self._loss_count = self._loss_sum + loss, self._loss_count + 1
                    bar.update(1)
                    if not math.isfinite(loss):
                        self.stopped = "diverged"
                    elif self.step % config.eval_every == 0 or self.step == config.steps:
                        self._record_evaluation()
                        bar.set_postfix(valid_bpc=f"{self.curve[-1]['valid_bits_per_char']:.3f}")
                    if (out_dir and config.checkpoint_every
                            and self.step % config.checkpoint_every == 0):
                        started = self._checkpoint(out_dir, started)
                if "signum" in interrupt:
                    self._checkpoint(out_dir, started)
                    raise Interrupted(self.step, os.path.join(out_dir, CHECKPOINT_NAME),
                                      interrupt["signum"])
        finally:
            bar.close()
        if self.curve[-1]["step"] != self.step:
            self._record_evaluation()
        self.stopped = self.stopped or "max_steps"
        if out_dir:
            started = self._checkpoint(out_dir, started)
        self.elapsed += time.perf_counter() - started
        return self.result()

    def result(self) -> dict:
        """Test and validation bits per character of the best parameters, and the run's record."""
        config = self.config
        self.model.load_state_dict(self.best_params)
        vocab = self.vocab
        test = bits_per_char(self.model, vocab.encode(self.corpus.test), config.eval_streams)
        valid = bits_per_char(self.model, vocab.encode(self.corpus.valid), config.eval_streams)
        chars = self.step * config.batch_size * config.bptt
        return {
            "config": config.to_dict(), "corpus": self.corpus.describe(),
            "vocab_size": len(vocab), "num_parameters": self.model.num_parameters(),
            "bits_per_char": test, "valid_bits_per_char": valid, "best_step": self.best_step,
            "steps": self.step, "stopped": self.stopped, "train_chars": chars,
            "epochs": chars / (self.inputs.shape[0] * config.batch_size),
            "train_seconds": self.train_seconds,
            "train_chars_per_s": chars / self.train_seconds if self.train_seconds else None,
            "wall_time": self.elapsed, "curve": self.curve,
        }

    # ---- checkpoints ---------------------------------------------------------------------------
    def _checkpoint(self, out_dir: str, started: float) -> float:
        now = time.perf_counter()
        self.elapsed += now - started
        self.save(os.path.join(out_dir, CHECKPOINT_NAME))
        return now

    def save(self, path: str) -> None:
        """Parameters, best parameters, optimizer, carried state, dropout rng, bookkeeping."""
        arrays = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        arrays.update({f"best/{k}": v for k, v in self.best_params.items()})
        arrays.update({f"optim/{k}": v for k, v in self.optimizer.state_dict().items()})
        arrays.update({f"rng/{k}": v
                       for k, v in ckpt.generator_state(self.model.lstm.rng).items()})
        if self.state is not None:
            arrays["state/h"], arrays["state/c"] = (s.numpy() for s in self.state)
        columns = ["step", "train_bits_per_char", "valid_bits_per_char", "chars"]
        arrays.update({
            "step": np.int64(self.step), "best": np.float64(self.best),
            "best_step": np.int64(self.best_step),
            "evals_without_improvement": np.int64(self.evals_without_improvement),
            "stopped": np.str_(self.stopped or ""), "elapsed": np.float64(self.elapsed),
            "train_seconds": np.float64(self.train_seconds),
            "loss_sum": np.float64(self._loss_sum), "loss_count": np.int64(self._loss_count),
            "curve": np.array([[np.nan if row[k] is None else row[k] for k in columns]
                               for row in self.curve], dtype=np.float64).reshape(-1, 4),
            "config": np.str_(json.dumps(self.config.to_dict(), sort_keys=True)),
        })
        ckpt.save_npz(path, arrays)

    def load(self, path: str) -> None:
        """Restore a checkpoint of a run with the same config (up to RESUMABLE_FIELDS)."""
        data = ckpt.load_npz(path)
        saved, ours = json.loads(str(data["config"])), self.config.to_dict()
        differ = sorted(k for k in set(saved) | set(ours)
                        if k not in RESUMABLE_FIELDS and saved.get(k) != ours.get(k))
        if differ:
            raise ValueError(f"checkpoint {path} was written by a different config: fields "
                             f"{differ} differ (saved {[saved.get(k) for k in differ]}, now "
                             f"{[ours.get(k) for k in differ]})")

        def group(prefix):
            return {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}

        self.model.load_state_dict(group("model/"))
        self.best_params = group("best/")
        self.optimizer.load_state_dict(group("optim/"))
        ckpt.set_generator_state(self.model.lstm.rng, group("rng/"))
        self.state = (mg.tensor(data["state/h"]), mg.tensor(data["state/c"])) \
            if "state/h" in data else None
        self.step, self.best = int(data["step"]), float(data["best"])
        self.best_step = int(data["best_step"])
        self.evals_without_improvement = int(data["evals_without_improvement"])
        self.stopped = str(data["stopped"]) or None
        self.elapsed, self.train_seconds = float(data["elapsed"]), float(data["train_seconds"])
        self._loss_sum, self._loss_count = float(data["loss_sum"]), int(data["loss_count"])
        self.curve = [{"step": int(s), "train_bits_per_char": None if np.isnan(t) else float(t),
                       "valid_bits_per_char": float(v), "chars": int(c)}
                      for s, t, v, c in data["curve"]]


def train_charlm(config: CharLMConfig, corpus: Corpus, out_dir: str | None = None, *,
                 resume: bool = True, progress: bool = True,
                 compile: bool = False) -> tuple[dict, CharLMTrainer]:  # noqa: A002
    """Run `config` on `corpus`; with `out_dir`, checkpoint there and resume from it if one
    exists. Returns the result and the trainer (its model holds the best parameters)."""
    trainer = CharLMTrainer(config, corpus, compile)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, CHECKPOINT_NAME)
        if resume and os.path.exists(path):
            trainer.load(path)
    return trainer.run(out_dir, progress), trainer
