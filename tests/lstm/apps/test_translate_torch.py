"""The minigrad Seq2Seq equals bench/translate_torch.py's torch model with the same weights."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from lstm.apps.translate.data import pad_batch
from lstm.apps.translate.model import ATTENTIONS, Seq2Seq

torch = pytest.importorskip("torch")
translate_torch = pytest.importorskip("bench.translate_torch")


@pytest.mark.parametrize("kind", ATTENTIONS)
def test_forward_and_gradients_match_torch_float64(kind):
    rng = np.random.default_rng(0)
    model = Seq2Seq(20, 15, 8, 12, kind, attention_size=10, rng=1, dtype=np.float64)
    reference = translate_torch.from_minigrad(model, torch.float64)
    src, lengths = pad_batch([list(rng.integers(4, 20, size=n)) for n in (5, 3, 7, 1)])
    target_in = rng.integers(1, 15, size=(4, 6))
    target_out = rng.integers(0, 15, size=(4, 6))
    logits, weights = model(src, lengths, target_in)
    ref_logits, ref_weights = reference(src, lengths, target_in)
    np.testing.assert_allclose(logits.numpy(), ref_logits.detach().numpy(), atol=1e-12)
    if kind != "none":
        np.testing.assert_allclose(weights.numpy(), ref_weights.detach().numpy(), atol=1e-12)
    mg.cross_entropy(logits, target_out, ignore_index=0).backward()
    torch.nn.functional.cross_entropy(ref_logits.reshape(-1, 15),
                                      torch.as_tensor(target_out).reshape(-1),
                                      ignore_index=0).backward()
    grads = dict(reference.named_parameters())
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(parameter.grad, grads[name].grad.numpy(), atol=1e-10,
                                   err_msg=name)


def _decoding_case(kind):
    """A float64 model with every weight tripled (sharper, source-dependent distributions, so
    some sentences and beams emit </s> early and others run to max_len), its torch copy, and a
    batch of sources."""
    rng = np.random.default_rng(2)
    model = Seq2Seq(20, 12, 8, 16, kind, rng=5, dtype=np.float64)
    model.load_state_dict({k: 3.0 * v for k, v in model.state_dict().items()})
    src, lengths = pad_batch([list(rng.integers(4, 20, size=n)) for n in (5, 3, 6, 2, 7, 1)])
    return model, translate_torch.from_minigrad(model, torch.float64), src, lengths


@pytest.mark.parametrize("kind", ATTENTIONS)
def test_greedy_matches_torch(kind):
    from lstm.apps.translate.data import EOS_ID
    from lstm.apps.translate.decode import greedy

    model, reference, src, lengths = _decoding_case(kind)
    ids = greedy(model, src, lengths, 8)[0]
    np.testing.assert_array_equal(ids, translate_torch.greedy(reference, src, lengths, 8))
    ended = (ids == EOS_ID).any(axis=1)
    assert ended.any() and not ended.all()  # sentences that end and one that runs to max_len


@pytest.mark.parametrize("max_len", [2, 9])  # 2: finished beams next to better live ones
@pytest.mark.parametrize("width", [1, 3, 5])
@pytest.mark.parametrize("kind", ATTENTIONS)
def test_beam_search_matches_torch(kind, width, max_len):
    from lstm.apps.translate.data import EOS_ID
    from lstm.apps.translate.decode import beam_search

    model, reference, src, lengths = _decoding_case(kind)
    ids, score = beam_search(model, src, lengths, width, max_len)
    ref_ids, ref_score = translate_torch.beam_search(reference, src, lengths, width, max_len)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(score, ref_score, rtol=0, atol=1e-10)
    assert (ids == EOS_ID).any(axis=1).any()  # finished beams are compared, not only live ones
    assert np.all(np.isfinite(score)) and np.all(score < 0)
