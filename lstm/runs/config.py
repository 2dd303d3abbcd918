"""TrainConfig: every setting of a training run, with Arjovsky et al. 2016's defaults, validated."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .. import zoo
from ..layers import IMPLS
from ..models import GLOROT_MODELS, INITS
from ..tasks import HOCHREITER_MIN_SEQ_LEN, TASKS, VARIANTS, Task, resolve_sizes
from .keys import run_dir_name
from .options import check, key_fields, resumable_fields, setting

# the settings only some choices read: another value with another choice would be ignored
_USED_BY = {"alpha": ("optimizer", ("rmsprop",)), "momentum": ("optimizer", ("rmsprop", "sgd")),
            "betas": ("optimizer", ("adam",)), "clip_value": ("clip", ("norm", "value")),
            "n_symbols": ("task", ("copy", "selective-copy", "mqar")),
            "n_copy": ("task", ("copy", "selective-copy", "mqar"))}


def _check_used(config) -> None:
    """A setting changed from its default where the chosen optimizer, clip or task does not
    read it is an error (it would be silently ignored, yet give the run another key)."""
    for name, (choice, readers) in _USED_BY.items():
        default = type(config).__dataclass_fields__[name].default
        chosen = getattr(config, choice)
        if chosen not in readers and getattr(config, name) != default:
            raise ValueError(f"{name} is read with {choice} {' or '.join(readers)} only, got "
                             f"{name}={getattr(config, name)!r} with {choice} {chosen!r} "
                             f"(options --{name.replace('_', '-')}, --{choice})")


# how the generators' own names map onto the command's options
_TASK_OPTIONS = {"mqar": "; mqar's n_keys is --n-symbols, its n_pairs --n-copy"}

OPTIMIZERS = ("rmsprop", "adam", "sgd")
COMPILE_HELP = ("run each training step through mg.compile (a model that cannot compile says so "
                "and runs eager; not part of a run's identity: compiled equals eager to float "
                "rounding)")
CLIP_MODES = ("norm", "value", "none")


def load_model(name: str) -> None:
    """A registered name or a user's cell that loads; else the registry's ValueError."""
    zoo.spec(name)


@dataclass(frozen=True)
class TrainConfig:
    """A training run. Defaults: Arjovsky et al. 2016 (RMSprop lr 1e-3 alpha 0.9, gradients
    clipped at norm 1, batch 20, hidden 128, LSTM with forget-gate bias 1).

    Each field is a `setting` (lstm.runs.options): its help, its allowed values, its option of
    `lstm train` and whether it is part of the run key are written there once, and the
    command line, the validation and the run key are generated from them.
    tbptt: the batch's steps are run in chunks of k, the state carried from chunk to chunk
    detached, each chunk's loss backpropagated within the chunk only; the gradients of all
    chunks are summed and one optimizer step is taken per batch (adding has its loss on the
    last chunk only, so earlier chunks run without a tape). The test set is test_size
    sequences drawn from the test stream of test_seed (default: seed).
    """

    task: str = setting("adding", "memory task", choices=tuple(TASKS))
    variant: str | None = setting(
        None, "task definition: arjovsky (adding, copy; their default), hochreiter1997 or tcn "
        "(adding), tcn or exprnn (copy); scaled (selective-copy, mqar; their default: CPU "
        "sizes), gu-dao (selective-copy: 16 symbols, 16 tokens), zoology (mqar: 8192 tokens, "
        "16 pairs)", choices=lambda: tuple(sorted({v for vs in VARIANTS.values() for v in vs})),
        metavar="VARIANT")
    model: str = setting("lstm-fb1", "recurrent model: " + zoo.help_text(), check=load_model,
                         metavar="MODEL")
    seq_len: int = setting(100, "sequence length T", low=2)
    hidden_size: int = setting(128, "hidden units", low=1)
    n_symbols: int = setting(8, "copy, selective-copy: symbols; mqar: keys (= values); left at "
                             "8 with --n-copy 10, selective-copy and mqar take their variant's "
                             "sizes", low=2)
    n_copy: int = setting(10, "copy, selective-copy: symbols to recall; mqar: key-value pairs",
                          low=1)
    impl: str = setting("fused", "fused whole-sequence kernels or the cell composed from "
                        "primitives", choices=IMPLS)
    init: str = setting("default", "weights: the model's own (torch's U(+-1/sqrt(H)), plus "
                        "forget bias 1, chrono, orthogonal or identity as the model name says), "
                        "or glorot (Arjovsky 2016's recipe: Glorot per gate, zero biases, forget "
                        "bias 1 for lstm-fb1; rnn, lstm, lstm-fb1, gru)", choices=INITS)
    batch_size: int = setting(20, "sequences per training step", low=1)
    steps: int = setting(10_000, "training-step budget", low=0, resumable=True)
    optimizer: str = setting("rmsprop", "optimizer", choices=OPTIMIZERS)
    lr: float = setting(1e-3, "learning rate", low=0, strict=True)
    alpha: float = setting(0.9, "RMSprop's smoothing constant", low=0, high=1)
    momentum: float = setting(0.0, "momentum (RMSprop, SGD)", low=0)
    betas: tuple[float, float] = setting((0.9, 0.999), "Adam's two decay rates", low=0, high=1,
                                         high_open=True)
    weight_decay: float = setting(0.0, "L2 weight decay", low=0)
    clip: str = setting("norm", "gradient clipping: by global norm, by value, or none",
                        choices=CLIP_MODES)
    clip_value: float = setting(1.0, "clipping threshold", low=0, strict=True)
    tbptt: int | None = setting(None, "truncated BPTT chunk length (default: full BPTT)", low=1,
                                metavar="K")
    eval_every: int = setting(100, "steps between evaluations", low=1)
    test_size: int = setting(1000, "sequences in the test set", low=1)
    eval_batch_size: int = setting(500, "sequences per evaluation batch", low=1)
    stop_when_solved: bool = setting(True, "stop when the task counts as solved")
    patience: int | None = setting(None, "stop after this many evaluations without "
                                   "improvement (default: never)", low=1)
    min_delta: float = setting(1e-3, "the relative improvement of the test loss that counts "
                               "for --patience", low=0)
    seed: int = setting(0, "seed of the weights and training data", low=0)
    test_seed: int | None = setting(None, "seed of the test set (default: --seed)", low=0)
    checkpoint_every: int | None = setting(None, "steps between checkpoints", low=1, key=False,
                                           resumable=True, cli_default=500)
    compile: bool = setting(True, COMPILE_HELP, key=False, resumable=True)

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(self.betas))
        check(self)
        if self.variant is None:
            object.__setattr__(self, "variant", VARIANTS[self.task][0])
        if self.variant not in VARIANTS[self.task]:
            raise ValueError(f"variant must be one of {VARIANTS[self.task]} for task "
                             f"{self.task!r}, got {self.variant!r} (option --variant)")
        if self.task == "adding" and self.variant == "hochreiter1997":
            if self.seq_len < HOCHREITER_MIN_SEQ_LEN:
                raise ValueError(f"seq_len must be >= {HOCHREITER_MIN_SEQ_LEN} for variant "
                                 f"'hochreiter1997', got {self.seq_len} (option --seq-len)")
            if self.tbptt is not None:
                raise ValueError("tbptt is not supported with the variable-length variant "
                                 f"'hochreiter1997', got tbptt={self.tbptt} (option --tbptt)")
        sizes = resolve_sizes(self.task, self.variant, self.n_symbols, self.n_copy)
        object.__setattr__(self, "n_symbols", sizes[0])  # the variant's sizes (selective-copy,
        object.__setattr__(self, "n_copy", sizes[1])  # mqar) where left at copy's defaults
        try:  # the task's own checks (a T too short for its tokens), before any run directory
            Task(self.task, self.seq_len, self.variant, self.n_symbols, self.n_copy)
        except ValueError as error:
            names = _TASK_OPTIONS.get(self.task, "")
            raise ValueError(f"{error} (options --seq-len, --n-symbols, --n-copy{names})") \
                from None
        if self.init == "glorot" and self.model not in GLOROT_MODELS:
            raise ValueError(f"init 'glorot' is defined for models {GLOROT_MODELS}, got model "
                             f"{self.model!r} (options --init, --model)")
        _check_used(self)
        min_seq_len = zoo.spec(self.model).min_seq_len
        if self.seq_len < min_seq_len:
            raise ValueError(f"model {self.model!r} needs seq_len >= {min_seq_len}, got "
                             f"{self.seq_len} (option --seq-len)")

    def to_dict(self) -> dict:
        """Every field but compile (how the step runs, not what it computes: results rows,
        checkpoints and run keys are the same compiled or eager)."""
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        del out["compile"]
        return out

    def run_name(self) -> str:
        """The run directory's name: task, model, T and seed to read, and the hash of every
        field that changes the result (lstm.runs.keys), so no two configs share a directory."""
        model = self.model.rpartition(":")[2]  # a user's cell: its class name
        key = {name: getattr(self, name) for name in key_fields(TrainConfig)}
        key["betas"] = list(self.betas)  # as to_dict writes it: the hash of the same JSON
        return run_dir_name(f"{self.task}-{model}-T{self.seq_len}-s{self.seed}", key)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown fields {unknown}")
        return cls(**values)

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)


# fields that may change when a run resumes from its checkpoint (the rest must match)
RESUMABLE_FIELDS = resumable_fields(TrainConfig)
