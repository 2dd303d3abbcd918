"""TrainConfig: every setting of a training run, with Arjovsky et al. 2016's defaults, validated."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .. import zoo
from ..layers import IMPLS
from ..models import GLOROT_MODELS, INITS
from ..tasks import HOCHREITER_MIN_SEQ_LEN, TASKS, VARIANTS, resolve_sizes
from .keys import run_dir_name
from .validate import check_choices, check_integers, check_numbers

OPTIMIZERS = ("rmsprop", "adam", "sgd")
CLIP_MODES = ("norm", "value", "none")
# fields that may change when a run resumes from its checkpoint (the rest must match)
RESUMABLE_FIELDS = ("steps", "checkpoint_every", "compile")


@dataclass(frozen=True)
class TrainConfig:
    """A training run. Defaults: Arjovsky et al. 2016 (RMSprop lr 1e-3 alpha 0.9, gradients
    clipped at norm 1, batch 20, hidden 128, LSTM with forget-gate bias 1).

    init: "default" (each model's own: torch's U(+-1/sqrt(H)), plus forget bias 1, chrono,
    orthogonal or identity as the model name says) or "glorot" (Arjovsky et al. 2016: Glorot-
    uniform weights per gate, zero biases, forget bias 1 for lstm-fb1; rnn, lstm, lstm-fb1, gru).
    tbptt: None for full backpropagation through time, or k: the batch's steps are run in chunks
    of k, the state carried from chunk to chunk detached, each chunk's loss backpropagated within
    the chunk only; the gradients of all chunks are summed and one optimizer step is taken per
    batch (adding has its loss on the last chunk only, so earlier chunks run without a tape).
    eval_every: steps between evaluations on the fixed test set (test_size sequences drawn from
    the test stream of test_seed, default seed). patience: stop after this many evaluations in a
    row that do not improve the best test loss by a relative min_delta (None: never).
    """

    task: str = "adding"
    variant: str | None = None  # None: the task's first (arjovsky; scaled for selective-copy, mqar)
    model: str = "lstm-fb1"
    seq_len: int = 100
    hidden_size: int = 128
    n_symbols: int = 8
    n_copy: int = 10
    impl: str = "fused"
    init: str = "default"
    batch_size: int = 20
    steps: int = 10_000
    optimizer: str = "rmsprop"
    lr: float = 1e-3
    alpha: float = 0.9
    momentum: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    clip: str = "norm"
    clip_value: float = 1.0
    tbptt: int | None = None
    eval_every: int = 100
    test_size: int = 1000
    eval_batch_size: int = 500
    stop_when_solved: bool = True
    patience: int | None = None
    min_delta: float = 1e-3
    seed: int = 0
    test_seed: int | None = None
    checkpoint_every: int | None = None
    compile: bool = False

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(self.betas))
        zoo.spec(self.model)  # a registered name or a user's cell that loads: else a ValueError
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {tuple(TASKS)}, got {self.task!r}")
        if self.variant is None:
            object.__setattr__(self, "variant", VARIANTS[self.task][0])
        check_choices(self, {"task": tuple(TASKS), "impl": IMPLS, "init": INITS,
                             "optimizer": OPTIMIZERS, "clip": CLIP_MODES,
                             "variant": VARIANTS[self.task]})
        check_integers(self, {"seq_len": 2, "hidden_size": 1, "n_symbols": 2, "n_copy": 1,
                              "batch_size": 1, "steps": 0, "eval_every": 1, "test_size": 1,
                              "eval_batch_size": 1, "seed": 0},
                       {"tbptt": 1, "patience": 1, "test_seed": 0, "checkpoint_every": 1})
        check_numbers(self, positive=("lr", "clip_value"),
                      non_negative=("momentum", "weight_decay", "min_delta"))
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha!r}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if self.task == "adding" and self.variant == "hochreiter1997":
            if self.seq_len < HOCHREITER_MIN_SEQ_LEN:
                raise ValueError(f"seq_len must be >= {HOCHREITER_MIN_SEQ_LEN} for variant "
                                 f"'hochreiter1997', got {self.seq_len}")
            if self.tbptt is not None:
                raise ValueError("tbptt is not supported with the variable-length variant "
                                 f"'hochreiter1997', got tbptt={self.tbptt}")
        sizes = resolve_sizes(self.task, self.variant, self.n_symbols, self.n_copy)
        object.__setattr__(self, "n_symbols", sizes[0])  # the variant's sizes (selective-copy,
        object.__setattr__(self, "n_copy", sizes[1])  # mqar) where left at copy's defaults
        if not isinstance(self.compile, bool):
            raise ValueError(f"compile must be True or False, got {self.compile!r}")
        if self.init == "glorot" and self.model not in GLOROT_MODELS:
            raise ValueError(f"init 'glorot' is defined for models {GLOROT_MODELS}, got model "
                             f"{self.model!r}")
        min_seq_len = zoo.spec(self.model).min_seq_len
        if self.seq_len < min_seq_len:
            raise ValueError(f"model {self.model!r} needs seq_len >= {min_seq_len}, got "
                             f"{self.seq_len}")

    def to_dict(self) -> dict:
        """Every field (compile only when True: it does not change the result, and results
        files stay as they were before it existed)."""
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        if not self.compile:
            del out["compile"]
        return out

    def run_name(self) -> str:
        """The run directory's name: task, model, T and seed to read, and the hash of every
        field that changes the result (lstm.runs.keys), so no two configs share a directory."""
        model = self.model.rpartition(":")[2]  # a user's cell: its class name
        return run_dir_name(f"{self.task}-{model}-T{self.seq_len}-s{self.seed}", self.to_dict())

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown fields {unknown}")
        return cls(**values)

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)
