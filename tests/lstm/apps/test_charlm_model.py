"""The character model: bits per character by hand and against torch, streams, sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstm.apps.charlm.model import (
    IGNORE,
    CharLM,
    bits_per_char,
    evaluation_streams,
    sample,
)


def constant_model(probabilities) -> CharLM:
    """A model whose every prediction is `probabilities`: zero weights, decoder bias = log p."""
    model = CharLM(len(probabilities), embedding_size=3, hidden_size=4, num_layers=2, rng=0)
    state = {k: np.zeros_like(v) for k, v in model.state_dict().items()}
    state["decoder.bias"] = np.log(np.asarray(probabilities, dtype=np.float32))
    model.load_state_dict(state)
    return model


def test_bits_per_char_by_hand():
    # ids of "abca" with a=0, b=1, c=2 (3 = unknown); p = 1/2, 1/4, 1/8, 1/8.
    # The targets b, c, a cost 2, 3 and 1 bits: 2 bits per character.
    model = constant_model([0.5, 0.25, 0.125, 0.125])
    ids = np.array([0, 1, 2, 0])
    for streams in (1, 2, 3):
        assert bits_per_char(model, ids, streams=streams) == pytest.approx(2.0, abs=1e-6)
    # "aaaa": three targets of 1 bit each
    assert bits_per_char(model, np.zeros(4, np.int64), streams=2) == pytest.approx(1.0, abs=1e-6)


def test_evaluation_streams_count_every_target_once():
    ids = np.arange(11)
    inputs, targets = evaluation_streams(ids, 3)  # 10 targets over 3 streams of 4
    assert inputs.shape == targets.shape == (4, 3)
    counted = targets[targets != IGNORE]
    assert sorted(counted.tolist()) == list(range(1, 11))
    np.testing.assert_array_equal(targets[targets != IGNORE], inputs[targets != IGNORE] + 1)


def test_bits_per_char_matches_torch_and_does_not_depend_on_chunking(torch):
    rng = np.random.default_rng(0)
    model = CharLM(7, embedding_size=5, hidden_size=6, num_layers=2, rng=1)
    ids = rng.integers(0, 7, 200)
    reference = torch_bits_per_char(torch, model, ids)
    for chunk in (7, 64, 500):
        assert bits_per_char(model, ids, streams=1, chunk=chunk) == pytest.approx(
            reference, rel=1e-5)
    # several streams start from a zero state part-way through: close, not equal
    assert bits_per_char(model, ids, streams=4) == pytest.approx(reference, rel=0.05)


def torch_bits_per_char(torch, model: CharLM, ids: np.ndarray) -> float:
    weights = {k: torch.tensor(v) for k, v in model.state_dict().items()}
    embedding = torch.nn.Embedding(model.vocab_size, model.embedding_size)
    lstm = torch.nn.LSTM(model.embedding_size, model.hidden_size, model.num_layers)
    decoder = torch.nn.Linear(model.hidden_size, model.vocab_size)
    for prefix, module in (("embedding.", embedding), ("lstm.", lstm), ("decoder.", decoder)):
        module.load_state_dict({k[len(prefix):]: v for k, v in weights.items()
                                if k.startswith(prefix)})
    with torch.no_grad():
        out, _ = lstm(embedding(torch.tensor(ids[:-1, None])))
        loss = torch.nn.functional.cross_entropy(decoder(out)[:, 0], torch.tensor(ids[1:]))
    return float(loss) / math.log(2.0)


def test_sample_is_seeded_and_sharpens_with_temperature():
    model = constant_model([0.6, 0.3, 0.05, 0.05])
    a = sample(model, np.array([0, 1]), 400, temperature=1.0, rng=3)
    b = sample(model, np.array([0, 1]), 400, temperature=1.0, rng=3)
    np.testing.assert_array_equal(a, b)
    assert abs(np.mean(a == 0) - 0.6) < 0.08
    cold = sample(model, np.array([0]), 400, temperature=0.25, rng=3)
    # p^4 renormalised: 0.6^4 / (0.6^4 + 0.3^4 + 2 * 0.05^4) = 0.94
    assert np.mean(cold == 0) > 0.9
    with pytest.raises(ValueError, match="temperature must be > 0"):
        sample(model, np.array([0]), 3, temperature=0.0)
    with pytest.raises(ValueError, match="at least one character"):
        sample(model, np.array([], np.int64), 3)


def test_bad_ids_are_named():
    model = CharLM(5, 2, 3, 1, rng=0)
    with pytest.raises(ValueError, match=r"ids must be 2-d \(seq_len, batch\)"):
        model(np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        CharLM(5, 2, 0)
