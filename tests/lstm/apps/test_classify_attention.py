"""Masked additive attention, mean and last pooling: exact masking, gradients, torch."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm import LSTM
from lstm.apps.classify.attention import (
    AdditiveAttention,
    last_pool,
    mean_pool,
    valid_mask,
)

LENGTHS = np.array([5, 2, 1, 4])


def _outputs(rng, steps=5, batch=4, features=6, dtype=np.float32):
    x = rng.standard_normal((steps, batch, features)).astype(dtype)
    x[~valid_mask(LENGTHS, steps)] = 0.0  # what a recurrent layer gives past each length
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weights_sum_to_one_over_valid_frames_and_are_zero_past_each_length(rng, dtype):
    attention = AdditiveAttention(6, 3, rng=0, dtype=dtype)
    outputs = _outputs(rng, dtype=dtype)
    outputs[~valid_mask(LENGTHS, 5)] = 1e3  # even large padding values get no weight
    context, weights = attention(mg.tensor(outputs), LENGTHS)
    w = weights.numpy()
    assert w.shape == (5, 4) and w.dtype == dtype and context.shape == (4, 6)
    np.testing.assert_allclose(w.sum(axis=0), 1.0, rtol=1e-6)
    for b, n in enumerate(LENGTHS):
        assert (w[n:, b] == 0.0).all()
        assert (w[:n, b] > 0).all()
    np.testing.assert_allclose(context.numpy(), (outputs * w[:, :, None]).sum(0), rtol=1e-5)
    assert w[0, 2] == 1.0  # a one-frame sequence puts all its weight on that frame


def test_no_gradient_reaches_frames_past_a_length(rng):
    attention = AdditiveAttention(6, 3, rng=0)
    outputs = mg.tensor(_outputs(rng), requires_grad=True)
    context, _ = attention(outputs, LENGTHS)
    (context * mg.tensor(rng.standard_normal((4, 6)).astype(np.float32))).sum().backward()
    assert (outputs.grad[~valid_mask(LENGTHS, 5)] == 0).all()
    assert (np.abs(outputs.grad[valid_mask(LENGTHS, 5)]).sum(-1) > 0).all()


def test_attention_gradcheck(rng):
    attention = AdditiveAttention(4, 3, rng=0, dtype=np.float64)
    lengths = np.array([3, 1, 2])

    def pooled(outputs, w, b, v):
        attention.project.weight, attention.project.bias, attention.score.weight = w, b, v
        context, weights = attention(outputs, lengths)
        return context.sum(axis=1) + (weights * weights).sum(axis=0)

    mg.gradcheck(pooled, [rng.standard_normal((3, 3, 4)), rng.standard_normal((3, 4)),
                          rng.standard_normal(3), rng.standard_normal((1, 3))])


def test_attention_matches_torch(rng, compare_with_torch, torch):
    attention = AdditiveAttention(6, 3, rng=0)
    mask = valid_mask(LENGTHS, 5)

    def ours(outputs, w, b, v):
        attention.project.weight, attention.project.bias, attention.score.weight = w, b, v
        return attention(outputs, LENGTHS)[0]

    def theirs(outputs, w, b, v):
        scores = (torch.tanh(outputs @ w.T + b) @ v.T)[..., 0]
        scores = scores.masked_fill(torch.tensor(~mask), float("-inf"))
        return (torch.softmax(scores, dim=0)[..., None] * outputs).sum(0)

    compare_with_torch(ours, theirs, [_outputs(rng), rng.standard_normal((3, 6)),
                                      rng.standard_normal(3), rng.standard_normal((1, 3))])


def test_mean_pool_averages_valid_frames_only(rng):
    outputs = _outputs(rng)
    outputs[~valid_mask(LENGTHS, 5)] = 7.0  # must be ignored
    pooled = mean_pool(mg.tensor(outputs), LENGTHS).numpy()
    for b, n in enumerate(LENGTHS):
        np.testing.assert_allclose(pooled[b], outputs[:n, b].mean(0), rtol=1e-6)
    mg.gradcheck(lambda o: mean_pool(o, LENGTHS), [rng.standard_normal((5, 4, 3))])


def test_last_pool_takes_each_direction_at_its_own_end(rng):
    lstm = LSTM(3, 4, bidirectional=True, rng=0)
    x = rng.standard_normal((5, 4, 3)).astype(np.float32)
    out, (h_n, _) = lstm(mg.tensor(x), lengths=LENGTHS)
    pooled, o = last_pool(h_n, 2).numpy(), out.numpy()
    for b, n in enumerate(LENGTHS):
        np.testing.assert_allclose(pooled[b, :4], o[n - 1, b, :4], rtol=1e-6)
        np.testing.assert_allclose(pooled[b, 4:], o[0, b, 4:], rtol=1e-6)
    uni = LSTM(3, 4, rng=0)
    _, (h_uni, _) = uni(mg.tensor(x), lengths=LENGTHS)
    np.testing.assert_array_equal(last_pool(h_uni, 1).numpy(), h_uni.numpy()[-1])


@pytest.mark.parametrize("lengths, message", [
    (np.array([6, 1, 1, 1]), "1..5"), (np.array([0, 1, 1, 1]), "1..5"),
    (np.array([1, 1]), "2 entries for a batch of 4"), (np.array(3), "non-empty"),
])
def test_bad_lengths_are_named(rng, lengths, message):
    with pytest.raises(ValueError, match=message):
        AdditiveAttention(6, 3, rng=0)(mg.tensor(_outputs(rng)), lengths)
