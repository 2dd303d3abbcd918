"""What the language model is judged against on the same test text: a Kneser-Ney n-gram built here
(order chosen on validation) and the general-purpose compressors in Python's standard library.

A compressor's figure is 8 * compressed bytes / characters of the test text. "Primed" compresses
the training text followed by the test text and counts only the bytes the test text adds, so the
compressor, like the models, has seen the training text first (it helps lzma, whose window holds
all of it, and bz2, whose last 900 kB block holds the test text with the end of the training
text; gzip's 32 KiB window forgets it).
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import time

from ...runs import checkpoint as ckpt
from .data import Corpus, Vocabulary
from .ngram import KneserNey, choose_order

COMPRESSORS = {
    "gzip": lambda data: gzip.compress(data, compresslevel=9, mtime=0),
    "bz2": lambda data: bz2.compress(data, compresslevel=9),
    "lzma": lambda data: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME),
}


def compressed_bits_per_char(text: str, method: str, prime: str = "") -> float:
    """8 * (bytes `method` writes for prime + text - bytes for prime alone) / len(text)."""
    if method not in COMPRESSORS:
        raise ValueError(f"method must be one of {tuple(COMPRESSORS)}, got {method!r}")
    if not text:
        raise ValueError("compressed_bits_per_char: empty text")
    compress = COMPRESSORS[method]
    size = len(compress((prime + text).encode("utf-8")))
    if prime:
        size -= len(compress(prime.encode("utf-8")))
    return 8.0 * size / len(text)


def ngram_baseline(corpus: Corpus, vocab: Vocabulary, max_order: int) -> dict:
    """Interpolated modified Kneser-Ney of every order up to max_order on the training text,
    the order with the best validation figure, and its test bits per character."""
    model = KneserNey(vocab.encode(corpus.train), len(vocab), max_order)
    order, valid = choose_order(model, vocab.encode(corpus.valid))
    return {"ngram_order": order, "ngram_max_order": max_order,
            "ngram_bits_per_char": model.bits_per_char(vocab.encode(corpus.test), order),
            "ngram_valid_bits_per_char": valid[order],
            "ngram_valid_by_order": {str(k): v for k, v in valid.items()}}


def compute_baselines(corpus: Corpus, vocab: Vocabulary, max_order: int = 20) -> dict:
    """Every baseline figure on the test split (plus how long they took)."""
    started = time.perf_counter()
    out = ngram_baseline(corpus, vocab, max_order)
    for method in COMPRESSORS:
        out[f"{method}_bits_per_char"] = compressed_bits_per_char(corpus.test, method)
        out[f"{method}_primed_bits_per_char"] = compressed_bits_per_char(corpus.test, method,
                                                                         corpus.train)
    out["baseline_seconds"] = time.perf_counter() - started
    return out


def cached_baselines(corpus: Corpus, vocab: Vocabulary, max_order: int, cache_dir: str) -> dict:
    """compute_baselines, kept in cache_dir/charlm_baselines.json per corpus and max_order."""
    described = corpus.describe()
    key = "-".join(described[split]["sha256"][:16] for split in ("train", "valid", "test"))
    key += f"-order{max_order}"
    path = os.path.join(cache_dir, "charlm_baselines.json")
    cache = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            cache = json.load(f)
    if key not in cache:
        cache[key] = compute_baselines(corpus, vocab, max_order)
        os.makedirs(cache_dir, exist_ok=True)
        ckpt.write_json(path, cache)
    return cache[key]
