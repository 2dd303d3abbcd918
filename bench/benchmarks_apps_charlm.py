"""asv: the character language model of `lstm charlm` on the stdlib's source.

`CharLMTestMetric` trains once, in setup_cache, within BUDGET (the quick preset's model and
learning rate, fewer steps: about 15 s on one core) and reads the test bits per character of the
parameters with the best validation figure, next to the Kneser-Ney n-gram's (order chosen on
validation among 1..NGRAM_MAX_ORDER) and bz2 primed with the training text: a commit that makes
the model learn worse, or the n-gram count wrong, shows. `CharLMEpoch` times one training epoch
over one small module (textwrap.py, about 20k characters: six chunks of 32 streams x 100
characters) with the same model.
"""

from __future__ import annotations

from bench.app_cases import Tracked, tracked
from bench.asv_cases import skip

BUDGET = {"embedding_size": 32, "hidden_size": 128, "num_layers": 2, "batch_size": 32,
          "bptt": 100, "steps": 200, "lr": 5e-3, "eval_every": 100, "valid_chars": 20_000,
          "checkpoint_every": None, "seed": 0}
NGRAM_MAX_ORDER = 8
EPOCH_MODULES = {"train": ("textwrap",), "valid": ("csv",), "test": ("base64",)}


def _charlm_modules():
    try:
        from lstm.apps.charlm import baselines as charlm_baselines
        from lstm.apps.charlm import data as charlm_data
        from lstm.apps.charlm import train as charlm_train
    except ImportError as e:
        return None, f"lstm.apps.charlm not importable at this commit ({e})"
    return (charlm_data, charlm_train, charlm_baselines), None


def train_budget(*_) -> dict:
    """Test bits per character of the model and of the n-gram (or why they cannot run).

    (asv calls setup_cache as a method of each class sharing it, hence the ignored argument.)
    """
    modules, reason = _charlm_modules()
    if modules is None:
        return {"unavailable": reason}
    data, train, baselines = modules
    corpus = data.load_corpus()
    result, trainer = train.train_charlm(train.CharLMConfig(**BUDGET), corpus, progress=False)
    ngram = baselines.ngram_baseline(corpus, trainer.vocab, NGRAM_MAX_ORDER)
    return {"bits_per_char": result["bits_per_char"],
            "ngram_bits_per_char": ngram["ngram_bits_per_char"],
            "bz2_primed_bits_per_char": baselines.compressed_bits_per_char(
                corpus.test, "bz2", corpus.train)}


train_budget.timeout = 1800


class CharLMTestMetric(Tracked, cache=train_budget):
    """Test bits per character after BUDGET (an untrained model: log2(vocabulary) ~ 7.3)."""

    track_bits_per_char = tracked("bits per character", lambda r: r["bits_per_char"])
    track_ngram_bits_per_char = tracked("bits per character",
                                        lambda r: r["ngram_bits_per_char"])
    track_bz2_primed_bits_per_char = tracked(
        "bits per character", lambda r: r["bz2_primed_bits_per_char"],
        "bz2 -9 on the training text then the test text, the test's share (1.704).")


class CharLMEpoch:
    """One epoch of stateful truncated BPTT over textwrap.py (forward, backward, clip, Adam)."""

    timeout = 300

    def setup(self):
        modules, reason = _charlm_modules()
        if modules is None:
            skip(reason)
        data, train, _ = modules
        corpus = data.corpus_of(EPOCH_MODULES)
        self.trainer = train.CharLMTrainer(train.CharLMConfig(**BUDGET), corpus)
        self.trainer.train_step()  # compile and warm the kernels outside the timing

    def time_training_epoch(self):
        for _ in range(self.trainer.chunks_per_epoch):
            self.trainer.train_step()
