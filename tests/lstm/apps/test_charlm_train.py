"""Training the character model: resumable bit for bit, and the quick preset's threshold."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lstm.apps.charlm.cli import PRESETS
from lstm.apps.charlm.data import Corpus, load_corpus, read_modules
from lstm.apps.charlm.train import CharLMConfig, CharLMTrainer, train_charlm

# The quick preset's bar (README and docs/applications_charlm.md): seeds 0-2 reach 2.44-2.52
# test bits per character; an untrained model is at log2(162) = 7.3 and the unigram at 4.5.
QUICK_THRESHOLD = 2.6


@pytest.fixture(scope="module")
def small_corpus() -> Corpus:
    return Corpus(train=read_modules(["textwrap"]), valid=read_modules(["csv"])[:3000],
                  test=read_modules(["tempfile"])[:3000], python_version="test", directory="")


TINY = CharLMConfig(embedding_size=4, hidden_size=8, num_layers=2, batch_size=4, bptt=12,
                    steps=8, lr=1e-2, eval_every=4, checkpoint_every=None, seed=2)


def _copy(trainer: CharLMTrainer, path) -> CharLMTrainer:
    trainer.save(str(path))
    twin = CharLMTrainer(trainer.config, trainer.corpus)
    twin.load(str(path))
    return twin


def _same_parameters(a: CharLMTrainer, b: CharLMTrainer) -> bool:
    theirs = b.model.state_dict()
    return all(np.array_equal(v, theirs[k]) for k, v in a.model.state_dict().items())


def test_state_is_carried_within_an_epoch_and_reset_at_its_start(small_corpus, tmp_path):
    config = dataclasses.replace(TINY, bptt=2000)  # ~20k characters in 4 streams: 2 chunks
    a = CharLMTrainer(config, small_corpus)
    assert a.chunks_per_epoch == 2
    a.train_step()
    assert a.state is not None and not a.state[0].requires_grad
    assert np.abs(a.state[0].numpy()).max() > 0
    b = _copy(a, tmp_path / "1.npz")
    b.state = None  # chunk 1 continues chunk 0: dropping the carried state changes the step
    a2 = _copy(a, tmp_path / "2.npz")
    a2.train_step()
    b.train_step()
    assert not _same_parameters(a2, b)
    c = _copy(a2, tmp_path / "3.npz")
    c.state = (c.state[0] * 0 + 5, c.state[1] * 0 - 3)  # chunk 0 of epoch 2: reset anyway
    a2.train_step()
    c.train_step()
    assert _same_parameters(a2, c)


def test_resume_is_bit_identical(small_corpus, tmp_path):
    straight, _ = train_charlm(TINY, small_corpus, str(tmp_path / "a"), progress=False)
    half = dataclasses.replace(TINY, steps=5)
    train_charlm(half, small_corpus, str(tmp_path / "b"), progress=False)
    resumed, trainer = train_charlm(TINY, small_corpus, str(tmp_path / "b"), progress=False)
    assert resumed["steps"] == straight["steps"] == 8
    assert resumed["bits_per_char"] == straight["bits_per_char"]
    assert [r["valid_bits_per_char"] for r in resumed["curve"] if r["step"] % 4 == 0] == \
        [r["valid_bits_per_char"] for r in straight["curve"] if r["step"] % 4 == 0]
    again = CharLMTrainer(TINY, small_corpus)
    again.load(str(tmp_path / "a" / "checkpoint.npz"))
    for name, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(value, again.best_params[name])


@pytest.fixture(scope="module")
def stdlib_corpus() -> Corpus:
    """The command's training text (its 162 characters), short validation and test texts."""
    corpus = load_corpus()
    return dataclasses.replace(corpus, valid=corpus.valid[:2000], test=corpus.test[:3000])


@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_a_compiled_resume_is_bit_identical(stdlib_corpus, tmp_path, dropout):
    """lstm charlm's default (--compile): the calls that trace ran the step eagerly, and a
    resumed run's first call is another step than a straight run's, so the two drifted apart by
    float rounding (the weights here; with the whole test text, bits per character 5.545040221
    against 5.545040237); each traced call is now undone and run by its program
    (apps.common.trainer.program_only)."""
    config = CharLMConfig(embedding_size=8, hidden_size=16, num_layers=2, batch_size=16,
                          bptt=50, steps=20, lr=5e-3, eval_every=10, checkpoint_every=None,
                          dropout=dropout, seed=0)
    straight, first = train_charlm(config, stdlib_corpus, str(tmp_path / "a"),
                                   progress=False, compile=True)
    train_charlm(dataclasses.replace(config, steps=10), stdlib_corpus, str(tmp_path / "b"),
                 progress=False, compile=True)  # mid-epoch: the carried state is a tensor
    resumed, second = train_charlm(config, stdlib_corpus, str(tmp_path / "b"),
                                   progress=False, compile=True)
    assert resumed["steps"] == straight["steps"] == 20
    assert _same_parameters(first, second)
    assert resumed["bits_per_char"] == straight["bits_per_char"]
    assert [r["valid_bits_per_char"] for r in resumed["curve"]] == \
        [r["valid_bits_per_char"] for r in straight["curve"]]


def test_resume_refuses_another_config(small_corpus, tmp_path):
    train_charlm(dataclasses.replace(TINY, steps=2), small_corpus, str(tmp_path), progress=False)
    with pytest.raises(ValueError, match=r"fields \['hidden_size'\] differ"):
        train_charlm(dataclasses.replace(TINY, hidden_size=9), small_corpus, str(tmp_path),
                     progress=False)


def test_best_validation_parameters_are_scored(small_corpus):
    result, trainer = train_charlm(TINY, small_corpus, progress=False)
    best = min(r["valid_bits_per_char"] for r in result["curve"])
    assert result["best_step"] == next(r["step"] for r in result["curve"]
                                       if r["valid_bits_per_char"] == best)
    assert result["valid_bits_per_char"] == pytest.approx(best, rel=1e-6)  # all of valid scored
    assert result["train_chars"] == 8 * 4 * 12
    assert result["curve"][0]["step"] == 0 and result["curve"][-1]["step"] == 8


def test_zero_steps_scores_the_initial_parameters(small_corpus):
    # steps=0 is allowed (low=0): the untrained model is scored; it was a crash (the progress
    # bar's length taken as "no budget")
    result, _ = train_charlm(dataclasses.replace(TINY, steps=0), small_corpus, progress=False)
    assert result["steps"] == 0 and result["train_chars"] == 0 and result["best_step"] == 0
    assert [r["step"] for r in result["curve"]] == [0]
    # an untrained model predicts nearly uniformly: about log2(vocabulary) bits per character
    assert result["bits_per_char"] == pytest.approx(np.log2(result["vocab_size"]), rel=0.05)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="bptt must be an integer >= 1, got 0"):
        CharLMConfig(bptt=0)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got 1.0 "
                                         r"\(option --dropout\)"):
        CharLMConfig(dropout=1.0)


def test_quick_preset_reaches_its_threshold():
    """The quick preset's training (500 steps of 32 x 100 characters, about 40 s on one core)."""
    settings = {k: v for k, v in PRESETS["quick"].items() if k != "ngram_max_order"}
    config = CharLMConfig(**settings, checkpoint_every=None, seed=0)
    result, _ = train_charlm(config, load_corpus(), progress=False)
    assert result["bits_per_char"] < QUICK_THRESHOLD, result["curve"]
    assert result["curve"][0]["valid_bits_per_char"] > 7.0  # it started untrained
