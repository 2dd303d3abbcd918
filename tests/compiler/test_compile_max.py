"""max's backward inside mg.compile: eager asks the host whether the maximum has a NaN (a host
read, which a compiled program cannot make); compiled, the NaN branch is always taken, which gives
the same gradient (its extra mask is empty where there is no NaN). mLSTM's stabiliser takes a
max, so its `lstm train` step now compiles."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import minigrad as mg
from lstm.models import build_model
from lstm.runs.config import TrainConfig
from lstm.runs.train import Trainer


def _step(w):
    def step(x):
        w.grad = None
        loss = ((x @ w).max(axis=1) * mg.tensor(np.arange(1.0, 5.0))).sum()
        loss.backward()
        return loss

    return step


@pytest.mark.parametrize("nan", [False, True])
def test_max_backward_compiled_equals_eager(nan):
    r = np.random.default_rng(0)
    data = r.standard_normal((3, 6))
    data[:, 2] = data[:, 1]  # ties: the gradient is shared
    w_eager, w_comp = (mg.tensor(data.copy(), requires_grad=True) for _ in range(2))
    eager, compiled = _step(w_eager), mg.compile(_step(w_comp))
    for k in range(3):
        x = r.standard_normal((4, 3))
        x[:, 0] = 0.0
        x[0, 0] = 1.0
        if nan and k:
            x[1, 0] = np.nan  # a NaN maximum in row 1 from the second call on
        le, lc = eager(mg.tensor(x)), compiled(mg.tensor(x))
        np.testing.assert_allclose(lc.numpy(), le.numpy(), rtol=0, atol=1e-12, equal_nan=True)
        np.testing.assert_allclose(w_comp.grad, w_eager.grad, rtol=0, atol=1e-12,
                                   equal_nan=True)
    assert compiled.cache_info().traces == 1


def test_mlstm_training_step_compiles_and_equals_eager():
    small = {"model": "mlstm", "seq_len": 6, "hidden_size": 4, "batch_size": 4, "steps": 3,
             "eval_every": 3, "test_size": 8, "optimizer": "adam", "lr": 1e-2}
    runs = []
    for compile_ in (False, True):
        trainer = Trainer(TrainConfig(compile=compile_, **small),
                          functools.partial(build_model, dtype=np.float64))
        losses = [trainer.train_step() for _ in range(3)]
        runs.append((losses, trainer))
    (eager_losses, eager), (comp_losses, comp) = runs
    assert isinstance(comp._step, mg.CompiledFunction)  # not fallen back to eager
    np.testing.assert_allclose(comp_losses, eager_losses, rtol=1e-10, atol=1e-12)
    for (name, a), (_, b) in zip(eager.model.state_dict().items(),
                                 comp.model.state_dict().items()):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-10, atol=1e-12,
                                   err_msg=name)
