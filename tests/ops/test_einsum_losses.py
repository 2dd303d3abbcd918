"""einsum/outer/batched matmul, the losses with reduction=, creation: values against numpy and
torch, float64 gradcheck with a random upstream, errors naming the op."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

EINSUM = {"ij,jk->ik": [(3, 4), (4, 5)], "bij,bjk->bik": [(2, 3, 4), (2, 4, 5)],
          "i,i->": [(4,), (4,)], "ij->ji": [(3, 4)], "ii->i": [(3, 3)], "ij,kj->ik": [(3, 4),
                                                                                    (5, 4)],
          "bhqd,bhkd->bhqk": [(2, 2, 3, 4), (2, 2, 5, 4)], "ij,j,k->ik": [(3, 4), (4,), (2,)],
          "ij->": [(3, 4)], "ij,jk": [(2, 3), (3, 2)]}


@pytest.mark.parametrize("subscripts", sorted(EINSUM))
def test_einsum_matches_numpy_and_gradchecks(subscripts, rng):
    arrays = [rng.standard_normal(s) for s in EINSUM[subscripts]]
    out = mg.einsum(subscripts, *[mg.tensor(a, dtype=np.float64) for a in arrays])
    np.testing.assert_allclose(out.numpy(), np.einsum(subscripts, *arrays), rtol=1e-12,
                               atol=1e-12)
    assert mg.gradcheck(lambda *ts: mg.einsum(subscripts, *ts), arrays)


def test_batched_matmul_broadcasts_and_outer(rng, compare_with_torch):
    compare_with_torch(lambda a, b: a @ b, lambda a, b: a @ b,
                       [rng.standard_normal((2, 1, 3, 4)), rng.standard_normal((5, 4, 2))],
                       rtol=1e-5, atol=1e-5)
    assert mg.gradcheck(mg.outer, [rng.standard_normal(3), rng.standard_normal(4)])


def test_einsum_errors():
    with pytest.raises(ValueError, match="einsum: ellipsis"):
        mg.einsum("...ij->ij", mg.ones(2, 2))
    with pytest.raises(ValueError, match="einsum: letter 'j' has size 3 and 4"):
        mg.einsum("ij,jk->ik", mg.ones(2, 3), mg.ones(4, 2))
    with pytest.raises(ValueError, match="einsum: operand 0 has 2 dims but 'i' names 1"):
        mg.einsum("i->i", mg.ones(2, 2))


LOGITS = np.random.default_rng(3).standard_normal((4, 5))
TARGETS = np.array([1, 4, -100, 0])
PROBS = np.random.default_rng(4).dirichlet(np.ones(5), 4)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_matches_torch(reduction, smoothing, compare_with_torch, torch):
    F = torch.nn.functional
    compare_with_torch(
        lambda x: mg.cross_entropy(x, TARGETS, reduction=reduction, label_smoothing=smoothing),
        lambda x: F.cross_entropy(x, torch.tensor(TARGETS), reduction=reduction,
                                  label_smoothing=smoothing), [LOGITS], rtol=1e-5, atol=1e-6)
    compare_with_torch(
        lambda x, p: mg.cross_entropy(x, p, reduction=reduction, label_smoothing=smoothing),
        lambda x, p: F.cross_entropy(x, p, reduction=reduction, label_smoothing=smoothing),
        [LOGITS, PROBS], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_elementwise_losses_match_torch(reduction, rng, compare_with_torch, torch):
    F = torch.nn.functional
    p, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    probs, labels = 1 / (1 + np.exp(-p)), (y > 0).astype(np.float64)
    cases = [
        (mg.l1_loss, F.l1_loss, [p, y], {}), (mg.mse_loss, F.mse_loss, [p, y], {}),
        (mg.huber_loss, F.huber_loss, [p, y], {"delta": 0.7}),
        (mg.binary_cross_entropy, F.binary_cross_entropy, [probs, labels], {}),
        (mg.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, [p, labels],
         {}),
    ]
    for ours, theirs, arrays, kw in cases:
        compare_with_torch(lambda *ts, f=ours, kw=kw: f(*ts, reduction=reduction, **kw),
                           lambda *ts, f=theirs, kw=kw: f(*ts, reduction=reduction, **kw), arrays,
                           rtol=1e-5, atol=1e-6)
    weight = np.array([2.0, 0.5, 1.0, 3.0], np.float32)
    compare_with_torch(
        lambda x, t: mg.binary_cross_entropy_with_logits(x, t, reduction, pos_weight=weight),
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction,
                                                        pos_weight=torch.tensor(weight)),
        [p, labels], rtol=1e-5, atol=1e-6)


def test_nll_loss_matches_torch_and_gradchecks(compare_with_torch, torch):
    F = torch.nn.functional
    lp = np.log(PROBS)
    for reduction in ("mean", "sum", "none"):
        compare_with_torch(lambda x, r=reduction: mg.nll_loss(x, TARGETS, reduction=r),
                           lambda x, r=reduction: F.nll_loss(x, torch.tensor(TARGETS), reduction=r),
                           [lp], rtol=1e-5, atol=1e-6)
    assert mg.gradcheck(lambda x: mg.cross_entropy(x, TARGETS, label_smoothing=0.1), [LOGITS])


def test_loss_errors():
    with pytest.raises(ValueError, match="l1_loss: reduction must be 'mean', 'sum' or 'none'"):
        mg.l1_loss(mg.ones(2), mg.ones(2), reduction="max")
    with pytest.raises(ValueError, match=r"huber_loss: prediction has shape \(2,\) but target"):
        mg.huber_loss(mg.ones(2), mg.ones(3))
    with pytest.raises(ValueError, match=r"nll_loss: target 7 is outside \[0, 5\)"):
        mg.nll_loss(mg.tensor(LOGITS), np.array([7, 0, 0, 0]))


def test_creation_with_rng_dtype_and_device():
    assert mg.arange(4).dtype == np.int64 and mg.arange(0, 1, 0.25).tolist() == [0, .25, .5, .75]
    assert mg.arange(0.0, 2.0).dtype == np.float32
    np.testing.assert_allclose(mg.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    assert mg.eye(2, 3, 1).tolist() == [[0, 1, 0], [0, 0, 1]]
    assert mg.full((2,), 7).dtype == np.int64 and mg.full(2, 0.5).tolist() == [0.5, 0.5]
    t = mg.ones(2, 3, dtype=np.float64)
    assert mg.zeros_like(t).dtype == np.float64 and mg.ones_like(t).shape == (2, 3)
    assert mg.full_like(t, 2.0).tolist() == [[2.0] * 3] * 2
    a, b = mg.rand(2, 3, rng=5), mg.rand(2, 3, rng=5)
    assert np.array_equal(a.numpy(), b.numpy()) and 0 <= a.numpy().min() < 1
    r = mg.randint(3, 7, (100,), rng=0).numpy()
    assert r.dtype == np.int64 and r.min() >= 3 and r.max() < 7
    assert mg.randn_like(t, rng=1).dtype == np.float64
    assert mg.rand(2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="randint: high"):
        mg.randint(3, 3)
    with pytest.raises(ValueError, match="arange: step must not be 0"):
        mg.arange(0, 3, 0)


def test_binary_cross_entropy_is_finite_at_zero_and_one(torch):
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.3], np.float32)
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.5], np.float32)
    t = mg.tensor(p, requires_grad=True)
    loss = mg.binary_cross_entropy(t, y, reduction="sum")
    loss.backward()
    tt = torch.tensor(p, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy(tt, torch.tensor(y), reduction="sum")
    expected.backward()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-6)
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-6)
    assert mg.gradcheck(lambda q, z: mg.binary_cross_entropy(q, z, reduction="none"),
                        [np.array([0.2, 0.7]), np.array([0.3, 0.9])])
