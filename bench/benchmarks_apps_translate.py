"""asv: numbers in words, English -> French (lstm translate): test scores and epoch time.

`TranslateScores` trains the quick preset (seed 0) once per attention (additive,
multiplicative, none) in setup_cache and tracks the test exact match, chrF and BLEU of greedy
decoding and the exact match of beam search; `TranslateEpoch` times one training epoch of the
quick model after a warm-up epoch that compiles the kernels. Skipped where num2words or
sacrebleu (the apps extra) or lstm.apps.translate is missing.
"""

from __future__ import annotations

from bench.app_cases import Epochs, Tracked, epoch_of, tracked, unavailable

ATTENTIONS = ["additive", "multiplicative", "none"]
METRICS = ("exact_match", "chrf", "bleu", "exact_match_beam")


def _unavailable() -> str | None:
    return unavailable(("num2words", "sacrebleu"), "lstm.apps.translate.train")


def train_attentions(*_) -> dict:
    """{attention: {metric: value}} of the quick preset, seed 0, or {"unavailable": reason}."""
    reason = _unavailable()
    if reason:
        return {"unavailable": reason}
    from lstm.apps.translate import APP
    from lstm.apps.translate.train import train_translator

    out = {}
    for attention, config in APP.asv_cases().items():
        result = train_translator(config)[0]
        out[attention] = {m: result[m] for m in METRICS}
    return out


train_attentions.timeout = 900


class TranslateScores(Tracked, cache=train_attentions, over={"attention": ATTENTIONS}):
    """Test scores on numbers from held-out blocks of 1000 (quick preset: below 100,000)."""

    track_exact_match = tracked("fraction", lambda r, a: r[a]["exact_match"])
    track_exact_match_beam = tracked("fraction", lambda r, a: r[a]["exact_match_beam"])
    track_chrf = tracked("chrF", lambda r, a: r[a]["chrf"])
    track_bleu = tracked("BLEU", lambda r, a: r[a]["bleu"])


class TranslateEpoch(Epochs, unavailable=_unavailable, over={"attention": ATTENTIONS}):
    """Wall time of one training epoch of the quick preset's model (4,000 pairs, batch 64)."""

    def prepare(self, attention):
        import numpy as np

        from lstm.apps.translate import APP
        from lstm.apps.translate import train as translate
        from minigrad import optim

        config = APP.asv_cases()[attention]
        corpus = translate.load_corpus(config)
        rng = np.random.default_rng(0)
        model = translate.build_model(config, corpus, rng)
        source_ids, target_ids = corpus.ids("train")
        return epoch_of(model, optim.Adam(model.parameters(), lr=config.lr),
                        translate.translator_loss(model),
                        lambda: translate.batches(source_ids, target_ids, config.batch_size,
                                                  rng), config.clip)
