"""mg.nn.functional: layer_norm, normalize and scaled_dot_product_attention against torch
(values and gradients), float64 gradcheck, masks."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

F = mg.nn.functional


def test_layer_norm_matches_torch(rng, compare_with_torch, torch):
    x, w, b = rng.standard_normal((3, 4, 5)), rng.standard_normal(5), rng.standard_normal(5)
    compare_with_torch(lambda x, w, b: F.layer_norm(x, 5, w, b),
                       lambda x, w, b: torch.nn.functional.layer_norm(x, (5,), w, b),
                       [x, w, b], rtol=1e-4, atol=1e-5)
    assert mg.gradcheck(lambda x: F.layer_norm(x, (4, 5)), [x])


def test_normalize_matches_torch(rng, compare_with_torch, torch):
    compare_with_torch(lambda x: F.normalize(x), lambda x: torch.nn.functional.normalize(x),
                       [rng.standard_normal((3, 4))], rtol=1e-5, atol=1e-6)
    zero = mg.tensor(np.zeros((2, 3)))
    assert np.all(F.normalize(zero, axis=-1).numpy() == 0)


@pytest.mark.parametrize("mask", ["none", "bool", "float", "causal"])
def test_attention_matches_torch(mask, rng, compare_with_torch, torch):
    q, k, v = (rng.standard_normal((2, 3, 4, 8)), rng.standard_normal((2, 3, 6, 8)),
               rng.standard_normal((2, 3, 6, 5)))
    bool_mask = rng.random((4, 6)) < 0.7
    bool_mask[:, 0] = True  # every query attends somewhere
    masks = {"none": None, "bool": bool_mask,
             "float": rng.standard_normal((4, 6)).astype(np.float32),
             "causal": None}
    m = masks[mask]
    causal = mask == "causal"
    compare_with_torch(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal),
        lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=None if m is None else torch.tensor(m), is_causal=causal),
        [q, k, v], rtol=1e-4, atol=1e-5)


def test_attention_gradcheck_and_errors(rng):
    q, k, v = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    assert mg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), [q, k, v])
    with pytest.raises(ValueError, match="scaled_dot_product_attention: query"):
        F.scaled_dot_product_attention(mg.ones(3, 4), mg.ones(5, 3), mg.ones(5, 2))
    with pytest.raises(ValueError, match="layer_norm: normalized_shape"):
        F.layer_norm(mg.ones(3, 4), 3)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_attention_fully_masked_row_is_zero_with_finite_gradients(kind, rng, torch):
    q, k, v = (rng.standard_normal((2, 4, 8)), rng.standard_normal((2, 6, 8)),
               rng.standard_normal((2, 6, 5)))
    keep = rng.random((4, 6)) < 0.7
    keep[:, 0] = True
    keep[2] = False  # query 2 attends nowhere (padding)
    mask = keep if kind == "bool" else np.where(keep, 0.0, -np.inf)
    ours = [mg.tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ours, attn_mask=mask)
    expected = torch.nn.functional.scaled_dot_product_attention(*theirs,
                                                                attn_mask=torch.tensor(mask))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert np.all(out.numpy()[:, 2] == 0)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for a, b in zip(ours, theirs):
        assert np.all(np.isfinite(a.grad))
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_attention_refuses_causal_with_a_mask(torch):
    q = torch.ones(2, 3)
    with pytest.raises(RuntimeError, match="attn_mask"):
        torch.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=torch.ones(
            2, 2, dtype=torch.bool), is_causal=True)
    with pytest.raises(ValueError, match="give attn_mask or is_causal=True, not both"):
        F.scaled_dot_product_attention(mg.ones(2, 3), mg.ones(2, 3), mg.ones(2, 3),
                                       attn_mask=np.ones((2, 2), bool), is_causal=True)
