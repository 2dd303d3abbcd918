"""Training and evaluating a Seq2Seq translator; one results row per run.

A run draws its numbers (split_numbers: whole blocks held out for validation and test), builds
the vocabularies from the training pairs, trains with teacher forcing (cross-entropy over the
target tokens and </s>, padding ignored) by Adam on shuffled mini-batches, keeps the epoch whose
greedy exact match on the validation numbers is best, and scores the test numbers with greedy
decoding and beam search: exact match of the whole sentence, chrF and BLEU (sacrebleu, on the
detokenised text). The test set chooses nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad import optim

from ...runs.options import setting
from ..common.config import AppConfig, from_preset, impl_setting
from ..common.padding import buckets, to_bucket
from ..common.trainer import EpochTrainer
from .data import (
    EOS_ID,
    LANGUAGES,
    PAD_ID,
    build_vocabularies,
    detokenize,
    pad_batch,
    pairs,
    split_numbers,
)
from .decode import beam_search, greedy
from .model import ATTENTIONS, Seq2Seq

KIND = "translate"
EXAMPLES = 4  # test sentences whose attention weights a run keeps for the heatmaps


@dataclass(frozen=True)
class TranslateConfig(AppConfig):
    """One run's settings (JSON-able; its canonical JSON is the run's identity)."""

    source: str = setting("en", "source language", choices=LANGUAGES)
    target: str = setting("fr", "target language", choices=LANGUAGES)
    max_number: int = setting(999_999, "largest number", low=1)
    block_size: int = setting(1000, "numbers per held-out block", low=1)
    held_out_fraction: float = setting(0.1, "fraction of the blocks held out for validation "
                                       "and test", low=0, high=0.5, strict=True, high_open=True)
    n_train: int = setting(20_000, "training pairs", low=1)
    n_val: int = setting(500, "validation pairs", low=1)
    n_test: int = setting(1000, "test pairs", low=1)
    data_seed: int = setting(0, "seed of the numbers drawn and the blocks held out", low=0)
    attention: str = setting("additive", "additive (Bahdanau), multiplicative (Luong "
                             "'general'), none (the encoder's final state only)",
                             choices=ATTENTIONS)
    embedding_size: int = setting(32, "word embedding size", low=1)
    hidden_size: int = setting(64, "LSTM units (per direction in the encoder)", low=1)
    attention_size: int = setting(64, "additive attention's hidden size", low=1)
    epochs: int = setting(10, "passes over the training pairs", low=1)
    batch_size: int = setting(64, "pairs per step", low=1)
    lr: float = setting(3e-3, "Adam learning rate", low=0, strict=True)
    clip: float = setting(1.0, "gradient global-norm clipping threshold (0: none)", low=0)
    beam_width: int = setting(4, "beam search width", low=1)
    seed: int = setting(0, "seed of the weights and batch order", low=0)
    impl: str = impl_setting()


PRESETS = {
    # quick: numbers below 100,000, about a minute on 2 idle cores
    "quick": {"max_number": 99_999, "block_size": 1000, "n_train": 4000, "n_val": 200,
              "n_test": 500, "embedding_size": 24, "hidden_size": 48, "attention_size": 48,
              "epochs": 6, "batch_size": 64, "lr": 5e-3},
    # default: numbers below a million, 100 blocks of 1000 held out for test; with attention
    # the validation exact match reached 1.0 by the second epoch of a first 10-epoch run
    "default": {"max_number": 999_999, "block_size": 1000, "n_train": 20_000, "n_val": 500,
                "n_test": 1000, "embedding_size": 32, "hidden_size": 64, "attention_size": 64,
                "epochs": 5, "batch_size": 64, "lr": 3e-3},
}


def preset_config(preset: str, **overrides) -> TranslateConfig:
    """The preset's settings with `overrides` (None values ignored)."""
    return from_preset(TranslateConfig, PRESETS, preset, overrides)


@dataclass
class Corpus:
    """The split's numbers, token pairs, vocabularies and id sequences."""

    split: object
    train: list
    val: list
    test: list
    source_vocab: object
    target_vocab: object

    def ids(self, part: str):
        data = getattr(self, part)
        return ([self.source_vocab.encode(s) for s, _ in data],
                [self.target_vocab.encode(t) for _, t in data])


def load_corpus(config: TranslateConfig) -> Corpus:
    split = split_numbers(config.max_number, config.block_size, config.n_train, config.n_val,
                          config.n_test, config.held_out_fraction, config.data_seed)
    train, val, test = (pairs(getattr(split, p), config.source, config.target)
                        for p in ("train", "val", "test"))
    source_vocab, target_vocab = build_vocabularies(train)
    return Corpus(split, train, val, test, source_vocab, target_vocab)


def build_model(config: TranslateConfig, corpus: Corpus, rng=None, dtype=np.float32) -> Seq2Seq:
    return Seq2Seq(len(corpus.source_vocab), len(corpus.target_vocab), config.embedding_size,
                   config.hidden_size, config.attention, config.attention_size, config.impl,
                   rng=rng, dtype=dtype)


def max_target_len(corpus: Corpus) -> int:
    """The decoding limit: the longest training target plus a margin of 5 (with </s>)."""
    return max(len(t) for _, t in corpus.train) + 6


def translate(model: Seq2Seq, corpus: Corpus, sources, beam_width: int = 1,
              batch_size: int = 256):
    """Detokenised translations of token lists `sources`, and (greedy only) per sentence its
    attention weights (T_i, S_i) with the T_i tokens emitted (up to </s>), or None."""
    texts, weights = [], []
    limit = max_target_len(corpus)
    for start in range(0, len(sources), batch_size):
        part = [corpus.source_vocab.encode(s) for s in sources[start:start + batch_size]]
        src, lengths = pad_batch(part)
        if beam_width == 1:
            ids, alpha = greedy(model, src, lengths, limit)
        else:
            (ids, _), alpha = beam_search(model, src, lengths, beam_width, limit), None
        for b in range(len(part)):
            texts.append(detokenize(corpus.target_vocab.decode(ids[b])))
            if alpha is not None:
                ends = np.flatnonzero(ids[b] == EOS_ID)
                steps = int(ends[0]) + 1 if ends.size else alpha.shape[1]
                weights.append((alpha[b, :steps, :lengths[b]],
                                [corpus.target_vocab.tokens[i] for i in ids[b, :steps]]))
    return texts, (weights or None)


def scores(hypotheses, references) -> dict:
    """Exact match, chrF and BLEU (sacrebleu) of detokenised hypotheses."""
    try:
        import sacrebleu
    except ImportError as e:
        raise RuntimeError("lstm translate needs sacrebleu: pip install "
                           "'minigrad-lstm[apps]'") from e
    exact = float(np.mean([h == r for h, r in zip(hypotheses, references)]))
    return {"exact_match": exact,
            "chrf": float(sacrebleu.corpus_chrf(hypotheses, [references]).score),
            "bleu": float(sacrebleu.corpus_bleu(hypotheses, [references]).score)}


def block_exact_match(corpus: Corpus, hypotheses, references, block_size: int) -> dict:
    """{first number of a test block: exact match of its test numbers} (keys as strings)."""
    blocks = np.asarray(corpus.split.test) // block_size
    right = np.array([h == r for h, r in zip(hypotheses, references)])
    return {str(int(b) * block_size): float(right[blocks == b].mean())
            for b in np.unique(blocks)}


def batches(source_ids, target_ids, batch_size: int, rng, sizes=None):
    """One shuffled pass of teacher-forced mini-batches: ((source, lengths, target), None),
    the target padded with <s> and </s>, lengths an int64 Tensor; sizes: (source, target)
    padded lengths (common/padding.py's buckets), each batch padded to the shortest that holds
    it, else to its own longest."""
    order = rng.permutation(len(source_ids))
    source_sizes, target_sizes = sizes or (None, None)
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        src, lengths = pad_batch([source_ids[i] for i in index])
        tgt, _ = pad_batch([target_ids[i] for i in index], bos_eos=True)
        yield (mg.tensor(to_bucket(src, 1, source_sizes, PAD_ID)), mg.tensor(lengths),
               mg.tensor(to_bucket(tgt, 1, target_sizes, PAD_ID))), None


def translator_loss(model: Seq2Seq):
    """loss_of(source, lengths, target): the mean token cross-entropy, padding ignored."""

    def loss_of(src, lengths, tgt):
        logits, _ = model(src, lengths, tgt[:, :-1])
        return mg.cross_entropy(logits, tgt[:, 1:], ignore_index=PAD_ID)

    return loss_of


def train_translator(config: TranslateConfig, corpus: Corpus | None = None,
                     progress: bool = False,
                     compile: bool = False) -> tuple[dict, Seq2Seq, Corpus]:  # noqa: A002
    """Train one model; its test scores, learning curve and attention examples (`compile`:
    the training step through mg.compile)."""
    corpus = corpus or load_corpus(config)
    rng = np.random.default_rng(config.seed)
    model = build_model(config, corpus, rng)
    trainer = EpochTrainer(model, optim.Adam(model.parameters(), lr=config.lr),
                           translator_loss(model), clip=config.clip, compile=compile,
                           command="lstm translate", progress=progress,
                           desc=f"translate {config.attention} s{config.seed}")
    source_ids, target_ids = corpus.ids("train")
    val_sources = [s for s, _ in corpus.val]
    val_refs = [detokenize(t) for _, t in corpus.val]

    def evaluate(epoch, loss):
        val_exact = scores(translate(model, corpus, val_sources)[0], val_refs)["exact_match"]
        return {"epoch": epoch, "train_loss": loss, "val_exact_match": val_exact}, val_exact

    sizes = (buckets(max(map(len, source_ids))), buckets(max(map(len, target_ids)) + 2)) \
        if compile else None  # a few padded shapes for the compiled step, not one per batch
    started = time.perf_counter()
    fit = trainer.fit(config.epochs, -(-len(source_ids) // config.batch_size),
                      lambda: batches(source_ids, target_ids, config.batch_size, rng, sizes),
                      evaluate, better=lambda a, b: a > b)
    train_time = time.perf_counter() - started
    test_sources = [s for s, _ in corpus.test]
    references = [detokenize(t) for _, t in corpus.test]
    hypotheses, weights = translate(model, corpus, test_sources)
    beam = translate(model, corpus, test_sources, config.beam_width)[0]
    result = {**scores(hypotheses, references),
              **{k + "_beam": v for k, v in scores(beam, references).items()},
              "val_exact_match": fit.best_score, "best_epoch": fit.best_epoch,
              "curve": fit.curve,
              "train_time": train_time, "epoch_time": train_time / config.epochs,
              "block_exact_match": block_exact_match(corpus, hypotheses, references,
                                                     config.block_size),
              "n_parameters": model.num_parameters(), "n_train": len(corpus.train),
              "n_test": len(corpus.test), "test_blocks": corpus.split.test_blocks.tolist(),
              "errors": [{"number": int(n), "output": h, "reference": r}
                         for n, h, r in zip(corpus.split.test, hypotheses, references)
                         if h != r][:20]}
    if weights is not None:
        result["attention_examples"] = [
            {"number": int(corpus.split.test[i]), "source": corpus.test[i][0],
             "output": hypotheses[i], "output_tokens": weights[i][1],
             "weights": np.round(weights[i][0], 4).tolist()}
            for i in range(min(EXAMPLES, len(weights)))]
    return result, model, corpus


def asv_cases() -> dict:
    """{attention: the quick preset's config, seed 0}: what bench/benchmarks_apps_translate.py
    trains and tracks."""
    return {a: preset_config("quick", attention=a, seed=0) for a in ATTENTIONS}
