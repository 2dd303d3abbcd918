"""Numbers written out in English translated into French words, both from `num2words`.

A pair is (num2words(n), num2words(n, lang="fr")) for an integer n in [0, max_number]. The
integers are cut into blocks of `block_size` consecutive numbers; whole blocks are held out for
validation and test (block 0, which holds the words every other number is built from, always
trains), so every test number lies in a range no training number comes from and the model must
compose the words of its thousands (or hundreds) part from other contexts. Tokens are words,
with "-" and "," as tokens of their own: French joins "quatre-vingt-dix-sept" with hyphens and
English "twenty-one" too, so a hyphen is something to translate, not to memorise per word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
LANGUAGES = ("en", "fr", "de", "es", "it")
_TOKEN = re.compile(r"[^\s,-]+|[,-]")


def _num2words():
    try:
        from num2words import num2words
    except ImportError as e:
        raise RuntimeError("lstm translate needs the num2words package: pip install "
                           "'minigrad-lstm[apps]'") from e
    return num2words


def tokenize(text: str) -> list[str]:
    """Words, '-' and ',' as separate tokens."""
    return _TOKEN.findall(text)


def detokenize(tokens) -> str:
    """The inverse of tokenize on num2words' spelling: no spaces around '-', none before ','."""
    text = " ".join(tokens)
    return text.replace(" - ", "-").replace(" ,", ",")


class Vocabulary:
    """Token <-> id; ids 0-3 are <pad>, <s>, </s>, <unk>."""

    def __init__(self, tokens):
        tokens = list(tokens)
        if tokens[:4] != list(SPECIALS):
            tokens = list(SPECIALS) + sorted(set(tokens) - set(SPECIALS))
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens) -> list[int]:
        return [self.index.get(t, UNK_ID) for t in tokens]

    def decode(self, ids) -> list[str]:
        """Tokens of `ids` up to the first </s> (specials dropped)."""
        out = []
        for i in ids:
            if int(i) == EOS_ID:
                break
            if int(i) > UNK_ID:
                out.append(self.tokens[int(i)])
        return out


@dataclass(frozen=True)
class Split:
    """The numbers of each part and the blocks they come from."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    train_blocks: np.ndarray
    val_blocks: np.ndarray
    test_blocks: np.ndarray


def split_numbers(max_number: int, block_size: int, n_train: int, n_val: int, n_test: int,
                  held_out_fraction: float = 0.1, seed: int = 0) -> Split:
    """Sample the numbers of each part from disjoint sets of whole blocks.

    A fraction `held_out_fraction` of the blocks (at least one each) goes to validation and as
    many to test; block 0 always trains. Numbers are drawn without replacement inside each part
    (all of a part when it holds fewer)."""
    if max_number < 1 or block_size < 1:
        raise ValueError(f"max_number and block_size must be >= 1, got {max_number}, "
                         f"{block_size}")
    n_blocks = max_number // block_size + 1
    held = max(1, int(round(held_out_fraction * n_blocks)))
    if n_blocks < 2 * held + 1:
        raise ValueError(f"{n_blocks} blocks of {block_size} up to {max_number} cannot hold out "
                         f"{held} for validation and {held} for test and still train")
    rng = np.random.default_rng(seed)
    order = 1 + rng.permutation(n_blocks - 1)
    val_blocks, test_blocks = np.sort(order[:held]), np.sort(order[held:2 * held])
    train_blocks = np.sort(np.concatenate([[0], order[2 * held:]]))

    def draw(blocks, n):
        numbers = (blocks[:, None] * block_size + np.arange(block_size)).ravel()
        numbers = numbers[numbers <= max_number]
        if n >= len(numbers):
            return rng.permutation(numbers)
        return rng.choice(numbers, size=n, replace=False)

    return Split(draw(train_blocks, n_train), draw(val_blocks, n_val), draw(test_blocks, n_test),
                 train_blocks, val_blocks, test_blocks)


def pairs(numbers, source: str = "en", target: str = "fr") -> list[tuple[list, list]]:
    """(source tokens, target tokens) of each number."""
    for lang in (source, target):
        if lang not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, got {lang!r}")
    num2words = _num2words()
    return [(tokenize(num2words(int(n), lang=source)), tokenize(num2words(int(n), lang=target)))
            for n in numbers]


def build_vocabularies(train_pairs) -> tuple[Vocabulary, Vocabulary]:
    """Source and target vocabularies of the training pairs only."""
    return (Vocabulary(t for s, _ in train_pairs for t in s),
            Vocabulary(t for _, s in train_pairs for t in s))


def pad_batch(sequences, bos_eos: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(B, T) int64 ids padded with PAD_ID, and the lengths (B,); with bos_eos each sequence is
    wrapped as <s> ids </s>."""
    if bos_eos:
        sequences = [[BOS_ID, *s, EOS_ID] for s in sequences]
    lengths = np.array([len(s) for s in sequences], np.int64)
    if lengths.size == 0 or lengths.min() < 1:
        raise ValueError("pad_batch: every sequence needs at least one token")
    ids = np.full((len(sequences), int(lengths.max())), PAD_ID, np.int64)
    for b, s in enumerate(sequences):
        ids[b, :len(s)] = s
    return ids, lengths
