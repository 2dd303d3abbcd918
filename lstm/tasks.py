"""The adding, copy, selective-copy and MQAR problems (time-major batches), their trivial
baselines and "solved" tests.

Definitions and published anchors: shared/reference/memory_tasks.md. Every generator draws from a
numpy Generator; `seed_stream(seed, stream)` gives independent streams for model init, training
batches and the fixed test set, so the test set never overlaps the training draws.

Variable lengths (adding "hochreiter1997"): a batch is padded after each sequence's end to the
longest possible length T + T // 10 (padded steps are all zero) and returned with `lengths` (B,)
int64; models pass them to the recurrent layer (`lengths=`), which reads each sequence's final
state at its own last step, as a PackedSequence does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .metrics import copy_metrics, query_metrics, regression_metrics

ADDING_VARIANTS = ("arjovsky", "hochreiter1997", "tcn")
COPY_VARIANTS = ("arjovsky", "tcn", "exprnn")
SELECTIVE_COPY_VARIANTS = ("scaled", "gu-dao")
MQAR_VARIANTS = ("scaled", "zoology")
VARIANTS = {"adding": ADDING_VARIANTS, "copy": COPY_VARIANTS,
            "selective-copy": SELECTIVE_COPY_VARIANTS, "mqar": MQAR_VARIANTS}
DEFAULT_N_SYMBOLS, DEFAULT_N_COPY = 8, 10  # the copy task's (Arjovsky et al. 2016)
# (n_symbols, n_copy) each new task's variant sets where the two are left at the defaults above:
# selective copy's data vocabulary and data tokens; MQAR's keys (= values) and key-value pairs.
# "gu-dao" and "zoology" are the papers' (shared/reference/successors.md); "scaled" fit a CPU.
VARIANT_SIZES = {("selective-copy", "scaled"): (8, 10), ("selective-copy", "gu-dao"): (16, 16),
                 ("mqar", "scaled"): (16, 8), ("mqar", "zoology"): (4096, 16)}
STREAM_INIT, STREAM_TRAIN, STREAM_TEST = 0, 1, 2
HOCHREITER_MIN_SEQ_LEN = 22  # the second mark goes among the first T/2 - 1 pairs, after ten
HOCHREITER_TOLERANCE = 0.04  # "processed correctly": absolute error at the end below 0.04


class Batch(NamedTuple):
    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray | None = None  # (B,) int64 for variable-length variants, else None


def seed_stream(seed: int, stream: int) -> np.random.Generator:
    """An independent Generator per (seed, stream): STREAM_INIT, STREAM_TRAIN or STREAM_TEST."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_symbols(n_symbols, n_copy) -> None:
    _check_int("n_symbols", n_symbols, 2)
    _check_int("n_copy", n_copy, 1)


def _check_common(batch_size, seq_len, rng, variant=None, variants=None) -> None:
    _check_int("batch_size", batch_size, 1)
    _check_int("seq_len", seq_len, 2)
    if variants is not None and variant not in variants:
        raise ValueError(f"variant must be one of {variants}, got {variant!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")


# ---- adding ------------------------------------------------------------------------------------
def adding(batch_size: int, seq_len: int, rng: np.random.Generator, variant: str = "arjovsky"):
    """Adding problem -> (x float32 (T, B, 2), y float32 (B, 1)); channel 0 values, 1 markers.

    "arjovsky": values U[0, 1), one mark in [0, T//2), one in [T//2, T); y = the marked sum.
    "tcn" (Bai et al. 2018): two distinct marks anywhere; kept time-major here (theirs is
    batch-first, channels-first).
    "hochreiter1997" (Exp. 4): values U[-1, 1]; length L uniform in [T, T + T//10]; marker -1 on
    the first and last pair; one mark among the first ten pairs (X1), one among the first T/2 - 1
    still unmarked pairs (X2); a marked first pair counts as 0 (its value is set to 0, as the
    paper sets X1 = 0); y = 0.5 + (X1 + X2) / 4. Returns (x, y, lengths): x padded with zeros to
    T + T//10 steps, lengths (B,) int64.
    """
    _check_common(batch_size, seq_len, rng, variant, ADDING_VARIANTS)
    rows = np.arange(batch_size)
    if variant == "hochreiter1997":
        return _adding_hochreiter(batch_size, seq_len, rng, rows)
    x = np.zeros((seq_len, batch_size, 2), np.float32)
    x[:, :, 0] = rng.random((seq_len, batch_size), dtype=np.float32)
    if variant == "arjovsky":
        half = seq_len // 2
        first = rng.integers(0, half, batch_size)
        second = rng.integers(half, seq_len, batch_size)
    else:  # tcn: two distinct positions anywhere, in either order
        first = rng.integers(0, seq_len, batch_size)
        offset = rng.integers(1, seq_len, batch_size)
        second = (first + offset) % seq_len
    x[first, rows, 1] = 1.0
    x[second, rows, 1] = 1.0
    y = (x[first, rows, 0] + x[second, rows, 0]).reshape(batch_size, 1)
    return x, y.astype(np.float32)


def _adding_hochreiter(batch_size, seq_len, rng, rows):
    if seq_len < HOCHREITER_MIN_SEQ_LEN:
        raise ValueError(f"seq_len must be >= {HOCHREITER_MIN_SEQ_LEN} for variant "
                         f"'hochreiter1997' (a mark among the first ten pairs and one among "
                         f"the first T/2 - 1), got {seq_len}")
    max_len = seq_len + seq_len // 10
    lengths = rng.integers(seq_len, max_len + 1, batch_size).astype(np.int64)
    x = np.zeros((max_len, batch_size, 2), np.float32)
    values = rng.uniform(-1.0, 1.0, (max_len, batch_size)).astype(np.float32)
    valid = np.arange(max_len)[:, None] < lengths[None, :]
    x[:, :, 0] = np.where(valid, values, np.float32(0.0))
    x[0, :, 1] = -1.0
    x[lengths - 1, rows, 1] = -1.0
    first = rng.integers(0, 10, batch_size)
    pick = rng.integers(0, seq_len // 2 - 1, batch_size)
    second = pick + (pick >= first)  # the pick-th still unmarked pair
    for marked in (first, second):
        x[marked, rows, 1] = 1.0
    x[0, x[0, :, 1] == 1.0, 0] = 0.0
    total = x[first, rows, 0] + x[second, rows, 0]
    y = (0.5 + total / 4.0).reshape(batch_size, 1).astype(np.float32)
    return x, y, lengths


def adding_baseline(seq_len: int = 100, variant: str = "arjovsky") -> float:
    """MSE of the best memoryless predictor (the constant E[y]): Var(y).

    arjovsky / tcn: Var(U1 + U2) = 1/6. hochreiter1997: (E[X1^2] + E[X2^2]) / 16 with
    E[X^2] = 1/3 unless the mark fell on the zeroed first pair (X1: 1/10; X2: 0.9 / (T/2 - 1)).
    """
    if variant not in ADDING_VARIANTS:
        raise ValueError(f"variant must be one of {ADDING_VARIANTS}, got {variant!r}")
    if variant != "hochreiter1997":
        return 1.0 / 6.0
    _check_int("seq_len", seq_len, HOCHREITER_MIN_SEQ_LEN)
    p_first_zero, p_second_zero = 0.1, 0.9 / (seq_len // 2 - 1)
    return ((1.0 - p_first_zero) + (1.0 - p_second_zero)) / 3.0 / 16.0


# ---- copy --------------------------------------------------------------------------------------
def copy(batch_size: int, seq_len: int, rng: np.random.Generator, n_symbols: int = 8,
         n_copy: int = 10, variant: str = "arjovsky"):
    """Copy problem -> (x int64 (T + 2 n_copy, B), y int64 (T + 2 n_copy, B)).

    Alphabet: blank 0, symbols 1..n_symbols, delimiter n_symbols + 1 (9 by default). "arjovsky":
    x = n_copy symbols, T - 1 blanks, delimiter, n_copy blanks; y = T + n_copy blanks, then the
    symbols. "exprnn" (Lezcano-Casado & Martinez-Rubio 2019): T blanks, so the delimiter comes one
    step later, on the step the first symbol is due. "tcn" (Bai et al. 2018): delimiters instead
    of blanks in the recall phase (n_copy + 1 of them); their model reads x as a raw scalar.
    """
    _check_common(batch_size, seq_len, rng, variant, COPY_VARIANTS)
    _check_symbols(n_symbols, n_copy)
    total = seq_len + 2 * n_copy
    delimiter = n_symbols + 1
    symbols = rng.integers(1, n_symbols + 1, (n_copy, batch_size), dtype=np.int64)
    x = np.zeros((total, batch_size), np.int64)
    y = np.zeros((total, batch_size), np.int64)
    x[:n_copy] = symbols
    y[total - n_copy:] = symbols
    if variant == "arjovsky":
        x[n_copy + seq_len - 1] = delimiter
    elif variant == "exprnn":
        x[n_copy + seq_len] = delimiter
    else:
        x[n_copy + seq_len - 1:] = delimiter
    return x, y


def copy_baseline(seq_len: int, n_symbols: int = 8, n_copy: int = 10) -> float:
    """Cross-entropy of the memoryless predictor: blanks for sure, then uniform over the symbols.

    n_copy ln(n_symbols) / (T + 2 n_copy): 0.173 for T = 100 with the defaults.
    """
    _check_int("seq_len", seq_len, 2)
    _check_symbols(n_symbols, n_copy)
    return n_copy * math.log(n_symbols) / (seq_len + 2 * n_copy)


# ---- selective copy (Gu & Dao 2023) --------------------------------------------------------------
def selective_copy(batch_size: int, seq_len: int, rng: np.random.Generator, n_symbols: int = 8,
                   n_copy: int = 10):
    """Selective copying -> (x int64 (T + n_copy, B), y int64 (T + n_copy, B)).

    Alphabet as copy's: blank (noise) 0, symbols 1..n_symbols, delimiter n_symbols + 1. x: T
    steps of blanks holding n_copy symbols at distinct uniformly random positions, then n_copy
    delimiters; y: T blanks, then the n_copy symbols in the order they appeared. Unlike copy the
    positions vary, so a model must select the symbols by content, not count steps (Gu & Dao
    2023, "Mamba", sec. 3.1 and appendix E.1).
    """
    _check_common(batch_size, seq_len, rng)
    _check_symbols(n_symbols, n_copy)
    if n_copy > seq_len:
        raise ValueError(f"selective_copy: n_copy ({n_copy}) must be at most seq_len "
                         f"({seq_len}): the symbols take distinct positions")
    positions = np.sort(rng.random((seq_len, batch_size)).argsort(axis=0)[:n_copy], axis=0)
    symbols = rng.integers(1, n_symbols + 1, (n_copy, batch_size), dtype=np.int64)
    total = seq_len + n_copy
    x = np.zeros((total, batch_size), np.int64)
    y = np.zeros((total, batch_size), np.int64)
    x[positions, np.arange(batch_size)] = symbols
    x[seq_len:] = n_symbols + 1
    y[seq_len:] = symbols
    return x, y


# ---- multi-query associative recall (Arora et al. 2023) ----------------------------------------
def mqar(batch_size: int, seq_len: int, rng: np.random.Generator, n_keys: int = 16,
         n_pairs: int = 8):
    """Multi-query associative recall -> (x int64 (T, B), y int64 (T, B)).

    Tokens: blank 0, keys 1..n_keys, values n_keys + 1..2 n_keys. x: n_pairs key-value pairs
    (k_1 v_1 k_2 v_2 ..., distinct keys, values drawn with replacement), then blanks holding
    every key once as a query, in random order at distinct random positions of the remaining
    T - 2 n_pairs steps. y: at each query step the class of its key's value (value - n_keys, in
    1..n_keys), 0 elsewhere: the value is due on the query's own step (Zoology's next-token
    target). Zoology (Arora et al. 2023) draws the query gaps from a power law and fills the gaps
    with random tokens; here the positions are uniform and the gaps blank.
    """
    _check_common(batch_size, seq_len, rng)
    _check_int("n_keys", n_keys, 2)
    _check_int("n_pairs", n_pairs, 1)
    if n_pairs > n_keys or 3 * n_pairs > seq_len:
        raise ValueError(f"mqar: n_pairs ({n_pairs}) must be at most n_keys ({n_keys}) and "
                         f"seq_len ({seq_len}) at least 3 n_pairs ({3 * n_pairs})")
    rows = np.arange(batch_size)
    keys = rng.random((n_keys, batch_size)).argsort(axis=0)[:n_pairs] + 1  # distinct per row
    values = rng.integers(1, n_keys + 1, (n_pairs, batch_size), dtype=np.int64)
    x = np.zeros((seq_len, batch_size), np.int64)
    y = np.zeros((seq_len, batch_size), np.int64)
    x[0:2 * n_pairs:2] = keys
    x[1:2 * n_pairs:2] = values + n_keys
    room = seq_len - 2 * n_pairs
    slots = 2 * n_pairs + rng.random((room, batch_size)).argsort(axis=0)[:n_pairs]
    order = rng.random((n_pairs, batch_size)).argsort(axis=0)  # which pair each query asks
    x[slots, rows] = keys[order, rows]
    y[slots, rows] = values[order, rows]
    return x, y


def recall_baseline(task: str, seq_len: int, n_symbols: int, n_copy: int) -> float:
    """Cross-entropy over all steps of a predictor that knows where answers are due but not
    what they are (uniform over the n_symbols symbols or values there, blanks elsewhere):
    n_copy ln(n_symbols) / steps, steps = T + n_copy (selective-copy) or T (mqar)."""
    steps = seq_len + n_copy if task == "selective-copy" else seq_len
    return n_copy * math.log(n_symbols) / steps


# ---- tasks as objects --------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """One task at one length: batches, the fixed test set, its baseline and its solved test.

    `loss_key` names the metric that is the training loss; `input_encoding` tells the model how
    to read x: "real" (float channels), "onehot" (n_symbols + 2 classes) or "scalar" (the raw
    symbol value as one float channel, TCN's copy). `output_size` is the read-out width.
    """

    name: str
    seq_len: int
    variant: str | None = None  # None: the task's first variant (arjovsky; scaled)
    n_symbols: int = 8
    n_copy: int = 10

    def __post_init__(self):
        if self.name not in TASKS:
            raise ValueError(f"task must be one of {tuple(TASKS)}, got {self.name!r}")
        if self.variant is None:
            object.__setattr__(self, "variant", VARIANTS[self.name][0])
        variants = VARIANTS[self.name]
        if self.variant not in variants:
            raise ValueError(f"variant for task {self.name!r} must be one of {variants}, got "
                             f"{self.variant!r}")
        _check_int("seq_len", self.seq_len, 2)
        _check_symbols(self.n_symbols, self.n_copy)
        if self.name == "adding" and self.variant == "hochreiter1997":
            _check_int("seq_len", self.seq_len, HOCHREITER_MIN_SEQ_LEN)
        sizes = resolve_sizes(self.name, self.variant, self.n_symbols, self.n_copy)
        object.__setattr__(self, "n_symbols", sizes[0])
        object.__setattr__(self, "n_copy", sizes[1])
        if self.is_recall:  # the generator's own checks, on a one-row draw
            self.make_batch(1, np.random.default_rng(0))

    # ---- shapes --------------------------------------------------------------------------------
    @property
    def is_copy(self) -> bool:
        """A per-step classification task (copy, selective-copy, mqar): logits at every step."""
        return self.name != "adding"

    @property
    def is_recall(self) -> bool:
        """selective-copy or mqar (the successors' tasks)."""
        return self.name in ("selective-copy", "mqar")

    @property
    def input_encoding(self) -> str:
        if not self.is_copy:
            return "real"
        return "scalar" if self.name == "copy" and self.variant == "tcn" else "onehot"

    @property
    def input_size(self) -> int:
        if self.name == "mqar":
            return 2 * self.n_symbols + 1
        return {"real": 2, "onehot": self.n_symbols + 2, "scalar": 1}[self.input_encoding]

    @property
    def output_size(self) -> int:
        return self.n_symbols + 1 if self.is_copy else 1

    @property
    def total_length(self) -> int:
        """Steps in a (padded) batch."""
        if self.name == "mqar":
            return self.seq_len
        if self.name == "selective-copy":
            return self.seq_len + self.n_copy
        if self.is_copy:
            return self.seq_len + 2 * self.n_copy
        if self.variant == "hochreiter1997":
            return self.seq_len + self.seq_len // 10
        return self.seq_len

    @property
    def loss_key(self) -> str:
        return "cross_entropy" if self.is_copy else "mse"

    # ---- data ----------------------------------------------------------------------------------
    def make_batch(self, batch_size: int, rng: np.random.Generator) -> Batch:
        if self.name == "selective-copy":
            return Batch(*selective_copy(batch_size, self.seq_len, rng, self.n_symbols,
                                         self.n_copy))
        if self.name == "mqar":
            return Batch(*mqar(batch_size, self.seq_len, rng, self.n_symbols, self.n_copy))
        if self.is_copy:
            return Batch(*copy(batch_size, self.seq_len, rng, self.n_symbols, self.n_copy,
                               self.variant))
        return Batch(*adding(batch_size, self.seq_len, rng, self.variant))

    def test_set(self, seed: int, size: int) -> Batch:
        """A fixed draw from the test stream of `seed`, apart from every training stream."""
        _check_int("size", size, 1)
        return self.make_batch(size, seed_stream(seed, STREAM_TEST))

    # ---- scores --------------------------------------------------------------------------------
    def baseline(self) -> float:
        """The memoryless predictor's loss (MSE or cross-entropy, as `loss_key`)."""
        if self.is_recall:
            return recall_baseline(self.name, self.seq_len, self.n_symbols, self.n_copy)
        if self.is_copy:
            return copy_baseline(self.seq_len, self.n_symbols, self.n_copy)
        return adding_baseline(self.seq_len, self.variant)

    def metrics(self, output: np.ndarray, batch: Batch) -> dict[str, float]:
        """Adding: output (B, 1) predictions; the others: output (T', B, C) logits."""
        if self.name == "mqar":
            return query_metrics(output, batch.y, batch.y != 0)
        if self.is_copy:
            return copy_metrics(output, batch.y, self.n_copy)
        tolerance = HOCHREITER_TOLERANCE if self.variant == "hochreiter1997" else None
        return regression_metrics(output, batch.y, tolerance)

    def is_solved(self, metrics: dict) -> bool:
        """Adding: test MSE < 0.01 (hochreiter1997 also: every |error| < 0.04, as the paper's
        "processed correctly"); copy, selective-copy, mqar: recall accuracy >= 99% (the last
        n_copy steps; mqar: the query steps)."""
        if self.is_copy:
            return metrics["recall_accuracy"] >= 0.99
        solved = metrics["mse"] < 0.01
        if self.variant == "hochreiter1997":
            solved = solved and metrics["within_tolerance"] >= 1.0
        return bool(solved)

    def describe(self) -> dict:
        return {"task": self.name, "variant": self.variant, "seq_len": self.seq_len,
                "baseline": self.baseline(),
                **({"n_symbols": self.n_symbols, "n_copy": self.n_copy} if self.is_copy else {})}


TASKS = {"adding": adding, "copy": copy, "selective-copy": selective_copy, "mqar": mqar}


def resolve_sizes(name: str, variant: str, n_symbols: int, n_copy: int) -> tuple[int, int]:
    """(n_symbols, n_copy) of a task: selective-copy and mqar take their variant's sizes where
    both are left at the copy task's defaults (8, 10); a paper's variant allows only its own."""
    sizes = VARIANT_SIZES.get((name, variant))
    if sizes is None or (n_symbols, n_copy) in ((DEFAULT_N_SYMBOLS, DEFAULT_N_COPY), sizes):
        return sizes or (n_symbols, n_copy)
    if variant != "scaled":
        raise ValueError(f"task {name!r} variant {variant!r} has n_symbols, n_copy = {sizes}, "
                         f"got {(n_symbols, n_copy)} (use variant 'scaled' for other sizes)")
    return n_symbols, n_copy


def get_task(name: str, seq_len: int, variant: str | None = None, n_symbols: int = 8,
             n_copy: int = 10) -> Task:
    """Task `name`; variant None is the task's first (arjovsky, or scaled for the new ones)."""
    return Task(name, seq_len, variant, n_symbols, n_copy)
