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


def test_greedy_matches_torch():
    from lstm.apps.translate.decode import greedy

    rng = np.random.default_rng(1)
    model = Seq2Seq(20, 12, 8, 16, "multiplicative", rng=3, dtype=np.float64)
    reference = translate_torch.from_minigrad(model, torch.float64)
    src, lengths = pad_batch([list(rng.integers(4, 20, size=n)) for n in (5, 3, 6, 2)])
    np.testing.assert_array_equal(greedy(model, src, lengths, 8)[0],
                                  translate_torch.greedy(reference, src, lengths, 8))
