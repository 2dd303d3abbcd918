"""The sequence classifier of lstm classify on CUDA equals the CPU one, forward and backward,
for every pooling: masked attention, last states and the masked mean over a padded batch."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.backends import get

pytest.importorskip("lstm")
pytestmark = pytest.mark.cuda
LENGTHS = np.array([4, 2, 3])


def run(pooling: str, device: str):
    from lstm.apps.classify.model import SequenceClassifier

    model = SequenceClassifier(3, 4, 5, pooling=pooling, attention_size=3, rng=0)
    model.to(device)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 3)).astype(np.float32)
    x[np.arange(4)[:, None] >= LENGTHS[None, :]] = 0.0
    logits, weights = model(mg.tensor(x, device=device), LENGTHS)
    loss = mg.cross_entropy(logits, np.array([0, 3, 4]))
    loss.backward()
    be = get(device)
    grads = {name: be.to_host(p.grad) for name, p in model.named_parameters()}
    return logits.numpy(), None if weights is None else weights.numpy(), grads


@pytest.mark.parametrize("pooling", ["attention", "last", "mean"])
def test_classifier_on_cuda_equals_cpu(pooling):
    cpu, gpu = run(pooling, "cpu"), run(pooling, "cuda")
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=1e-5, atol=1e-6)
    if pooling == "attention":
        np.testing.assert_allclose(gpu[1], cpu[1], rtol=1e-5, atol=1e-7)
        assert (gpu[1][np.arange(4)[:, None] >= LENGTHS[None, :]] == 0).all()
    assert set(gpu[2]) == set(cpu[2])
    for name in cpu[2]:
        np.testing.assert_allclose(gpu[2][name], cpu[2][name], rtol=1e-4, atol=1e-6,
                                   err_msg=name)
