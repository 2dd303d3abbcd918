"""The character model's training step (bench.charlm_speed's minigrad-compile) under mg.compile
equals lstm charlm's eager step (float64, 1e-10), with the carried state across chunks."""

from __future__ import annotations

import numpy as np

import minigrad as mg
from bench.charlm_speed import compiled_train_step
from lstm.apps.charlm.model import CharLM, detach_state

V, E, H, L, T, B = 11, 4, 6, 2, 5, 3


def _model():
    model = CharLM(V, E, H, L, rng=0, dtype=np.float64)
    return model, mg.optim.Adam(model.parameters(), lr=1e-2)


def test_charlm_step_compiled_equals_eager():
    rng = np.random.default_rng(0)
    chunks = [(rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))) for _ in range(4)]
    eager_model, eager_opt = _model()
    model, opt = _model()

    train = compiled_train_step(model, opt, clip=0.5)

    state = None
    h, c = mg.zeros((L, B, H), dtype=np.float64), mg.zeros((L, B, H), dtype=np.float64)
    for k, (ids, targets) in enumerate(chunks):
        logits, state = eager_model(ids, state)
        expected = mg.cross_entropy(logits, targets)
        eager_opt.zero_grad()
        expected.backward()
        mg.optim.clip_grad_norm_(eager_opt.params, 0.5)
        eager_opt.step()
        state = detach_state(state)
        loss, h, c = train(mg.tensor(ids), mg.tensor(targets), h, c)
        np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(h.numpy(), state[0].numpy(), rtol=0, atol=1e-10)
        for a, b in zip(eager_model.parameters(), model.parameters()):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-10,
                                       err_msg=f"call {k}")
    assert train.cache_info().traces == 1
